"""Per-frame ops of the four nodes: detect, align, swap, merge.

Each takes its plate either inline (``image`` array, the plate's colourspace) or as a ``path``
the engine reads itself (the fast path for large EXR plates). Each op is decode (the request
→ a stage-input dataclass; values the declaration cannot check answer ``bad_params`` here) →
stage (calls ``faceplate.extract``, ``faceplate.model``, ``faceplate.convert``: no pixel logic
lives here) → reply. ``align`` and ``merge`` are isolated: their stage runs in a worker process
that is replaced if the request overruns; ``detect`` and ``swap`` run on the device worker,
which owns the loaded models.

Positions in requests and replies (landmarks, boxes, matrices) are frame pixels, as
``alignments.json`` has them: origin the top-left of the plate's display window (Nuke's
format), y down. A plate EXR may store another window (overscan, a cropped render: Nuke's
Write stores the bbox); the stages work on the pixels it stores, so each op moves positions
between the two with the plate's :class:`~faceplate.io.images.Geometry`, and does nothing
else to them. An inline image is its own frame.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from faceplate_client.layout import EXR_COMPRESSIONS, FACE_TYPES
from faceplate_client.protocol import BAD_PARAMS, EngineError

from ...errors import FaceplateError
from ...face.align import MAX_SIZE, MIN_SIZE
from ..context import EngineContext
from ..ops import ArraySpec, Param, Result, operation, settings_from_params, settings_params
from ..workers import shared_array

if TYPE_CHECKING:  # the stage's module loads when the op runs
    from ...convert.settings import MergeSettings

_FLOATS = ("float32", "float64")
MIN_PLATE = 16  # pixels a side: smaller plates hold no face and stall OpenCV's warps
MAX_FACES = 256  # faces in one frame
_IMAGE = ArraySpec("image", ("float32", "float16"), (None, None, (1, 2, 3, 4)), required=False,
                   help="the plate frame, H×W×C in the plate's colourspace",
                   min_shape=(MIN_PLATE, MIN_PLATE, 1))
_PLATE_PARAMS = (
    Param("path", str, None, help="plate frame the engine reads (instead of the image array)",
          path=True),
    Param("channels", list, None, help="channel names of the image array (default Y, YA, "
                                       "RGB or RGBA by count)"),
    Param("colourspace", str, "", help="the plate's colourspace (default: by file type)"),
)
_DEFAULT_CHANNELS = {1: ["Y"], 2: ["Y", "A"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}


def _bad(message: str) -> EngineError:
    return EngineError(BAD_PARAMS, message)


@dataclass
class PlateInput:
    """A plate frame as a request gives it: a file to read, or inline pixels."""

    path: str | None
    pixels: np.ndarray | None  # H×W×C, float16 or float32
    channels: list[str]
    colourspace: str

    def image(self):
        """The plate as an :class:`~faceplate.io.images.Image` (read now for a path)."""
        from ...io.images import Image, read_image

        if self.path is not None:
            return read_image(self.path)
        assert self.pixels is not None
        return Image(np.asarray(self.pixels, np.float32), list(self.channels), {},
                     "<inline image>")  # stages never write to it

    def colour(self):
        from ...io.colour import default_space_for

        return _colour_spaces(self.colourspace or default_space_for(self.path or "inline.exr"))

    def network_rgb(self, image) -> np.ndarray:
        rgb = np.nan_to_num(image.rgb(), nan=0.0, posinf=0.0, neginf=0.0)
        return np.clip(self.colour().to_network(rgb), 0.0, 1.0).astype(np.float32)


def _decode_plate(req) -> PlateInput | None:
    """The request's plate, or None when it gives neither ``path`` nor ``image``."""
    p, pixels = req.params, req.arrays.get("image")
    if pixels is None:
        return None if p["path"] is None else PlateInput(p["path"], None, [], p["colourspace"])
    names = p["channels"] or _DEFAULT_CHANNELS[pixels.shape[2]]
    if len(names) != pixels.shape[2] or not all(isinstance(n, str) and n for n in names):
        raise _bad(f"channels: {len(names)} names for an image of {pixels.shape[2]} channels")
    return PlateInput(None, pixels, list(names), p["colourspace"])


@functools.lru_cache(maxsize=16)
def _colour_spaces(space: str):
    from ...io.colour import ColourSpaces

    return ColourSpaces(space)


def backend_for(engine, name: str):
    """The started detection backend ``name``, kept by the engine (FAN or dlib take seconds
    to load; every later detect and extract_shot reuses them)."""
    from ...extract.backends import get_backend

    return engine.resource(("backend", name), lambda: get_backend(name, engine.device))


def verifier_for(engine):
    """dlib's CNN detector, which verifies doubtful faces (started once per engine)."""
    from ...extract.backends.dlib_backend import DlibCnnDetector

    return engine.resource(("backend", "dlib-cnn"), DlibCnnDetector)


def describer_for(engine):
    from ...extract.track import Describer

    return engine.resource(("describer",), Describer)


# --- detect --------------------------------------------------------------------------------

@dataclass
class DetectInput:
    plate: PlateInput
    backend: str
    verify: bool
    engine: EngineContext  # the backends are the engine's (loaded once, on its device)


def _decode_detect(req) -> DetectInput:
    plate = _decode_plate(req)
    assert plate is not None  # one_of: image or path
    return DetectInput(plate, req.params["backend"], req.params["verify"], req.engine)


@operation("detect", "Find faces and their 68 landmarks in one plate frame, each with its "
                     "confidence and face descriptor, and the frame's cut signature (what "
                     "the track_faces op needs, so it runs without pixels). Boxes and "
                     "landmarks are frame pixels (from the display window's top-left, y "
                     "down) and size is the frame's (the display window's), whatever data "
                     "window the plate stores.",
           params=_PLATE_PARAMS + (
               Param("backend", str, "auto", "fan (studio default), dlib, or auto",
                     ("auto", "fan", "dlib")),
               Param("verify", bool, True, "verify doubtful faces with the CNN detector")),
           arrays=(_IMAGE,), one_of=(("image", "path"),), lane="device", timeout_s=120.0,
           decode=_decode_detect)
def detect(inp: DetectInput) -> Result:
    from ...extract.confidence import Judge
    from ...extract.cuts import scale_for, signature
    from ...extract.frame import NetworkFrame

    image = inp.plate.image()
    backend = backend_for(inp.engine, inp.backend)
    frame = NetworkFrame(inp.plate.network_rgb(image))
    found = backend.detect(frame)
    judge = Judge(verifier_for(inp.engine) if inp.verify else None)
    describer = describer_for(inp.engine)
    geometry = image.frame  # the stages saw the stored pixels; the reply speaks the frame
    points = [np.asarray(geometry.to_frame(points=np.asarray(d.landmarks, np.float64)))
              for d in found]
    boxes = [geometry.to_frame(points=np.reshape(np.asarray(d.bbox, np.float64), (2, 2)))
             for d in found]
    landmarks = np.array(points, np.float32).reshape(-1, 68, 2)
    return Result({"backend": backend.name, "size": list(geometry.frame_size),
                   "signature": signature(frame.downscaled(scale_for(frame.shape))),
                   "faces": [{"bbox": [float(v) for v in np.ravel(box)], "score": float(d.score),
                              "landmarks": p.tolist(),
                              "confidence": round(judge.rate_alone(frame, d), 4),
                              "descriptor": [round(float(v), 6) for v in
                                             describer.describe(frame, d.landmarks)]}
                             for d, p, box in zip(found, points, boxes)]},
                  {"landmarks": landmarks})


# --- align ---------------------------------------------------------------------------------

@dataclass
class AlignInput:
    landmarks: np.ndarray  # N×68×2 frame pixels, N ≥ 1
    face_type: str
    size: int  # crop size, 0 for matrices only
    plate: PlateInput | None  # crops are cut from it when given with a size


def _decode_align(req) -> AlignInput:
    landmarks, size = req.arrays["landmarks"], req.params["size"]
    if not len(landmarks):
        raise _bad("align needs the landmarks of at least one face (got 0)")
    if size and not MIN_SIZE <= size <= MAX_SIZE:
        raise _bad(f"size must be 0 (matrices only) or {MIN_SIZE} to {MAX_SIZE} pixels, "
                   f"got {size}")
    return AlignInput(landmarks, req.params["face_type"], size, _decode_plate(req))


@operation("align", "Alignment matrices (frame pixels → unit crop) for given landmarks "
                    "(frame pixels, as detect gives them), and the aligned crops when a "
                    "plate and a size are given.",
           params=_PLATE_PARAMS + (
               Param("face_type", str, "whole_face", "how much of the head the crop holds",
                     FACE_TYPES),
               Param("size", int, 0, f"crop size in pixels, {MIN_SIZE}–{MAX_SIZE} (0: "
                     "matrices only)", min=0, max=MAX_SIZE)),
           arrays=(ArraySpec("landmarks", _FLOATS, ("N", 68, 2), help="68 points a face",
                             max_shape=(MAX_FACES, None, None), finite=True),
                   _IMAGE),
           lane="pool", timeout_s=60.0, decode=_decode_align, isolated=True)
def align(inp: AlignInput) -> Result:
    from ...face.align import alignment_matrix
    from ...face.crop import aligned_crop, model_input

    matrices = np.stack([alignment_matrix(points, inp.face_type) for points in inp.landmarks])
    arrays = {"matrices": matrices}
    if inp.size and inp.plate is not None:
        image = inp.plate.image()
        rgb, to_network = image.rgb(), inp.plate.colour().to_network
        crops = shared_array((len(matrices), inp.size, inp.size, 3), np.float32)
        for crop, m in zip(crops, matrices):  # what swap gives the model (convert's crop)
            crop[...] = model_input(aligned_crop(rgb, image.frame.to_array(m), inp.size,
                                                 to_network))
        arrays["crops"] = crops
    return Result({"face_type": inp.face_type, "matrices": matrices.tolist()}, arrays)


# --- swap ----------------------------------------------------------------------------------

@dataclass
class SwapInput:
    model: str
    identity: str
    crops: np.ndarray | None  # N×S×S×3 network space, or:
    plate: PlateInput | None  # a plate frame with each face's matrix and landmarks
    matrices: np.ndarray | None
    landmarks: np.ndarray | None
    engine: EngineContext  # the model cache and device are the engine's


def _decode_swap(req) -> SwapInput:
    a = req.arrays
    crops = a.get("crops")
    if crops is None and ("matrices" not in a or "landmarks" not in a):
        raise _bad("swap on a plate needs each face's matrices and landmarks (from align or "
                   "the alignments file)")
    faces = crops if crops is not None else a["matrices"]
    if not len(faces):
        raise _bad("swap needs at least one face (got 0)")
    return SwapInput(req.params["model"], req.params["identity"], crops, _decode_plate(req),
                     a.get("matrices"), a.get("landmarks"), req.engine)


def _swap_key(req):
    crops = req.input.crops
    if crops is None:
        return None
    return os.path.realpath(req.input.model), req.input.identity, crops.shape[1:]


def _check_identity(card, identity: str) -> None:
    if identity not in card.identities:
        raise FaceplateError(f"the model has no identity {identity!r}; it has "
                             f"{', '.join(card.identities)}")


def swap_batch(requests: list) -> list:
    """Requests for the same model, identity and crop size share one network pass."""
    first: SwapInput = requests[0].input
    crops = np.concatenate([r.input.crops for r in requests])
    with first.engine.models.use(first.model, first.engine.device) as model:
        _check_identity(model.card, first.identity)
        faces, masks = model.swap(crops, first.identity)
    results, start = [], 0
    for r in requests:
        n = len(r.input.crops)
        results.append(Result({"faces": n, "batched_with": len(requests)},
                              {"faces": faces[start:start + n], "masks": masks[start:start + n]}))
        start += n
    return results


@operation("swap", "Swap faces through a model's decoder for ``identity``: aligned crops "
                   "(network space) inline, or a plate frame plus each face's matrix and "
                   "landmarks (frame pixels, as align gives them).",
           params=_PLATE_PARAMS + (
               Param("model", str, help="model folder", path=True),
               Param("identity", str, help="the identity to swap in")),
           arrays=(ArraySpec("crops", ("float32",), ("N", "S", "S", 3), required=False,
                             help="aligned crops, network space 0–1, at the model's size",
                             max_shape=(MAX_FACES, None, None, None), finite=True),
                   _IMAGE,
                   ArraySpec("matrices", _FLOATS, ("N", 2, 3), required=False,
                             max_shape=(MAX_FACES, None, None), finite=True),
                   ArraySpec("landmarks", _FLOATS, ("N", 68, 2), required=False,
                             max_shape=(MAX_FACES, None, None), finite=True)),
           one_of=(("crops", "image", "path"),), lane="device", timeout_s=300.0,
           batch_key=_swap_key, batch=swap_batch, decode=_decode_swap)
def swap(inp: SwapInput) -> Result:
    if inp.crops is not None:
        return _swap_crops_alone(inp)
    from ...convert.pipeline import FacePlacement, swap_frame

    assert inp.plate is not None and inp.matrices is not None and inp.landmarks is not None
    image = inp.plate.image()
    faces = [image.frame.place(FacePlacement(np.asarray(m, np.float64),
                                             np.asarray(p, np.float64)))
             for m, p in zip(inp.matrices, inp.landmarks)]
    with inp.engine.models.use(inp.model, inp.engine.device) as model:
        _check_identity(model.card, inp.identity)
        swapped = swap_frame(image.rgb(), faces, model, inp.identity, inp.plate.colour())
    return Result({"faces": len(swapped)},
                  {"faces": np.stack([s.face for s in swapped]),
                   "masks": np.stack([s.learned for s in swapped])})


def _swap_crops_alone(inp: SwapInput) -> Result:
    class _One:  # swap_batch's view of a request
        input = inp
    return swap_batch([_One()])[0]


# --- merge ---------------------------------------------------------------------------------

def _merge_params() -> tuple[Param, ...]:
    from ...convert.settings import MergeSettings

    return settings_params(MergeSettings, paths=("mask_image", "occlusion_matte"))


MERGE_SETTINGS = _merge_params()


@dataclass
class MergeInput:
    plate: PlateInput
    model: str  # folder whose card goes into the provenance
    identity: str
    frame: int
    output: str  # an EXR to write, or "" to answer with the pixels
    compression: str
    settings: MergeSettings
    matte: np.ndarray | None  # inline H×W matte for the image mask sources
    faces: np.ndarray
    masks: np.ndarray
    matrices: np.ndarray
    landmarks: np.ndarray
    detections: np.ndarray  # N: extraction's confidence per face, NaN when unknown
    before: np.ndarray  # N×2×3: each face's track's matrix on the previous frame, NaN: none
    after: np.ndarray  # N×2×3: on the next frame


def _decode_merge(req) -> MergeInput:
    from ...convert.render import matte_sequence
    from ...convert.settings import MergeSettings, SettingsError

    p, a = req.params, req.arrays
    matte = a.get("matte")
    inline = p["mask"].startswith("image") and matte is not None and not p["mask_image"]
    try:
        settings = settings_from_params(MergeSettings, p, **(
            {"mask_image": "<inline matte>"} if inline else {}))
        if matte is None:  # the matte rule (convert.render): a matte source has its matte
            matte_sequence(settings)
    except (SettingsError, FaceplateError) as exc:
        raise _bad(str(exc)) from None
    plate = _decode_plate(req)
    assert plate is not None  # one_of: image or path
    if matte is not None and plate.pixels is not None \
            and matte.shape != plate.pixels.shape[:2]:
        raise _bad(f"matte is {matte.shape[1]}×{matte.shape[0]} but the image is "
                   f"{plate.pixels.shape[1]}×{plate.pixels.shape[0]}")
    if len(a["faces"]) and a["faces"].shape[1] < MIN_PLATE:
        raise _bad(f"faces of {a['faces'].shape[1]} px are too small (at least {MIN_PLATE})")
    if p["output"] and not p["output"].lower().endswith(".exr"):
        raise _bad(f"output {p['output']!r} must be an .exr file (it holds the facemask "
                   "layer)")
    return MergeInput(plate, p["model"], p["identity"], p["frame"], p["output"],
                      p["compression"], settings, matte, a["faces"], a["masks"],
                      a["matrices"], a["landmarks"],
                      a.get("confidences", np.full(len(a["faces"]), np.nan)),
                      *(a.get(k, np.full((len(a["faces"]), 2, 3), np.nan))
                        for k in ("before", "after")))


@operation("merge", "Blend swapped faces (matrices and landmarks in frame pixels) into a "
                    "plate frame; returns the merged colour (the plate's channels: RGB, RGBA "
                    "when it has an alpha) and the other layers (facemask, faceregion, "
                    "faceraw, facest) over the pixels the plate stores (its data window: "
                    "data_window and display_window in the reply, [x, y, width, height], "
                    "place them in the frame), or writes them with provenance and "
                    "confidence to ``output`` (EXR, with the plate's windows).",
           params=_PLATE_PARAMS + (
               Param("model", str, help="model folder the faces came from (provenance)",
                     path=True),
               Param("identity", str, help="the identity swapped in (provenance)"),
               Param("frame", int, 0, "frame number (provenance)", min=-10**9, max=10**9),
               Param("output", str, "", "write the merged frame here (atomically)", path=True),
               Param("compression", str, "plate", "EXR compression of output: plate (the "
                     "plate's own where lossless, else zip: what convert writes), none writes "
                     "fastest (for caches)", EXR_COMPRESSIONS)) +
           MERGE_SETTINGS,
           arrays=(_IMAGE,
                   # Not checked finite here: a NaN swap fails its frame as convert fails it.
                   ArraySpec("faces", _FLOATS, ("N", "S", "S", 3), help="from swap",
                             max_shape=(MAX_FACES, MAX_SIZE, MAX_SIZE, None)),
                   ArraySpec("masks", _FLOATS, ("N", "S", "S"), help="from swap"),
                   ArraySpec("matrices", _FLOATS, ("N", 2, 3), finite=True),
                   ArraySpec("landmarks", _FLOATS, ("N", 68, 2), finite=True),
                   ArraySpec("confidences", _FLOATS, ("N",), required=False,
                             help="each face's detection confidence from align (NaN: "
                                  "unknown); part of faceplate/confidence"),
                   ArraySpec("before", _FLOATS, ("N", 2, 3), required=False,
                             help="each face's track's matrix on the previous frame (frame "
                                  "pixels; NaN: none, e.g. across a cut): its motion blur "
                                  "and vectors"),
                   ArraySpec("after", _FLOATS, ("N", 2, 3), required=False,
                             help="the same on the next frame"),
                   ArraySpec("matte", ("float32",), (None, None), required=False,
                             help="plate-sized matte for the image mask sources (the "
                                  "artist's) or the occlusion source (the occluders), over "
                                  "the pixels the plate stores (its data window)")),
           one_of=(("image", "path"),), lane="pool", timeout_s=300.0, decode=_decode_merge,
           isolated=True)
def merge(inp: MergeInput) -> Result:
    from ...convert.merge import SwappedFace
    from ...convert.motion import FaceMotion
    from ...convert.render import (
        FAILED,
        FrameRenderer,
        matte_path,
        matte_sequence,
        read_frame_matte,
    )
    from ...convert.writer import LAYER_CHANNELS, plate_pixel_type, write_merged
    from ...model.card import ModelCard
    from ...model.store import CARD

    card = ModelCard.load(os.path.join(inp.model, CARD))
    _check_identity(card, inp.identity)
    image = inp.plate.image()
    matte, path = inp.matte, ""
    if matte is None:  # the matte rule: faceplate.convert.render, as convert reads it
        path = matte_path(matte_sequence(inp.settings), inp.frame)
        matte = read_frame_matte(inp.settings, path, image.frame) if path else None
    elif matte.shape != (image.height, image.width):
        raise _bad(f"matte is {matte.shape[1]}×{matte.shape[0]} but the plate is "
                   f"{image.width}×{image.height}")
    def neighbour(matrix: np.ndarray) -> np.ndarray | None:
        return image.frame.to_array(np.asarray(matrix, np.float64)) \
            if np.isfinite(matrix).all() else None

    swaps = [image.frame.place(SwappedFace(np.asarray(f, np.float32), np.asarray(m, np.float32),
                                           np.asarray(x, np.float64), np.asarray(lm, np.float64),
                                           float(c) if np.isfinite(c) else None,
                                           motion=FaceMotion(neighbour(b), neighbour(n))))
             for f, m, x, lm, c, b, n in zip(inp.faces, inp.masks, inp.matrices,
                                             inp.landmarks, inp.detections, inp.before,
                                             inp.after)]
    source = inp.plate.path or ""
    pixel_type = plate_pixel_type(source) if source else "half"
    renderer = FrameRenderer(card, inp.identity, inp.settings, inp.plate.colour())
    done = renderer.render(
        image, swaps, frame=inp.frame, job=renderer.job(swaps, source, path), source=source,
        matte=matte, write=(lambda merged, metadata: write_merged(
            inp.output, merged, metadata, pixel_type, compression=inp.compression,
            plate=source)) if inp.output else None)
    if done.status == FAILED:  # as convert fails the frame: nothing written, the reason
        raise FaceplateError(done.message)
    reply = {"status": done.status, "message": done.message, "metadata": dict(done.metadata)}
    if inp.output:
        return Result({"output": done.path, **reply})
    merged = done.merged
    assert merged is not None
    # The plate's colour channels (A only when it has one) over its stored pixels, as a file
    # of the frame stores them; the windows say where they sit in the frame.
    rgba = shared_array(merged.colour.shape, np.float32)
    layers = shared_array(merged.colour.shape[:2] + (len(LAYER_CHANNELS),), np.float32)
    rgba[...] = merged.colour
    layers[...] = 0.0
    layers[merged.layers.extent.slices] = merged.layers.data
    return Result({"channels": merged.channels, **reply,
                   "data_window": list(image.frame.data),
                   "display_window": list(image.frame.display)},
                  {"rgba": rgba, "layers": layers})


