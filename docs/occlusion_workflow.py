"""Draws docs/occlusion-workflow.png: Learn Occlusion on a synthetic shot, in pictures.

The astronaut (scikit-image) with a microphone and a ball crossing her face; 5 of 36 frames
"painted" (their exact mattes); the occlusion model trained on them predicts the rest; Grace
Hopper's face (matplotlib's sample photo, swapped in by a stand-in model that returns her
aligned face) merged with mask `hull*learned` (over the microphone) and `occlusion` (behind it).

Run: .venv/bin/python docs/occlusion_workflow.py [--shot DIR]
(``--shot`` reuses a shot folder that bench/occlusion.py -o left, with its trained model.)
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile

import cv2
import numpy as np
from faceplate.convert.pipeline import convert_shot
from faceplate.convert.settings import MergeSettings
from faceplate.convert.swap import PassthroughCard
from faceplate.extract import alignments as alignments_io
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image
from faceplate.occlusion import store
from faceplate.occlusion.data import Labels
from faceplate.occlusion.predict import predict_occlusion
from faceplate.occlusion.train import OcclusionTrainSettings, train_occlusion
from faceplate.pictures import label, stack_rows
from faceplate.samples import (
    SampleShot,
    make_shot,
    occluders,
    sample_swap,
    write_true_alignments,
)

FRAMES, PAINTED = 36, 5
TILE = 200


class GraceHopper:
    """Every face becomes Grace Hopper's aligned face, her landmark hull its learned mask."""

    def __init__(self, size: int = 256):
        self.face, self.mask = sample_swap("grace_hopper", size)
        self.card = PassthroughCard(identities=["astronaut", "grace_hopper"], resolution=size,
                                    model_id="docs-grace-hopper")

    def swap(self, crops, identity):
        n = len(crops)
        return np.repeat(self.face[None], n, 0), np.repeat(self.mask[None], n, 0)


def main() -> str:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shot", help="a shot folder from bench/occlusion.py -o (reused)")
    args = ap.parse_args()
    shot_dir = args.shot or tempfile.mkdtemp(prefix="faceplate-docs-occlusion-")
    if os.path.isfile(os.path.join(shot_dir, "shot.json")):
        sample = SampleShot.load(os.path.join(shot_dir, "shot.json"))
    else:
        sample = make_shot("astronaut", shot_dir, frames=FRAMES, size=(640, 360), face_px=150,
                           overlay=functools.partial(occluders, face_px=150))
        write_true_alignments(sample, shot_dir)
    if not store.versions(shot_dir):
        picked = [sample.frames[round(i)] for i in np.linspace(0, len(sample.frames) - 1,
                                                               PAINTED)]
        labels = Labels(os.path.join(shot_dir, "plate_matte.####.exr"), tuple(picked))
        train_occlusion(sample.pattern, shot_dir, labels, OcclusionTrainSettings())
    version = store.latest(shot_dir)
    card = store.read_card(version)
    if not os.path.isfile(store.matte_pattern(version).replace("####", f"{sample.frames[0]:04d}")):
        predict_occlusion(sample.pattern, shot_dir, version=version)
    model = GraceHopper()
    outs = {}
    for mask in ("hull*learned", "occlusion"):
        outs[mask] = os.path.join(shot_dir, f"docs_{mask.replace('*', '_')}.####.exr")
        convert_shot(sample.pattern, shot_dir, model, "grace_hopper", outs[mask],
                     settings=MergeSettings(mask=mask, blur=2))
    colour = ColourSpaces(sample.colourspace)
    shot = alignments_io.load(shot_dir)
    unpainted = [f for f in sample.frames if f not in card.labels.frames]
    frames = [card.labels.frames[1]] + [unpainted[i] for i in (6, 16, 26)]
    rows = []
    for f in frames:
        box = _view(shot.faces(f)[0].landmarks, sample.size)
        plate = colour.to_network(read_image(sample.path(f)).rgb())
        matte = read_image(store.matte_pattern(version).replace("####", f"{f:04d}")).pixels
        tiles = [label(_tile(plate, box), f"plate {f}"),
                 label(_tile(np.repeat(matte[..., :1], 3, -1) * 0.85 + plate * 0.15, box),
                       "painted" if f in card.labels.frames else "predicted occluder")]
        for mask, path in outs.items():
            merged = colour.to_network(read_image(path.replace("####", f"{f:04d}")).rgb())
            tiles.append(label(_tile(merged, box), f"--mask {mask}"))
        rows.append(np.hstack(tiles))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "occlusion-workflow.png")
    cv2.imwrite(out, stack_rows(rows)[..., ::-1])
    return out


def _view(landmarks: np.ndarray, size) -> tuple[slice, slice]:
    (x0, y0), (x1, y1) = landmarks.min(axis=0).astype(int), landmarks.max(axis=0).astype(int)
    cx, cy, half = (x0 + x1) // 2, (y0 + y1) // 2 + (y1 - y0) // 6, int(0.9 * (x1 - x0))
    return (slice(max(0, cy - half), min(size[1], cy + half)),
            slice(max(0, cx - half), min(size[0], cx + half)))


def _tile(rgb: np.ndarray, box) -> np.ndarray:
    crop = cv2.resize(np.ascontiguousarray(rgb[box]), (TILE, TILE), interpolation=cv2.INTER_AREA)
    return (np.clip(crop, 0, 1) * 255).round().astype(np.uint8)


if __name__ == "__main__":
    print(main())
