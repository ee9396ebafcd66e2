"""The work behind Process: each stage of a Faceplate chain, per frame, through the engine.

plate  FaceDetect renders its input through its internal EXR Write (all channels)
detect engine ``detect`` on each plate frame              → faces and landmarks (JSON)
align  engine ``track_faces`` over the cached detections (no pixels): track ids, confidence,
       selection, smoothing and matrices, as ``faceplate extract``; then FaceAlign's review
       edits and fixes (engine ``edit_alignments``) → alignments (JSON, contract)
swap   engine ``swap`` on the plate with each face's matrix → swapped faces + learned masks
view   FaceSwap's own picture, only when FaceSwap is viewed or rendered: engine ``merge``
       with the learned mask alone (EXR)
mask   FaceMerge's mask input rendered through its internal Write, when a mask source uses it
merge  engine ``merge`` with FaceMerge's settings (and its mask input) → RGBA + facemask,
       faceregion, faceraw, facest and faceplate/confidence (EXR)

Each stage's frame key comes from the knobs of that stage (at the frame) and the key of the
stage before it, so a changed knob recomputes only what depends on it (see cache.py). Swap
keys on what it reads of the alignment (the frame's matrices and landmarks), so an edit or
fix that re-aligns the shot re-swaps and re-merges only the frames whose faces changed.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import nuke
from faceplate_client import documents, layout
from faceplate_client.atomic import write_bytes_atomic
from faceplate_client.protocol import Array

from . import engine, graph
from .cache import StageCache, key_of
from .errors import NodeError
from .registry import STAGE_NODE

Progress = Callable[[str, int, int], None]
# Merge settings for the FaceSwap view: the raw swap, blended by the learned mask only (no
# plate match: grain, softness and motion blur are FaceMerge's).
RAW_MERGE = {"mask": "learned", "erode": 0.0, "blur": 0.0, "colour": "none", "grain": "off",
             "soften": "off", "shutter": 0.0}
# Cache frames are written and read back at once: uncompressed EXR is the fastest both ways.
CACHE_COMPRESSION = "none"
# The stage whose result a node shows (and that Process brings up to date).
SHOWN_STAGE = {"FaceDetect": "detect", "FaceAlign": "align", "FaceSwap": "view",
               "FaceMerge": "merge"}


class Run:
    """One Process of a node (or one farm frame): its chain, the engine, progress."""

    def __init__(self, node: nuke.Node, interactive: bool = True,
                 progress: Progress | None = None):
        self.target = node
        self.nodes = graph.chain(node)
        self.address = str(graph.value(node, "engine_address"))
        self.interactive = interactive
        self.progress = progress or (lambda stage, done, total: None)
        self.bounds = graph.frame_range(self.nodes["FaceDetect"])
        self._keys: dict[tuple[str, int], str] = {}

    # -- where things are
    def owner(self, stage: str) -> nuke.Node:
        return self.nodes[{"mask": "FaceMerge", "view": "FaceSwap"}.get(stage)
                          or STAGE_NODE[stage]]

    def cache(self, stage: str) -> StageCache:
        node = self.owner(stage)
        ext = "json" if stage in ("detect", "align", "swap") else "exr"
        return StageCache(graph.cache_root(node), node.fullName(), stage, ext)

    def colourspace(self) -> str:
        return str(graph.value(self.nodes["FaceDetect"], "input_colourspace"))

    # -- keys
    def key(self, stage: str, frame: int) -> str:
        memo = (stage, frame)
        if memo not in self._keys:
            self._keys[memo] = self._key(stage, frame)
        return self._keys[memo]

    def _key(self, stage: str, frame: int) -> str:
        node = self.owner(stage)
        if stage == "plate":
            return key_of("plate", graph.signature(node.input(0)), frame)
        if stage == "mask":
            return key_of("mask", graph.signature(node.input(1)), frame)
        if stage == "view":
            return key_of("view", self.key("swap", frame))
        values = graph.stage_values(node, stage, frame)
        if stage == "detect":
            return key_of(stage, values, self.key("plate", frame))
        if stage == "align":
            return key_of(stage, values, self.detections_key())
        if stage == "swap":
            return key_of(stage, values, _fingerprint(str(values["model"])),
                          self.aligned_key(frame))
        mask = self.key("mask", frame) if self.uses_mask_input(frame) else ""
        return key_of(stage, values, self.key("swap", frame), mask, self._motion(frame))

    def aligned_key(self, frame: int) -> str:
        """What swap sees of a frame's alignment: its kept faces' matrices and landmarks. A
        re-align (a review edit, a fix) that leaves a frame's faces alone keeps its swap."""
        return key_of("aligned", [[f["matrix"], f["landmarks"]] for f in self._faces(frame)])

    def window(self, frame: int) -> list[int]:
        """The detections one aligned frame depends on: the whole range, because the engine
        tracks, rates and smooths over the shot (ids stay with a person across cuts)."""
        return list(self.bounds)

    def detections_key(self) -> str:
        memo = ("detections", 0)
        if memo not in self._keys:
            self._keys[memo] = key_of("detections", [self.key("detect", g) for g in self.bounds])
        return self._keys[memo]

    def uses_mask_input(self, frame: int) -> bool:
        merge = self.nodes["FaceMerge"]
        return str(graph.value(merge, "mask_source", frame)).startswith("image")

    # -- running
    def ensure(self, stage: str, frames: list[int]) -> StageCache:
        """Compute every frame of ``frames`` that is not cached for ``stage``."""
        deps = {"detect": "plate", "align": "detect", "swap": "align", "view": "swap",
                "merge": "swap"}
        if stage in deps:
            needed = sorted({g for f in frames for g in self.window(f)}) \
                if stage == "align" else frames
            self.ensure(deps[stage], needed)
        if stage == "merge":
            masked = [f for f in frames if self.uses_mask_input(f)]
            if masked:
                self.ensure("mask", masked)
        cache = self.cache(stage)
        keys = {f: self.key(stage, f) for f in frames}
        todo = cache.missing(keys)
        if todo:
            cache.prepare(todo, self.interactive)
            getattr(self, "_" + stage)(cache, todo, keys)
        return cache

    def process(self, frames: list[int] | None = None) -> StageCache:
        """Bring the target node's stage up to date for ``frames`` (default: its range)."""
        frames = frames or graph.frame_range(self.target)
        return self.ensure(SHOWN_STAGE[self.target.Class()], frames)

    # -- stages
    def _render_input(self, writer: str, cache: StageCache, todo: list[int],
                      keys: dict[int, str]) -> None:
        """Render a gizmo input through its internal EXR Write, frame runs at a time."""
        write = graph.internal(self.owner(cache.stage), writer)
        write["file"].setValue(cache.pattern())
        write["file_type"].setValue("exr")
        write["channels"].setValue("all")
        write["disable"].setValue(False)
        try:
            for first, last in _runs(todo):
                try:
                    nuke.execute(write, first, last, 1)
                except RuntimeError as exc:
                    raise NodeError(f"{self.owner(cache.stage).name()}: rendering the input "
                                    f"failed: {exc}") from None
                for f in range(first, last + 1):
                    cache.record(f, keys[f])
                self.progress(cache.stage, todo.index(last) + 1, len(todo))
        finally:
            write["disable"].setValue(True)

    def _plate(self, cache: StageCache, todo: list[int], keys: dict[int, str]) -> None:
        self._render_input("input_write", cache, todo, keys)

    def _mask(self, cache: StageCache, todo: list[int], keys: dict[int, str]) -> None:
        if self.nodes["FaceMerge"].input(1) is None:
            raise NodeError(f"{self.nodes['FaceMerge'].name()}: the mask source needs the "
                            "'mask' input (e.g. a Roto from FaceAlign's Export Roto)")
        self._render_input("mask_write", cache, todo, keys)

    def plate_file(self, frame: int) -> str:
        return self.cache("plate").frame_file(frame)

    def _detect(self, cache: StageCache, todo: list[int], keys: dict[int, str]) -> None:
        detect = self.nodes["FaceDetect"]
        for i, f in enumerate(todo):
            reply = engine.call(self.address, "detect", dict(
                graph.op_params(detect, f), path=self.plate_file(f),
                colourspace=self.colourspace()))
            cache.record(f, keys[f], {"size": reply.params["size"],
                                      "backend": reply.params.get("backend", ""),
                                      "signature": reply.params.get("signature"),
                                      "faces": reply.params["faces"]})
            self.progress("detect", i + 1, len(todo))

    def _align(self, cache: StageCache, todo: list[int], keys: dict[int, str]) -> None:
        align = self.nodes["FaceAlign"]
        detected = self.cache("detect")
        frames = list(self.bounds)
        entries = {g: detected.entry(g) or {} for g in frames}
        found = {g: entries[g].get("faces", []) for g in frames}
        faces = [face for g in frames for face in found[g]]
        n = len(faces)
        nan = float("nan")
        arrays = {
            "boxes": Array.from_values([v for f in faces for v in f["bbox"]], "float32", (n, 4)),
            "scores": Array.from_values([f["score"] for f in faces], "float32", (n,)),
            "landmarks": Array.from_values([v for f in faces for p in f["landmarks"] for v in p],
                                           "float32", (n, 68, 2)),
            "confidences": Array.from_values([f.get("confidence", nan) for f in faces],
                                             "float32", (n,)),
            "descriptors": Array.from_values([v for f in faces
                                              for v in f.get("descriptor") or [nan] * 128],
                                             "float32", (n, 128))}
        signatures: list[list[float]] = [entries[g].get("signature") or [] for g in frames]
        if signatures and all(signatures) and len({len(v) for v in signatures}) == 1:
            arrays["signatures"] = Array.from_values([v for sig in signatures for v in sig],
                                                     "float32", (len(frames), len(signatures[0])))
        now = nuke.frame()  # the shot is tracked at once: the knobs' values now
        reply = engine.call(self.address, "track_faces", {
            "frames": frames, "counts": [len(found[g]) for g in frames],
            "sizes": [[int(v) for v in entries[g].get("size") or (0, 0)] for g in frames],
            **graph.op_params(align, now),  # face_type, smoothing
            "select": selection(align),
            "backend": graph.op_params(self.nodes["FaceDetect"], now)["backend"]}, arrays)
        points = reply.arrays["landmarks"].values()
        matrices = reply.arrays["matrices"].values()
        out: dict[int, dict[str, list]] = {g: {"faces": [], "held_back": []} for g in frames}
        for k, (frame, index, track, confidence, held) in enumerate(reply.params["faces"]):
            face = {key: found[frame][index][key] for key in ("bbox", "score")}
            xy = points[136 * k:136 * (k + 1)]
            m = matrices[6 * k:6 * (k + 1)]
            face.update(landmarks=[xy[i:i + 2] for i in range(0, 136, 2)],
                        matrix=[m[:3], m[3:]], track=track, confidence=confidence)
            out[frame]["held_back" if held else "faces"].append(face)
        entries = {f: dict(out[f], cut=f in reply.params["cuts"], tracks=reply.params["tracks"])
                   for f in frames}
        edits = review_edits(align)
        if edits:
            self._edit(cache, entries, edits)
        for i, f in enumerate(todo):
            cache.record(f, keys[f], entries[f])
            self.progress("align", i + 1, len(todo))
        self.write_alignments(cache)

    def _edit(self, cache: StageCache, entries: dict[int, dict[str, Any]],
              edits: list[dict[str, Any]]) -> None:
        """Apply FaceAlign's review edits and fixes (engine ``edit_alignments``, as
        ``faceplate alignments`` does) to the tracked ``entries``; only the frames the edits
        changed take the edited faces, so the others stay bit-identical."""
        path = self._write_document(cache, entries.get)
        reply = engine.call(self.address, "edit_alignments", {"path": path, "edits": edits})
        try:
            edited = documents.read_document(path, layout.ALIGNMENTS_SCHEMA,
                                             what="edited alignments file")
        except documents.DocumentError as exc:
            raise NodeError(str(exc)) from None
        for f in reply.params["changed"]:
            if f in entries:
                entries[f].update(faces=edited["frames"].get(str(f), []),
                                  held_back=edited.get("held_back", {}).get(str(f), []))
        for entry in entries.values():
            entry["tracks"] = edited.get("tracks", {})

    def write_alignments(self, cache: StageCache) -> str:
        """``alignments.json`` (the contract in docs/architecture.md) of every cached frame,
        written by the engine's own writer (``faceplate_client.documents``)."""
        return self._write_document(cache, cache.entry)

    def _write_document(self, cache: StageCache,
                        entry_of: Callable[[int], dict[str, Any] | None]) -> str:
        align, detect = self.nodes["FaceAlign"], self.cache("detect")
        frames: dict[str, Any] = {}
        held: dict[str, Any] = {}
        cuts: list[int] = []
        tracks: dict[str, Any] = {}
        for f in self.bounds:
            entry = entry_of(f)
            if entry is not None:
                frames[str(f)] = entry["faces"]
                if entry.get("held_back"):
                    held[str(f)] = entry["held_back"]
                if entry.get("cut"):
                    cuts.append(f)
                tracks = entry.get("tracks") or tracks
        first = detect.entry(int(next(iter(frames)))) if frames else None
        path = os.path.join(cache.version_dir(), layout.ALIGNMENTS_FILE)
        return documents.write_alignments(path, documents.alignments_document(
            plate=self.cache("plate").pattern().replace("####", "%04d"),
            colourspace=self.colourspace(),
            backend=(first or {}).get("backend", ""),
            face_type=str(graph.value(align, "face_type")),
            size=(first or {}).get("size", [0, 0]),
            smoothing=float(graph.value(align, "smoothing")),
            frames=frames, tracks=tracks, held_back=held, cuts=cuts))

    def _faces(self, frame: int) -> list[dict[str, Any]]:
        return _aligned_faces(self.cache("align").entry(frame))

    def _swap(self, cache: StageCache, todo: list[int], keys: dict[int, str]) -> None:
        swap = self.nodes["FaceSwap"]
        for i, f in enumerate(todo):
            model, identity = model_and_identity(swap, f)
            faces = self._faces(f)
            data: dict[str, Any] = {"count": len(faces)}
            if faces:
                reply = engine.call(self.address, "swap", {
                    "path": self.plate_file(f), "colourspace": self.colourspace(),
                    "model": model, "identity": identity}, _placement_arrays(faces))
                for name in ("faces", "masks"):
                    data[name] = _save_array(cache, f, name, reply.arrays[name])
            cache.record(f, keys[f], data)
            self.progress("swap", i + 1, len(todo))

    def _motion(self, frame: int) -> dict[str, list[float]]:
        """Each face's track's matrix on the frame before and after, flattened (NaN where the
        track has no face there, or a cut lies between): the merge op's motion blur and
        vectors."""
        entries = {g: self.cache("align").entry(g) or {} for g in (frame - 1, frame, frame + 1)}
        here = _aligned_faces(entries[frame])
        sides = {"before": (frame - 1, frame), "after": (frame + 1, frame + 1)}
        out: dict[str, list[float]] = {}
        for name, (other, starts) in sides.items():
            there = {} if entries[starts].get("cut") else \
                {f.get("track", 0): f["matrix"] for f in _aligned_faces(entries[other])}
            out[name] = [v for f in here
                         for row in there.get(f.get("track", 0), [[float("nan")] * 3] * 2)
                         for v in row]
        return out

    def _swapped(self, frame: int) -> dict[str, Array]:
        """A frame's faces as the merge op takes them (empty arrays when it has none)."""
        faces = self._faces(frame)
        if not faces:
            return _no_faces()
        swapped = self.cache("swap")
        entry = swapped.entry(frame) or {}
        confidences = [float("nan") if f.get("confidence") is None else f["confidence"]
                       for f in faces]
        motion = {name: Array.from_values(values, "float32", (len(faces), 2, 3))
                  for name, values in self._motion(frame).items()}
        return dict(_placement_arrays(faces), faces=_load_array(swapped, entry["faces"]),
                    masks=_load_array(swapped, entry["masks"]),
                    confidences=Array.from_values(confidences, "float32", (len(faces),)),
                    **motion)

    def _view(self, cache: StageCache, todo: list[int], keys: dict[int, str]) -> None:
        for i, f in enumerate(todo):
            model, identity = model_and_identity(self.nodes["FaceSwap"], f)
            engine.call(self.address, "merge", dict(
                RAW_MERGE, path=self.plate_file(f), colourspace=self.colourspace(),
                model=model, identity=identity, frame=f, output=cache.frame_file(f),
                compression=CACHE_COMPRESSION),
                self._swapped(f))
            cache.record(f, keys[f])
            self.progress("view", i + 1, len(todo))

    def _merge(self, cache: StageCache, todo: list[int], keys: dict[int, str]) -> None:
        merge = self.nodes["FaceMerge"]
        for i, f in enumerate(todo):
            model, identity = model_and_identity(self.nodes["FaceSwap"], f)
            params: dict[str, Any] = dict(
                graph.op_params(merge, f), path=self.plate_file(f),
                colourspace=self.colourspace(), model=model, identity=identity, frame=f,
                output=cache.frame_file(f), compression=CACHE_COMPRESSION)
            if self.uses_mask_input(f):
                params["mask_image"] = self.cache("mask").frame_file(f)
            engine.call(self.address, "merge", params, self._swapped(f))
            cache.record(f, keys[f])
            self.progress("merge", i + 1, len(todo))


def review_edits(node: nuke.Node) -> list[dict[str, Any]]:
    """FaceAlign's review edits and fixes (its hidden ``review_edits`` knob, JSON)."""
    text = str(graph.value(node, "review_edits") or "")
    if not text:
        return []
    try:
        edits = json.loads(text)
    except ValueError:
        edits = None
    if not isinstance(edits, list):
        raise NodeError(f"{node.name()}: its review edits are damaged; press Clear Edits")
    return edits


def selection(node: nuke.Node) -> str:
    """FaceAlign's selection knobs in the engine's spelling (``faceplate extract --select``)."""
    mode = str(graph.value(node, "select_mode"))
    if mode == "track":
        return f"track:{int(graph.value(node, 'track'))}"
    if mode == "index":
        return f"index:{int(graph.value(node, 'face_index'))}"
    if mode == "reference":
        reference = str(graph.value(node, "reference_image"))
        if not reference:
            raise NodeError(f"{node.name()}: select is 'reference': set the reference image "
                            "knob to a photo of the person to keep")
        return f"ref:{reference}"
    return "all"


def _runs(frames: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted frames: [1, 2, 3, 7] → [(1, 3), (7, 7)]."""
    out: list[tuple[int, int]] = []
    for f in frames:
        if out and f == out[-1][1] + 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return out


def _fingerprint(model: str) -> list[Any]:
    """Changes when the model is retrained: size and time of its weights and card."""
    out: list[Any] = [os.path.abspath(model)]
    for name in (layout.MODEL_WEIGHTS, layout.MODEL_CARD):
        try:
            st = os.stat(os.path.join(model, name))
            out += [st.st_size, st.st_mtime_ns]
        except OSError:
            out.append(None)
    return out


def model_and_identity(swap: nuke.Node, frame: int) -> tuple[str, str]:
    params = graph.op_params(swap, frame)
    model, identity = params["model"], params["identity"]
    if not model or not os.path.isdir(model):
        raise NodeError(f"{swap.name()}: set the model knob to a model folder "
                        f"(got {model!r})")
    if not identity:
        raise NodeError(f"{swap.name()}: set the target identity (one of the model's "
                        f"identities, see its {layout.MODEL_CARD})")
    return os.path.abspath(model), identity


def _aligned_faces(entry: dict[str, Any] | None) -> list[dict[str, Any]]:
    """An align cache entry's kept faces (those with an alignment matrix)."""
    return [f for f in (entry or {}).get("faces", []) if "matrix" in f]


def _placement_arrays(faces: list[dict[str, Any]]) -> dict[str, Array]:
    n = len(faces)
    matrices = [v for f in faces for row in f["matrix"] for v in row]
    points = [v for f in faces for p in f["landmarks"] for v in p]
    return {"matrices": Array.from_values(matrices, "float32", (n, 2, 3)),
            "landmarks": Array.from_values(points, "float32", (n, 68, 2))}


def _no_faces() -> dict[str, Array]:
    """Empty face arrays: merge then passes the plate through with empty mattes."""
    return {"faces": Array("float32", (0, 1, 1, 3), b""),
            "masks": Array("float32", (0, 1, 1), b""),
            "matrices": Array("float32", (0, 2, 3), b""),
            "landmarks": Array("float32", (0, 68, 2), b"")}


def _save_array(cache: StageCache, frame: int, name: str, array: Array) -> dict[str, Any]:
    path = cache.sidecar(frame)[:-len(".json")] + f".{name}.bin"
    write_bytes_atomic(path, memoryview(array.data).cast("B"))
    return {"file": os.path.basename(path), "dtype": array.dtype, "shape": list(array.shape)}


def _load_array(cache: StageCache, info: dict[str, Any]) -> Array:
    path = os.path.join(cache.version_dir(), info["file"])
    with open(path, "rb") as fh:
        return Array(info["dtype"], tuple(info["shape"]), fh.read())
