"""Per-frame ops of the four nodes: detect, align, swap, merge.

Each takes its plate either inline (``image`` array, the plate's colourspace) or as a ``path``
the engine reads itself (the fast path for large EXR plates), and calls the stage functions
(``faceplate.extract``, ``faceplate.model``, ``faceplate.convert``): no pixel logic lives here.
"""

from __future__ import annotations

import functools
import os

import numpy as np
from faceplate_client.layout import FACE_TYPES

from ...errors import FaceplateError
from ..ops import ArraySpec, Param, Result, operation

_FLOATS = ("float32", "float64")
_IMAGE = ArraySpec("image", ("float32", "float16"), (None, None, (1, 2, 3, 4)), required=False,
                   help="the plate frame, H×W×C in the plate's colourspace")
_PLATE_PARAMS = (
    Param("path", str, None, help="plate frame the engine reads (instead of the image array)"),
    Param("channels", list, None, help="channel names of the image array (default Y, YA, "
                                       "RGB or RGBA by count)"),
    Param("colourspace", str, "", help="the plate's colourspace (default: by file type)"),
)


def _plate(req):
    """The plate frame of a request as an :class:`~faceplate.io.images.Image`."""
    from ...io.images import Image, read_image

    if req.params["path"] is not None:
        return read_image(req.params["path"])
    pixels = np.asarray(req.arrays["image"], np.float32)
    names = req.params["channels"] or {1: ["Y"], 2: ["Y", "A"], 3: ["R", "G", "B"],
                                       4: ["R", "G", "B", "A"]}[pixels.shape[2]]
    if len(names) != pixels.shape[2] or not all(isinstance(n, str) for n in names):
        raise FaceplateError(f"{len(names)} channel names for an image of {pixels.shape[2]} "
                             "channels")
    return Image(pixels, list(names), {}, "<inline image>")  # stages never write to it


@functools.lru_cache(maxsize=16)
def _colour_spaces(space: str):
    from ...io.colour import ColourSpaces

    return ColourSpaces(space)


def _colour(req, image):
    from ...io.colour import default_space_for

    return _colour_spaces(req.params["colourspace"] or default_space_for(
        req.params["path"] or "inline.exr"))


def _network_rgb(req, image) -> np.ndarray:
    rgb = np.nan_to_num(image.rgb(), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(_colour(req, image).to_network(rgb), 0.0, 1.0).astype(np.float32)


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


@operation("detect", "Find faces and their 68 landmarks in one plate frame, each with its "
                     "confidence and face descriptor, and the frame's cut signature (what "
                     "the track_faces op needs, so it runs without pixels).",
           params=_PLATE_PARAMS + (
               Param("backend", str, "auto", "fan (studio default), dlib, or auto",
                     ("auto", "fan", "dlib")),
               Param("verify", bool, True, "verify doubtful faces with the CNN detector")),
           arrays=(_IMAGE,), one_of=(("image", "path"),), lane="device", timeout_s=120.0)
def detect(req) -> Result:
    from ...extract.confidence import Judge
    from ...extract.cuts import scale_for, signature
    from ...extract.frame import NetworkFrame

    image = _plate(req)
    backend = backend_for(req.engine, req.params["backend"])
    frame = NetworkFrame(_network_rgb(req, image))
    found = backend.detect(frame)
    judge = Judge(verifier_for(req.engine) if req.params["verify"] else None)
    describer = describer_for(req.engine)
    landmarks = np.array([d.landmarks for d in found], np.float32).reshape(-1, 68, 2)
    return Result({"backend": backend.name, "size": [image.width, image.height],
                   "signature": signature(frame.downscaled(scale_for(frame.shape))),
                   "faces": [{"bbox": [float(v) for v in d.bbox], "score": float(d.score),
                              "landmarks": np.asarray(d.landmarks, float).tolist(),
                              "confidence": round(judge.rate_alone(frame, d), 4),
                              "descriptor": [round(float(v), 6) for v in
                                             describer.describe(frame, d.landmarks)]}
                             for d in found]},
                  {"landmarks": landmarks})


@operation("align", "Alignment matrices (plate pixels → unit crop) for given landmarks, and "
                    "the aligned crops when a plate and a size are given.",
           params=_PLATE_PARAMS + (
               Param("face_type", str, "whole_face", "how much of the head the crop holds",
                     FACE_TYPES),
               Param("size", int, 0, "crop size in pixels (0: matrices only)")),
           arrays=(ArraySpec("landmarks", _FLOATS, ("N", 68, 2), help="68 points a face"),
                   _IMAGE),
           lane="pool", timeout_s=60.0)
def align(req) -> Result:
    from ...face.align import alignment_matrix, warp_to_crop

    face_type = req.params["face_type"]
    matrices = np.stack([alignment_matrix(points, face_type)
                         for points in req.arrays["landmarks"]])
    arrays = {"matrices": matrices}
    size = req.params["size"]
    if size and (req.params["path"] is not None or "image" in req.arrays):
        rgb = _network_rgb(req, _plate(req))
        arrays["crops"] = np.stack([warp_to_crop(rgb, m, size) for m in matrices])
    return Result({"face_type": face_type, "matrices": matrices.tolist()}, arrays)


def _swap_key(req):
    crops = req.arrays.get("crops")
    if crops is None:
        return None
    return os.path.realpath(req.params["model"]), req.params["identity"], crops.shape[1:]


def _check_identity(model, identity: str) -> None:
    if identity not in model.card.identities:
        raise FaceplateError(f"the model has no identity {identity!r}; it has "
                             f"{', '.join(model.card.identities)}")


def swap_batch(requests: list) -> list:
    """Requests for the same model, identity and crop size share one network pass."""
    first = requests[0]
    crops = np.concatenate([r.arrays["crops"] for r in requests])
    with first.engine.models.use(first.params["model"], first.engine.device) as model:
        _check_identity(model, first.params["identity"])
        faces, masks = model.swap(crops, first.params["identity"])
    results, start = [], 0
    for r in requests:
        n = len(r.arrays["crops"])
        results.append(Result({"faces": n, "batched_with": len(requests)},
                              {"faces": faces[start:start + n], "masks": masks[start:start + n]}))
        start += n
    return results


@operation("swap", "Swap faces through a model's decoder for ``identity``: aligned crops "
                   "(network space) inline, or a plate frame plus each face's matrix and "
                   "landmarks.",
           params=_PLATE_PARAMS + (
               Param("model", str, help="model folder"),
               Param("identity", str, help="the identity to swap in")),
           arrays=(ArraySpec("crops", ("float32",), ("N", "S", "S", 3), required=False,
                             help="aligned crops, network space 0–1, at the model's size"),
                   _IMAGE,
                   ArraySpec("matrices", _FLOATS, ("N", 2, 3), required=False),
                   ArraySpec("landmarks", _FLOATS, ("N", 68, 2), required=False)),
           one_of=(("crops", "image", "path"),), lane="device", timeout_s=300.0,
           batch_key=_swap_key, batch=swap_batch)
def swap(req) -> Result:
    if "crops" in req.arrays:
        return swap_batch([req])[0]
    from ...convert.pipeline import FacePlacement, swap_frame

    if "matrices" not in req.arrays or "landmarks" not in req.arrays:
        raise FaceplateError("swap on a plate needs each face's matrices and landmarks (from "
                             "align or the alignments file)")
    image = _plate(req)
    faces = [FacePlacement(np.asarray(m, np.float64), np.asarray(p, np.float64))
             for m, p in zip(req.arrays["matrices"], req.arrays["landmarks"])]
    with req.engine.models.use(req.params["model"], req.engine.device) as model:
        _check_identity(model, req.params["identity"])
        swapped = swap_frame(image.rgb(), faces, model, req.params["identity"],
                             _colour(req, image))
    return Result({"faces": len(swapped)},
                  {"faces": np.stack([s.face for s in swapped]),
                   "masks": np.stack([s.learned for s in swapped])})


def _merge_params() -> tuple[Param, ...]:
    """The merge settings as op params, generated from MergeSettings' own declaration."""
    from ...convert.settings import MergeSettings

    types = {"str": str, "float": float, "int": int, "bool": bool}
    return tuple(Param(k["name"], types[k["type"]], k["default"], k["help"],
                       tuple(k["choices"])) for k in MergeSettings.knobs())


MERGE_SETTINGS = _merge_params()


@operation("merge", "Blend swapped faces into a plate frame; returns the merged RGBA and the "
                    "facemask layer, or writes them with provenance to ``output`` (EXR).",
           params=_PLATE_PARAMS + (
               Param("model", str, help="model folder the faces came from (provenance)"),
               Param("identity", str, help="the identity swapped in (provenance)"),
               Param("frame", int, 0, "frame number (provenance)"),
               Param("output", str, "", "write the merged frame here (atomically)"),
               Param("compression", str, "zip", "EXR compression of output: none writes "
                     "fastest (for caches), zip is what convert writes",
                     ("zip", "zips", "piz", "dwaa", "dwab", "none"))) +
           MERGE_SETTINGS,
           arrays=(_IMAGE,
                   ArraySpec("faces", _FLOATS, ("N", "S", "S", 3), help="from swap"),
                   ArraySpec("masks", _FLOATS, ("N", "S", "S"), help="from swap"),
                   ArraySpec("matrices", _FLOATS, ("N", 2, 3)),
                   ArraySpec("landmarks", _FLOATS, ("N", 68, 2)),
                   ArraySpec("matte", ("float32",), (None, None), required=False,
                             help="plate-sized artist matte for the image mask sources")),
           one_of=(("image", "path"),), lane="pool", timeout_s=300.0)
def merge(req) -> Result:
    from ...convert.merge import SwappedFace
    from ...convert.pipeline import merge_frame
    from ...convert.provenance import job_digest, provenance_for
    from ...convert.settings import MergeSettings
    from ...convert.writer import OUTPUT_CHANNELS, plate_pixel_type
    from ...io.images import write_image

    p, a = req.params, req.arrays
    values = {s.name: p[s.name] for s in MERGE_SETTINGS}
    if p["mask"].startswith("image") and "matte" in a and not values["mask_image"]:
        values["mask_image"] = "<inline matte>"
    settings = MergeSettings.from_dict(values)
    image = _plate(req)
    colour = _colour(req, image)
    matte = a.get("matte")
    if matte is None and p["mask"].startswith("image") and values["mask_image"]:
        from ...convert.masks import read_matte

        matte = read_matte(values["mask_image"], values["mask_channel"],
                           (image.width, image.height))
    swaps = [SwappedFace(np.asarray(f, np.float32), np.asarray(m, np.float32),
                         np.asarray(x, np.float64), np.asarray(lm, np.float64))
             for f, m, x, lm in zip(a["faces"], a["masks"], a["matrices"], a["landmarks"])]
    merged = merge_frame(image, swaps, colour, settings, matte=matte)
    with req.engine.models.use(p["model"], req.engine.device) as model:
        _check_identity(model, p["identity"])
        job = job_digest(model, p["identity"], settings, colour.plate_space,
                         [{"m": s.matrix.tolist()} for s in swaps])
        metadata = provenance_for(model, p["identity"], settings, job, image.source,
                                  p["frame"], merged.matrices,
                                  "swapped" if swaps else "passthrough: no face"
                                  ).to_metadata()
    layers = [merged.layers.face, merged.layers.learned, merged.layers.hull]
    if p["output"]:
        pixels = np.concatenate([merged.rgb, merged.alpha[..., None],
                                 np.stack(layers, axis=-1)], axis=-1)
        write_image(p["output"], pixels, OUTPUT_CHANNELS,
                    metadata, pixel_type=plate_pixel_type(p["path"]) if p["path"] else "half",
                    compression=p["compression"])
        return Result({"output": p["output"], "metadata": metadata})
    rgba = np.concatenate([merged.rgb, merged.alpha[..., None]], axis=-1)
    return Result({"channels": OUTPUT_CHANNELS, "metadata": metadata},
                  {"rgba": rgba.astype(np.float32, copy=False),
                   "facemask": np.stack(layers, axis=-1).astype(np.float32, copy=False)})
