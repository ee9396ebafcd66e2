"""Occlusion mattes from a few labelled frames: IoU on the frames nobody labelled, and the time.

A synthetic shot of the astronaut with a microphone swinging across the face and a ball along
the jaw (exact mattes known, alignments from the exact transforms). For 3, 5 and 10 labelled
frames (spread over the shot), train the occlusion network and score its predicted mattes on
every other frame: IoU of the occluder inside the aligned crop's footprint (where the network
looks). One JSON line per label count.

  .venv/bin/python bench/occlusion.py [--labels 3,5,10] [--frames 36] [--steps 600]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", default="3,5,10")
    ap.add_argument("--frames", type=int, default=36)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("-o", "--out", help="keep the shot and models here (default: a temp dir)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    root = args.out or tempfile.mkdtemp(prefix="faceplate-bench-occlusion-")
    for count in (int(c) for c in args.labels.split(",")):
        print(json.dumps(run(os.path.join(root, f"labels{count}"), count, args.frames,
                             args.minutes, args.steps)), flush=True)
    return 0


def run(shot_dir: str, count: int, frames: int, minutes: float, steps: int) -> dict:
    from faceplate.occlusion.data import Labels
    from faceplate.occlusion.predict import predict_occlusion
    from faceplate.occlusion.train import OcclusionTrainSettings, train_occlusion
    from faceplate.samples import make_shot, occluders, write_true_alignments

    sample = make_shot("astronaut", shot_dir, frames=frames, size=(640, 360), face_px=150,
                       overlay=functools.partial(occluders, face_px=150))
    write_true_alignments(sample, shot_dir)
    picked = [sample.frames[round(i)] for i in np.linspace(0, frames - 1, count)]
    labels = Labels(os.path.join(shot_dir, "plate_matte.####.exr"), tuple(picked))
    clock = time.perf_counter()
    result = train_occlusion(sample.pattern, shot_dir, labels,
                             OcclusionTrainSettings(steps=steps, minutes=minutes))
    train_s = time.perf_counter() - clock
    clock = time.perf_counter()
    pattern, _ = predict_occlusion(sample.pattern, shot_dir, version=result.version)
    predict_s = time.perf_counter() - clock
    scores = score(sample, shot_dir, pattern, set(picked))
    return {"bench": "occlusion", "labels": count, "label_frames": picked,
            "unlabelled_frames": len(scores), "iou_mean": round(float(np.mean(scores)), 4),
            "iou_min": round(float(np.min(scores)), 4), "train_s": round(train_s, 1),
            "steps": result.card.steps, "label_iou": result.card.label_iou,
            "predict_ms_per_frame": round(1000 * predict_s / frames, 1),
            "load_avg_1min": round(os.getloadavg()[0], 2)}


def score(sample, shot_dir: str, pattern: str, labelled: set[int]) -> list[float]:
    """IoU per unlabelled frame, inside the footprint of the frame's aligned crop."""
    import cv2
    from faceplate.extract import alignments as alignments_io
    from faceplate.face.align import warp_from_crop
    from faceplate.io.images import read_image
    from faceplate.io.sequence import SequencePattern
    from faceplate.occlusion.train import iou

    shot = alignments_io.load(shot_dir)
    seq = SequencePattern.parse(pattern)
    out = []
    for frame in sample.frames:
        if frame in labelled:
            continue
        truth = read_image(os.path.join(shot_dir, f"plate_matte.{frame:04d}.exr")).pixels[..., 0]
        pred = read_image(seq.path(frame)).pixels[..., 0]
        footprint = np.zeros(truth.shape, bool)
        for r in shot.faces(frame):
            footprint |= warp_from_crop(np.ones((96, 96), np.float32), r.matrix,
                                        tuple(shot.size), cv2.INTER_LINEAR) > 0.5
        out.append(iou(pred, truth, footprint))
    return out


if __name__ == "__main__":
    sys.exit(main())
