"""Draws docs/plate-rows.png: which rows of a 4K frame convert decodes, merges and compresses
again, and which it copies from the plate as they are (faceplate.io.plate_rows).

The plate is the astronaut (scikit-image) as a half-float zip ACEScg EXR at 4096×2160 with a
680 px face (faceplate.samples), converted with the null swap; the rows come from the files
themselves: a row is "copied" when its chunk in the output is the plate's, byte for byte.
Run: .venv/bin/python docs/plate_rows.py
"""

from __future__ import annotations

import os
import struct
import tempfile

import cv2
import numpy as np
from faceplate.convert.merge import merge_reach
from faceplate.convert.pipeline import convert_shot, placements
from faceplate.convert.settings import MergeSettings
from faceplate.convert.swap import PassthroughModel
from faceplate.convert.writer import FrameWriter, OutputSettings
from faceplate.extract import alignments as alignments_io
from faceplate.io.colour import ColourSpaces
from faceplate.io.images import read_image, to_uint8
from faceplate.pictures import label
from faceplate.samples import make_shot, write_true_alignments
from faceplate_client.exr import read_layout

WIDTH = 1024  # the picture's width; the frame is shown at a quarter of its size
STRIP = 28  # the key strip left of the frame
COPIED, READ, WRITTEN = (90, 90, 90), (70, 130, 220), (240, 150, 40)


def _chunks(path: str) -> list[bytes]:
    """The first part's chunks as stored: first line, size and data."""
    layout = read_layout(path)
    with open(path, "rb") as fh:
        data = fh.read()
    out = []
    for offset in layout.parts[0].offsets:
        start = offset + layout.lead - 4
        (size,) = struct.unpack_from("<i", data, start + 4)
        out.append(data[start:start + 8 + size])
    return out


def main() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        sample = make_shot("astronaut", tmp, frames=1, size=(4096, 2160), face_px=680.0)
        write_true_alignments(sample, tmp)
        f = sample.frames[0]
        out = os.path.join(tmp, "out", "o.####.exr")
        model, settings = PassthroughModel(256), MergeSettings()
        convert_shot(sample.pattern, tmp, model, "plate", out, settings=settings)
        plate_path, out_path = sample.path(f), out.replace("####", str(f))
        shot = alignments_io.load(tmp)
        faces = placements(shot.frames[f], shot.face_type, model)
        rows = FrameWriter(OutputSettings(out)).plate_rows(plate_path)
        assert rows is not None, "the sample plate's rows should be copied"
        reach = merge_reach(faces, 256, settings, (4096, 2160))
        read = rows.band(reach.y0, reach.y1)
        lines = rows.part.header.lines() or 1
        same = [a == b for a, b in zip(_chunks(plate_path), _chunks(out_path))]
        colour = ColourSpaces(sample.colourspace)
        shown = to_uint8(np.clip(colour.to_network(read_image(plate_path).rgb()), 0, 1))
    height = 2160 * WIDTH // 4096
    frame = cv2.resize(shown, (WIDTH, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    kind = np.zeros(2160, np.uint8)  # 0 copied, 1 read only, 2 read and written again
    kind[read[0]:read[1]] = 1
    for index, copied in enumerate(same):
        if not copied:
            kind[index * lines:(index + 1) * lines] = 2
    counts = np.bincount(kind, minlength=3) / kind.size
    kind = kind[(np.arange(height) * 2160) // height]
    frame[kind == 0] *= 0.35  # the copied rows: never decoded, never compressed
    written = np.nonzero(kind == 2)[0]
    for y in (written.min(), written.max()):  # the band written again, outlined
        frame[max(y - 1, 0):y + 2] = WRITTEN
    strip = np.zeros((height, STRIP, 3), np.float32)
    for k, c in enumerate((COPIED, READ, WRITTEN)):
        strip[kind == k] = c
    picture = np.hstack([strip, np.full((height, 4, 3), 255.0), frame]).astype(np.uint8)
    key = np.full((64, picture.shape[1], 3), 255, np.uint8)
    for i, (c, text) in enumerate(
            ((COPIED, f"copied from the plate as stored: {counts[0]:.0%} of the rows"),
             (READ, f"decoded for the merge and the crop, copied too: {counts[1]:.0%}"),
             (WRITTEN, f"decoded, merged and compressed again: {counts[2]:.0%}"))):
        y = 8 + 18 * i
        key[y:y + 12, 8:8 + STRIP] = c
        cv2.putText(key, text, (8 + STRIP + 8, y + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (20, 20, 20), 1, cv2.LINE_AA)
    picture = np.vstack([label(picture, "4K plate, 680 px face: the rows of the merged EXR's "
                                        "rgba part"), key])
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plate-rows.png")
    cv2.imwrite(path, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    return path


if __name__ == "__main__":
    print(main())
