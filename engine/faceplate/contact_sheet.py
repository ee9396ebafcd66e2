"""A contact sheet of a converted shot: what a supervisor looks at instead of reading logs.

One row per sampled frame: the plate, the aligned face from the plate, the same crop of the
merged result (the swap in context), the merged frame, and its ``facemask.face`` matte.
Everything is drawn from files on disk (plate, ``alignments.json``, merged EXRs), so the sheet
shows exactly what was delivered.
"""

from __future__ import annotations

import cv2
import numpy as np

from .extract import alignments as alignments_io
from .extract.align import warp_to_crop
from .io.colour import ColourSpaces
from .io.images import read_image, write_image
from .io.sequence import open_plate

COLUMNS = ("plate", "aligned", "swapped", "merged", "facemask.face")


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    """An 8-bit copy of a 0–1 tile with a caption (OpenCV 5 draws text on 8-bit images only)."""
    out = np.ascontiguousarray(np.round(np.clip(tile, 0.0, 1.0) * 255.0).astype(np.uint8))
    cv2.rectangle(out, (0, 0), (out.shape[1], 18), (0, 0, 0), thickness=-1)
    cv2.putText(out, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def _fit(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)


def contact_sheet(plate_path: str, shot_dir: str, merged_path: str, out_png: str, *,
                  colourspace: str, rows: int = 4, tile: int = 192) -> str:
    """Write ``out_png`` and return its path. ``merged_path`` is the merged sequence pattern."""
    aligns = alignments_io.load(shot_dir)
    merged = open_plate(merged_path)
    frames = [f for f in merged.frames if aligns.frames.get(f)]
    if not frames:
        frames = list(merged.frames)
    count = min(rows, len(frames))
    picks = [frames[round(i * (len(frames) - 1) / max(count - 1, 1))] for i in range(count)]
    colour = ColourSpaces(colourspace)
    plate = open_plate(plate_path)
    sheet_rows = []
    for frame in picks:
        src = colour.to_network(read_image(plate.frame_path(frame)).rgb())
        out = read_image(merged.frame_path(frame))
        res = colour.to_network(out.rgb())
        matte = np.repeat(out.channel("facemask.face")[..., None], 3, axis=-1) \
            if "facemask.face" in out.channels else np.zeros_like(res)
        faces = aligns.frames.get(frame, [])
        if faces:
            m = faces[0].matrix
            aligned, swapped = warp_to_crop(src, m, tile), warp_to_crop(res, m, tile)
        else:
            aligned = swapped = np.zeros((tile, tile, 3), np.float32)
        tiles = [_fit(src, tile), aligned, swapped, _fit(res, tile), _fit(matte, tile)]
        labelled = [_label(t, f"{name} {frame}" if i == 0 else name)
                    for i, (t, name) in enumerate(zip(tiles, COLUMNS))]
        sheet_rows.append(np.hstack([np.pad(t, ((2, 2), (2, 2), (0, 0))) for t in labelled]))
    width = max(r.shape[1] for r in sheet_rows)
    sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in sheet_rows])
    write_image(out_png, sheet.astype(np.float32) / 255.0, ["R", "G", "B"], pixel_type="uint8")
    return out_png
