"""Draws docs/stabilised-workflow.png: paint on the still face, and it lands on the moving plate.

The plate is the bundled public-domain astronaut moved through a sample shot (faceplate.samples);
its faces are found with dlib and stabilised with ``faceplate stabilise``. One paint stroke (a
cross beside the mouth) is drawn once on the still face; the plate_to_face ST map carries it onto
every frame, as Nuke's STMap does in the graph Export Stabilised builds.
Run: .venv/bin/python docs/stabilised_workflow.py
"""

from __future__ import annotations

import os
import tempfile

import cv2
import numpy as np
from faceplate.extract.pipeline import extract_shot
from faceplate.face.stmap import apply_stmap
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image, to_uint8
from faceplate.pictures import fit, label, stack_rows
from faceplate.samples import make_shot
from faceplate.stabilise import stabilise_shot

TILE, SIZE, SHOWN = 200, 256, (1001, 1006, 1011)


def main() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        sample = make_shot("astronaut", os.path.join(tmp, "plate"), frames=12,
                           size=(640, 360), face_px=150.0)
        extract_shot(sample.pattern, tmp, backend="dlib", preview=False)
        stabilise_shot(tmp, os.path.join(tmp, "stab", "face.####.exr"), size=SIZE)
        colour = ColourSpaces(sample.colourspace)
        paint = np.zeros((SIZE, SIZE, 4), np.float32)  # premultiplied: colour × alpha
        for a, b in (((150, 140), (190, 180)), ((190, 140), (150, 180))):
            cv2.line(paint, a, b, (0.1, 0.9, 1.0, 1.0), 6, cv2.LINE_AA)
        rows = []
        for f in SHOWN:
            plate = read_image(sample.path(f)).rgb()
            face = read_image(os.path.join(tmp, "stab", f"face.{f}.exr")).rgb()
            to_face = read_image(os.path.join(tmp, "stab", f"plate_to_face.{f}.exr"),
                                 display_window=True).pixels
            painted = paint[..., :3] + face * (1 - paint[..., 3:])
            landed = apply_stmap(paint, to_face, cv2.INTER_CUBIC)
            fixed = landed[..., :3] + plate * (1 - landed[..., 3:])

            def show(rgb: np.ndarray, text: str) -> np.ndarray:
                return label(fit(to_uint8(np.clip(colour.to_network(rgb), 0, 1)), TILE), text)

            rows.append(np.hstack([show(plate, f"plate {f}"), show(face, "stabilised face"),
                                   show(painted, "paint on the still face"),
                                   show(fixed, "STMap: paint on the plate")]))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stabilised-workflow.png")
    cv2.imwrite(path, cv2.cvtColor(stack_rows(rows), cv2.COLOR_RGB2BGR))
    return path


if __name__ == "__main__":
    print(main())
