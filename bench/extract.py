"""Extraction on CPU, this tree beside another revision ("today") in the same run.

Prints one JSON object per measurement to stdout, each with ``"code"``: ``this`` or ``today``
(the revision given by ``--compare``, default ``main``, exported with ``git archive`` to a
temporary folder and run in a child process the same way). Measurements:

- ``nme``: landmark error against exactly known ground truth on sample shots (astronaut,
  Grace Hopper; dlib's landmarks on the still carried by the shot's matrices), per
  inter-ocular distance.
- ``clip``: the real clip (``--clip``, same-person footage; skipped with a reason when absent):
  recall (frames with a kept face), tracks, frames with more than one face, jitter before and
  after smoothing, frames/s, and (this tree) held-back tracks, cuts, CNN looks and faces found
  again by the CNN.
- ``turn``: a shot that opens on a head turned 60° (HOG finds nothing and no track is active)
  and turns to the camera: recall and frames/s with dlib + CNN verifier; in this tree also with
  the whole-frame CNN search off (``empty_search_every=0``), i.e. before/after in one tree.
- ``recall``: recall and precision on hard footage, against dlib's CNN detector run on whole
  frames at their own resolution (every ``--every``-th frame of the clip, every frame of the
  synthetic shots; faces ≥ 80 px; cached under the temporary folder): a reference face is
  found when a kept face's landmarks centre inside its box. Shots (built once, by this tree,
  for both runs): ``turn_away`` (a head turned away when the shot opens), ``flash`` (a
  one-frame camera flash), ``dissolve`` (a dissolve between two people's shots, then a hard
  cut), ``decoys`` (two real faces and a face-like negative: ``non_faces_kept`` must be 0) and
  the clip. Also cuts found, ids per person, frames/s and bridged / tracked-back faces.
- ``speed``: frames/s of the whole dlib pipeline (tracked: whole-frame search every 10 frames)
  on moving sample plates at 720p, 1080p and 4K (ACEScg EXR).
- ``extract_stages`` (``--backends`` with fan): per-stage times of the fan backend (trained
  weights when on disk, else random ones: timing only).

    OMP_NUM_THREADS=1 .venv/bin/python bench/extract.py [--compare main] [--frames 8]
        [--parts nme,clip,turn,recall,speed] [--backends dlib,fan] [--sizes 720p,1080p,4k]
        [--every 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SIZES = {"720p": ((1280, 720), 200.0), "1080p": ((1920, 1080), 300.0),
         "4k": ((3840, 2160), 600.0)}
CLIP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "clips",
                    "talking_head_1.mp4")
CODE = os.environ.get("FACEPLATE_BENCH_CODE", "this")


def _emit(record: dict) -> None:
    print(json.dumps({"code": CODE, **record}), flush=True)


def _timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _extract(plate: str, out: str, backend, **kw):
    """``extract_shot`` as both trees spell it (a started backend, preview off)."""
    from faceplate.extract.pipeline import extract_shot

    return extract_shot(plate, out, backend=backend, preview=False, **kw)


def bench_nme(root: str, frames: int) -> None:
    from faceplate.extract import alignments
    from faceplate.extract.backends.dlib_backend import DlibBackend
    from faceplate.extract.smooth import interocular
    from faceplate.samples import make_shot, source_image

    backend = DlibBackend()
    for name in ("astronaut", "grace_hopper"):
        shot = make_shot(name, os.path.join(root, "nme", name), frames=frames)
        still = backend.detect(source_image(name))[0].landmarks
        out = os.path.join(root, "nme", name + "_faces")
        summary = _extract(shot.pattern, out, backend)
        result = alignments.load(out)
        errors = []
        for f in shot.frames:
            truth = shot.to_plate(f, still)
            faces = result.faces(f)
            if not faces:
                continue
            face = min(faces, key=lambda r: np.linalg.norm(r.landmarks.mean(0) - truth.mean(0)))
            errors.append(float(np.linalg.norm(face.landmarks - truth, axis=1).mean()
                                / interocular(truth)))
        _emit({"bench": "nme", "shot": name, "frames": len(shot.frames),
               "found": len(errors), "nme": round(float(np.mean(errors)), 5),
               "jitter_smoothed": round(summary.jitter_smoothed, 5)})


def bench_clip(root: str, clip: str) -> None:
    from faceplate.extract import alignments
    from faceplate.extract.backends.dlib_backend import DlibBackend

    if not os.path.isfile(clip):
        _emit({"bench": "clip", "skipped": f"no clip at {clip}"})
        return
    out = os.path.join(root, "clip")
    summary = _extract(clip, out, DlibBackend())
    result = alignments.load(out)
    with_face = [f for f in summary.frames if result.faces(f)]
    extra = [f for f in summary.frames if len(result.faces(f)) > 1]
    record = {"bench": "clip", "frames": len(summary.frames),
              "recall": round(len(with_face) / len(summary.frames), 4),
              "no_face_frames": len(summary.frames) - len(with_face),
              "tracks": len(result.tracks()), "frames_with_2plus_faces": len(extra),
              "jitter_raw": round(summary.jitter_raw, 5),
              "jitter_smoothed": round(summary.jitter_smoothed, 5),
              "frames_per_s": round(summary.fps, 3)}
    for key in ("held_back", "cuts", "verified", "recovered", "searched", "discovered"):
        if hasattr(summary, key):
            value = getattr(summary, key)
            record[key] = value if isinstance(value, int) else len(value)
    _emit(record)


TURN_YAWS = [60, 58, 56, 54, 52, 50, 48, 46, 40, 34, 28, 22, 16, 10, 5, 0]


def bench_turn(root: str) -> None:
    from faceplate.extract import alignments
    from faceplate.extract.backends.dlib_backend import DlibBackend, DlibCnnDetector
    from faceplate.extract.settings import ExtractSettings
    from faceplate.samples import make_posed_shot

    shot = make_posed_shot("astronaut", os.path.join(root, "turn", "plate"),
                           [{"yaw": y} for y in TURN_YAWS], size=(1280, 720), face_px=260.0)
    backend, verifier = DlibBackend(), DlibCnnDetector()
    names = {f.name for f in dataclasses.fields(ExtractSettings)}
    modes = [("default", {})] + ([("search_off", {"empty_search_every": 0})]
                                 if "empty_search_every" in names else [])
    for mode, changes in modes:
        out = os.path.join(root, "turn", mode)
        summary = _extract(shot.pattern, out, backend, verifier=verifier, **changes)
        result = alignments.load(out)
        found = [f for f in summary.frames if result.faces(f)]
        _emit({"bench": "turn", "mode": mode, "frames": len(summary.frames),
               "recall": round(len(found) / len(summary.frames), 4),
               "frames_per_s": round(summary.fps, 3),
               **{k: getattr(summary, k) for k in ("verified", "recovered", "searched",
                                                   "discovered") if hasattr(summary, k)}})


REFERENCE_MIN_FACE = 80.0


def build_recall_shots(root: str, clip: str, every: int) -> str:
    """Write the hard shots and their CNN references under ``root``; returns the index file
    (``shots.json``) both runs read."""
    import hashlib

    from faceplate.extract.backends.dlib_backend import DlibCnnDetector
    from faceplate.io.sequence import open_plate
    from faceplate.samples import (
        SOURCES,
        make_cluttered_shot,
        make_dissolve_shot,
        make_flash_shot,
        make_turn_away_shot,
    )

    cnn = DlibCnnDetector()
    cache = os.path.join(tempfile.gettempdir(), "faceplate-bench-cnn")
    os.makedirs(cache, exist_ok=True)

    def reference(pattern: str, frames: list[int], key: str) -> dict[str, list]:
        """CNN boxes (≥ 80 px) per frame, on whole frames at their own resolution."""
        from faceplate.extract.frame import network_frame
        from faceplate.io.colour import NETWORK_SPACE, ColourSpaces

        path = os.path.join(cache, hashlib.sha1(key.encode()).hexdigest() + ".json")
        if os.path.isfile(path):
            with open(path) as fh:
                return json.load(fh)
        plate = open_plate(pattern, frames)
        colour = ColourSpaces(NETWORK_SPACE)
        out = {}
        for f in frames:
            rgb = network_frame(plate, f, colour)[0].full()
            out[str(f)] = [list(b) for b, _ in cnn.find_boxes(rgb)
                           if b[2] - b[0] >= REFERENCE_MIN_FACE]
        with open(path, "w") as fh:
            json.dump(out, fh)
        return out

    def digest(pattern: str, frames: list[int]) -> str:
        h = hashlib.sha1()
        for f in frames:
            with open(pattern % f, "rb") as fh:
                h.update(fh.read())
        return h.hexdigest()

    shots = {}
    turn = make_turn_away_shot(os.path.join(root, "turn_away"))
    flash = make_flash_shot(os.path.join(root, "flash"))
    for name, shot in (("turn_away", turn), ("flash", flash)):
        shots[name] = {"pattern": shot.pattern, "frames": shot.frames}
    edit = make_dissolve_shot(os.path.join(root, "dissolve"))
    shots["dissolve"] = {"pattern": edit.pattern, "frames": edit.frames, "cuts": edit.cuts,
                         "true_boxes": {f: [[n, list(b)] for n, _, b in v]
                                        for f, v in edit.faces.items()}}
    clutter = make_cluttered_shot(os.path.join(root, "decoys"), frames=10)
    boxes = {}
    for f in clutter.frames:
        boxes[f] = []
        for name, per_frame in clutter.faces.items():
            src, m = SOURCES[name], per_frame[f]
            (cx, cy), half = src["centre"], 0.6 * src["face_width"]
            corners = np.array([[cx - half, cy - half], [cx + half, cy + half]]) @ m[:, :2].T \
                + m[:, 2]
            boxes[f].append([name, [*corners[0], *corners[1]]])
    shots["decoys"] = {"pattern": clutter.pattern, "frames": clutter.frames,
                       "true_boxes": boxes}
    for name, shot in shots.items():
        shot["reference"] = reference(shot["pattern"], shot["frames"],
                                      digest(shot["pattern"], shot["frames"]))
    if os.path.isfile(clip):
        plate = open_plate(clip)
        frames = plate.frames[::every]
        stat = os.stat(clip)
        shots["clip"] = {"pattern": clip, "frames": plate.frames,
                         "reference": reference(clip, frames, f"{clip}:{stat.st_size}:"
                                                f"{stat.st_mtime}:{every}")}
    index = os.path.join(root, "shots.json")
    with open(index, "w") as fh:
        json.dump(shots, fh)
    return index


def _inside(box, point) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def bench_recall(root: str, index: str) -> None:
    from faceplate.extract import alignments
    from faceplate.extract.backends.dlib_backend import DlibBackend, DlibCnnDetector

    with open(index) as fh:
        shots = json.load(fh)
    backend, verifier = DlibBackend(), DlibCnnDetector()
    for name, shot in shots.items():
        out = os.path.join(root, "recall", name)
        plate = shot["pattern"] if name == "clip" else shot["pattern"].replace("%04d", "####")
        summary = _extract(plate, out, backend, verifier=verifier)
        result = alignments.load(out)
        centres = {f: [r.landmarks.mean(axis=0) for r in result.faces(f)]
                   for f in summary.frames}
        wanted = [(int(f), b) for f, bs in shot["reference"].items() for b in bs]
        found = [(f, b) for f, b in wanted if any(_inside(b, c) for c in centres[f])]
        record = {"bench": "recall", "shot": name, "frames": len(summary.frames),
                  "reference_faces": len(wanted), "found": len(found),
                  "recall": round(len(found) / max(len(wanted), 1), 4),
                  "missed_frames": sorted({f for f, b in wanted if (f, b) not in found}),
                  "frames_per_s": round(summary.fps, 3), "cuts": summary.cuts,
                  "faces": summary.faces, "held_back_tracks": len(summary.held_back),
                  **{k: getattr(summary, k) for k in ("tracked_back", "bridged")
                     if hasattr(summary, k)}}
        if "true_boxes" in shot:
            truth = {int(f): v for f, v in shot["true_boxes"].items()}
            kept = [(f, r) for f in summary.frames for r in result.faces(f)]
            people = [[n for n, b in truth[f] if _inside(b, r.landmarks.mean(axis=0))]
                      for f, r in kept]
            record["non_faces_kept"] = sum(1 for p in people if not p)
            record["precision"] = round(1 - record["non_faces_kept"] / max(len(kept), 1), 4)
            ids: dict[str, set] = {}
            for (f, r), p in zip(kept, people):
                for n in p:
                    ids.setdefault(n, set()).add(r.track)
            record["ids_per_person"] = {n: len(v) for n, v in sorted(ids.items())}
        if "cuts" in shot:
            record["true_cuts"] = shot["cuts"]
        _emit(record)


def bench_speed(root: str, frames: int, sizes: list[str]) -> None:
    from faceplate.extract.backends.dlib_backend import DlibBackend
    from faceplate.samples import make_shot

    backend = DlibBackend()
    for label in sizes:
        size, face_px = SIZES[label]
        shot = make_shot("grace_hopper", os.path.join(root, "speed", label), frames=frames,
                         size=size, face_px=face_px)
        summary = _extract(shot.pattern, os.path.join(root, "speed", label + "_faces"),
                           backend, redetect_every=10)
        _emit({"bench": "speed", "backend": "dlib", "resolution": label, "mode": "tracked",
               "frames": len(summary.frames), "faces": summary.faces,
               "frames_per_s": round(summary.fps, 3), "seconds": round(summary.seconds, 3)})


def bench_stages(backend, shot, label: str, weights: str) -> None:
    """Per-stage times on one frame; frames/s for a one-face frame. ``colour_full_ms`` is what
    converting the whole frame would cost; extraction converts only the detection copy
    (``detect_copy_ms``) and the tiles around faces (inside ``landmarks_ms_per_face``)."""
    from faceplate.extract.frame import network_frame
    from faceplate.io.colour import ColourSpaces
    from faceplate.io.images import read_plate_frame
    from faceplate.io.sequence import open_plate

    plate = open_plate(shot.pattern)
    frame = plate.frames[0]
    colour = ColourSpaces(shot.colourspace)
    read_s = _timed(lambda: read_plate_frame(plate, frame))
    image = read_plate_frame(plate, frame)
    colour_full_s = _timed(lambda: colour.to_network(image.rgb()))
    h, w = image.height, image.width
    scale = min(1.0, backend.detect_size / max(h, w))
    copy_s = _timed(lambda: network_frame(plate, frame, colour)[0].downscaled(scale), 2)
    small = network_frame(plate, frame, colour)[0].downscaled(scale)
    detect_s = _timed(lambda: backend.find_boxes(small))
    centre = shot.to_plate(frame, np.array([shot_centre(shot)]))[0]
    half = SIZES[label][1] / 2
    box = (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
    landmarks_s = _timed(
        lambda: backend.landmarks_in_box(network_frame(plate, frame, colour)[0], box), 2) \
        - read_s  # a fresh frame each time, so the tile conversion is counted
    total = read_s + copy_s - read_s + detect_s + landmarks_s
    _emit({"bench": "extract_stages", "backend": backend.name, "resolution": label,
           "weights": weights, "device": getattr(backend, "device", "cpu"),
           "read_ms": round(read_s * 1e3, 1), "colour_full_ms": round(colour_full_s * 1e3, 1),
           "detect_copy_ms": round((copy_s - read_s) * 1e3, 1),
           "detect_ms": round(detect_s * 1e3, 1),
           "landmarks_ms_per_face": round(landmarks_s * 1e3, 1),
           "detect_size": backend.detect_size, "frames_per_s_one_face": round(1.0 / total, 3)})


def shot_centre(shot):
    from faceplate.samples import SOURCES

    return SOURCES[shot.source]["centre"]


def fan_backend(root: str):
    """The fan backend from trained weights when present, else from random ones."""
    from faceplate.extract.backends import fan_backend as fb

    if fb.find_weights() is not None:
        return fb.FanBackend(device="cpu"), "trained"
    import torch
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    folder = os.path.join(root, "random-weights")
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    torch.save(s3fd().state_dict(), os.path.join(folder, fb.S3FD_FILE))
    torch.save(FAN(4).state_dict(), os.path.join(folder, fb.FAN_FILE))
    return fb.FanBackend(device="cpu", weights_dir=folder), "random"


def worker(args) -> None:
    sizes, parts = args.sizes.split(","), args.parts.split(",")
    with tempfile.TemporaryDirectory() as root:
        if "nme" in parts:
            bench_nme(root, 12)
        if "clip" in parts:
            bench_clip(root, args.clip)
        if "turn" in parts:
            bench_turn(root)
        if "recall" in parts and args.shots:
            bench_recall(root, args.shots)
        if "speed" in parts and "dlib" in args.backends:
            bench_speed(root, args.frames, sizes)
        if "speed" in parts and "fan" in args.backends:
            from faceplate.samples import make_shot

            fan = fan_backend(root)
            for label in sizes:
                size, face_px = SIZES[label]
                shot = make_shot("grace_hopper", os.path.join(root, "fan", label), frames=1,
                                 size=size, face_px=face_px)
                bench_stages(fan[0], shot, label, fan[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--sizes", default="720p,1080p,4k")
    parser.add_argument("--backends", default="dlib,fan")
    parser.add_argument("--clip", default=os.path.abspath(CLIP))
    parser.add_argument("--parts", default="nme,clip,turn,recall,speed",
                        help="what to measure")
    parser.add_argument("--every", type=int, default=4,
                        help="the clip's CNN reference on every Nth frame")
    parser.add_argument("--shots", default="", help=argparse.SUPPRESS)  # recall's index
    parser.add_argument("--compare", default="main", metavar="REV",
                        help="the revision run as 'today' ('' to skip)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    with tempfile.TemporaryDirectory() as shots:
        if "recall" in args.parts.split(","):
            args.shots = build_recall_shots(shots, args.clip, args.every)
        if not args.compare:
            worker(args)
            return 0
        compare(args)
    return 0


def compare(args) -> None:
    """Run the worker on ``--compare`` ("today") and on this tree, one after the other."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "-C", repo, "archive", args.compare, "engine",
                                  "nuke_plugin"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        argv = [sys.executable, os.path.abspath(__file__), "--worker", "--frames",
                str(args.frames), "--sizes", args.sizes, "--backends", args.backends,
                "--clip", args.clip, "--parts", args.parts, "--shots", args.shots]
        for code, tree in (("today", old), ("this", repo)):
            env = dict(os.environ, FACEPLATE_BENCH_CODE=code,
                       PYTHONPATH=os.pathsep.join([os.path.join(tree, "engine"),
                                                   os.path.join(tree, "nuke_plugin")]))
            subprocess.run(argv, env=env, check=True)


if __name__ == "__main__":
    sys.exit(main())
