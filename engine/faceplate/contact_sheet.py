"""A contact sheet of a converted shot: what a supervisor looks at instead of reading logs.

One row per sampled frame: the plate, the aligned face from the plate, the same crop of the
merged result (the swap in context), the raw render (``faceraw``: the model's face before
colour match and blend), the region mattes (``faceregion``: eyes red, brows green, mouth blue,
skin grey, over the dimmed face), the merged frame, and its ``facemask.face`` matte. Everything is drawn from files on
disk (plate, ``alignments.json``, merged EXRs), so the sheet shows exactly what was delivered.

The alignments are in frame pixels; the plate and the merged frames are shown as stored (their
data windows: overscan included), and each face is cut from them with its alignment moved
onto that image's own pixel grid, so a plate with overscan or a cropped data window shows the
same faces as its frame-sized copy.
"""

from __future__ import annotations

import numpy as np
from faceplate_client.layout import FACERAW_CHANNELS, FACEREGION_CHANNELS

from .extract import alignments as alignments_io
from .face.align import warp_to_crop
from .io.colour import ColourSpaces
from .io.images import read_image, read_plate_frame, to_uint8, write_image
from .io.sequence import open_plate
from .pictures import fit, label, stack_rows

COLUMNS = ("plate", "aligned", "swapped", "faceraw", "faceregion", "merged", "facemask.face")
# faceregion's eyes, brows, mouth and skin as colours (sRGB) for the sheet.
REGION_COLOURS = np.array([[1.0, 0.25, 0.2], [0.3, 1.0, 0.3], [0.25, 0.45, 1.0],
                           [0.35, 0.35, 0.35]], np.float32)


def _layer(image, channels, fallback: np.ndarray) -> np.ndarray:
    if not all(c in image.channels for c in channels):
        return np.zeros(fallback.shape[:2] + (len(channels),), np.float32)
    return np.stack([image.channel(c) for c in channels], axis=-1)


def region_picture(regions: np.ndarray) -> np.ndarray:
    """faceregion (…×4) as one picture: each region in its colour, the strongest on top."""
    return np.clip(regions @ REGION_COLOURS, 0.0, 1.0)


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
        source = read_plate_frame(plate, frame)
        src = colour.to_network(source.rgb())
        out = read_image(merged.frame_path(frame))
        res = colour.to_network(out.rgb())
        matte = np.repeat(out.channel("facemask.face")[..., None], 3, axis=-1) \
            if "facemask.face" in out.channels else np.zeros_like(res)
        raw = colour.to_network(_layer(out, FACERAW_CHANNELS, res)[..., :3])
        regions = region_picture(_layer(out, FACEREGION_CHANNELS, res))
        faces = aligns.frames.get(frame, [])
        if faces:
            m = faces[0].matrix  # frame pixels: onto each image's stored pixels
            crops = [warp_to_crop(image, grid.to_array(matrix=m), tile) for image, grid in
                     ((src, source.frame), (res, out.frame), (raw, out.frame),
                      (regions, out.frame))]
            crops[3] = np.clip(crops[3] + 0.3 * crops[0], 0.0, 1.0)  # over the face, dimmed
        else:
            crops = [np.zeros((tile, tile, 3), np.float32)] * 4
        tiles = [fit(src, tile), *crops, fit(res, tile), fit(matte, tile)]
        labelled = [label(to_uint8(t), f"{name} {frame}" if i == 0 else name)
                    for i, (t, name) in enumerate(zip(tiles, COLUMNS))]
        sheet_rows.append(np.hstack([np.pad(t, ((2, 2), (2, 2), (0, 0))) for t in labelled]))
    sheet = stack_rows(sheet_rows)
    write_image(out_png, sheet.astype(np.float32) / 255.0, ["R", "G", "B"], pixel_type="uint8")
    return out_png
