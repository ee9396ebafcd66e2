"""Extraction speed on CPU: frames/s per backend and plate resolution (1080p, 4K).

Prints one JSON object per measurement to stdout. Plates are sample shots (ACEScg EXR, one
moving face). ``dlib`` runs the whole ``extract_shot`` pipeline, once searching the whole frame
on every frame and once with tracking (whole-frame search every 10 frames, otherwise near the
tracked face); the ratio shows what tracking saves. ``fan`` uses trained weights when they are
on disk, else face-alignment's networks with random weights (``"weights": "random"``): random
detectors find arbitrary boxes, so fan is timed per stage (read, colour, detect, landmarks for
one face) and its frames/s is the one-face sum of those stages.

    OMP_NUM_THREADS=2 .venv/bin/python bench/extract.py [--frames 8] [--sizes 1080p,4k]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

SIZES = {"1080p": ((1920, 1080), 300.0), "4k": ((3840, 2160), 600.0)}


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def _timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_dlib(shot, label: str, root: str) -> None:
    from faceplate.extract.backends.dlib_backend import DlibBackend
    from faceplate.extract.pipeline import extract_shot

    backend = DlibBackend()
    runs = {}
    for name, every in (("full_every_frame", 1), ("tracked", 10)):
        summary = extract_shot(shot.pattern, os.path.join(root, f"dlib_{label}_{name}"),
                               backend=backend, redetect_every=every)
        runs[name] = summary
        _emit({"bench": "extract", "backend": "dlib", "resolution": label, "mode": name,
               "frames": len(summary.frames), "faces": summary.faces,
               "frames_per_s": round(summary.fps, 3), "seconds": round(summary.seconds, 3)})
    _emit({"bench": "extract", "backend": "dlib", "resolution": label,
           "tracked_vs_full_speedup": round(runs["tracked"].fps / runs["full_every_frame"].fps,
                                            3)})


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--sizes", default="1080p,4k")
    parser.add_argument("--backends", default="dlib,fan")
    args = parser.parse_args()
    from faceplate.extract.backends.dlib_backend import DlibBackend
    from faceplate.samples import make_shot

    with tempfile.TemporaryDirectory() as root:
        fan = None
        for label in args.sizes.split(","):
            size, face_px = SIZES[label]
            shot = make_shot("grace_hopper", os.path.join(root, label), frames=args.frames,
                             size=size, face_px=face_px)
            if "dlib" in args.backends:
                bench_dlib(shot, label, root)
                bench_stages(DlibBackend(), shot, label, "bundled")
            if "fan" in args.backends:
                fan = fan or fan_backend(root)
                bench_stages(fan[0], shot, label, fan[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
