"""A contact sheet of a converted shot: what a supervisor looks at instead of reading logs.

One row per sampled frame: the plate, the aligned face from the plate, the same crop of the
merged result (the swap in context), the merged frame, and its ``facemask.face`` matte.
Everything is drawn from files on disk (plate, ``alignments.json``, merged EXRs), so the sheet
shows exactly what was delivered.
"""

from __future__ import annotations

import numpy as np

from .extract import alignments as alignments_io
from .face.align import warp_to_crop
from .io.colour import ColourSpaces
from .io.images import read_image, to_uint8, write_image
from .io.sequence import open_plate
from .pictures import fit, label, stack_rows

COLUMNS = ("plate", "aligned", "swapped", "merged", "facemask.face")






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
        tiles = [fit(src, tile), aligned, swapped, fit(res, tile), fit(matte, tile)]
        labelled = [label(to_uint8(t), f"{name} {frame}" if i == 0 else name)
                    for i, (t, name) in enumerate(zip(tiles, COLUMNS))]
        sheet_rows.append(np.hstack([np.pad(t, ((2, 2), (2, 2), (0, 0))) for t in labelled]))
    sheet = stack_rows(sheet_rows)
    write_image(out_png, sheet.astype(np.float32) / 255.0, ["R", "G", "B"], pixel_type="uint8")
    return out_png
