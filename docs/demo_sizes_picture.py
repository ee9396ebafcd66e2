"""Draws docs/demo-sizes.png: the demo's swap at the plate's own pixels, the model drawn at 64 px
against the same 3 CPU minutes spent as 64 px then grown to 128 px.

Give two finished demo folders (`faceplate demo -o DIR`): one made by a version before the demo
grew (commit 8bea95f: `fast`, 64 px, for the whole budget), one by today's (64 px, grown to
128 px).
For one frame each row shows the plate's face, the model's raw render (`faceraw`) and the merged
face, cut at 1:1 plate pixels around the face; the caption has the detail ratio inside the matte
(the merged face's mean squared Laplacian over the plate's there).
Run: .venv/bin/python docs/demo_sizes_picture.py DEMO_64 DEMO_GROWN [FRAME]
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image, to_uint8, write_image
from faceplate.pictures import label, stack_rows
from faceplate_client.layout import FACERAW_CHANNELS

HALF = 120  # half the side of the cut, plate pixels
COLOURSPACE = "ACEScg"


def detail_ratio(merged: np.ndarray, plate: np.ndarray, matte: np.ndarray) -> float:
    def energy(rgb: np.ndarray) -> float:
        grey = np.ascontiguousarray(rgb @ np.float32([0.299, 0.587, 0.114]))
        return float(np.mean(cv2.Laplacian(grey, cv2.CV_32F)[matte] ** 2))

    return energy(merged) / max(energy(plate), 1e-12)


def row(demo: str, frame: int, caption: str) -> np.ndarray:
    colour = ColourSpaces(COLOURSPACE)
    out = read_image(os.path.join(demo, "comp", f"merged.{frame}.exr"))
    plate = read_image(os.path.join(demo, "plate", f"astronaut.{frame}.exr"))
    matte = out.channel("facemask.face")
    ys, xs = np.nonzero(matte > 0.5)
    cy, cx = int(ys.mean()), int(xs.mean())
    box = (slice(cy - HALF, cy + HALF), slice(cx - HALF, cx + HALF))
    raw = np.stack([out.channel(c) for c in FACERAW_CHANNELS[:3]], -1)
    tiles = [colour.to_network(img)[box] for img in (plate.rgb(), raw, out.rgb())]
    ratio = detail_ratio(tiles[2], tiles[0], matte[box] > 0.5)
    names = ["plate", "faceraw (the model's face)", f"merged: detail {ratio:.2f}x the plate's"]
    labelled = [label(to_uint8(t), f"{caption}: {n}" if i == 0 else n)
                for i, (t, n) in enumerate(zip(tiles, names))]
    return np.hstack([np.pad(t, ((2, 2), (2, 2), (0, 0))) for t in labelled])


def main() -> str:
    small, grown = sys.argv[1:3]
    frame = int(sys.argv[3]) if len(sys.argv) > 3 else 1012
    sheet = stack_rows([row(small, frame, "64 px, 3 min"),
                        row(grown, frame, "64 px 1.5 min, grown to 128 px 1.5 min")])
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo-sizes.png")
    write_image(path, sheet.astype(np.float32) / 255.0, ["R", "G", "B"], pixel_type="uint8")
    return path


if __name__ == "__main__":
    print(main())
