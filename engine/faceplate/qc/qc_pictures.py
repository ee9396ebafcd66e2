"""The QC page's pictures: every check's curve on one time axis, and the worst frames' strips.

The curves share the frame axis; cuts are dashed verticals, each check's warn and fail
thresholds are horizontal lines, and the frames that fail it are shaded. A worst frame's strip
is plate | swap | merged | matte: the face from the plate and from the merged frame, the whole
merged frame, and the merged frame's ``facemask.face``.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

from ..io.atomic import write_bytes_atomic
from ..io.images import to_uint8, write_image
from ..pictures import fit, label
from .frame_figures import FaceCrops, FrameFigures
from .thresholds import CHECKS, QcSettings
from .verdicts import Verdict

STATUS_COLOURS = {"pass": "#2e7d32", "warn": "#ef6c00", "fail": "#c62828", "n/a": "#757575"}


def write_curves(path: str, figures: list[FrameFigures], table: list[Verdict],
                 settings: QcSettings, cuts: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    frames = [f.frame for f in figures]
    fig = Figure(figsize=(10, 1.7 * len(CHECKS) + 0.6), dpi=90)
    axes = fig.subplots(len(CHECKS), 1, sharex=True)
    by_name = {v.check.name: v for v in table}
    for ax, check in zip(axes, CHECKS):
        values = [np.nan if f.values.get(check.name) is None else f.values[check.name]
                  for f in figures]
        verdict = by_name[check.name]
        colour = STATUS_COLOURS[verdict.status]
        ax.plot(frames, values, color="#1565c0", linewidth=1.4, marker=".", markersize=4)
        if check.name == "confidence":
            for part in ("detection", "landmark", "reconstruction"):
                ax.plot(frames, [f.parts.get(part, np.nan) for f in figures], linewidth=0.8,
                        alpha=0.6, label=part)
            ax.legend(loc="lower left", fontsize=7, ncol=3, frameon=False)
        warn, fail = check.thresholds(settings)
        ax.axhline(warn, color=STATUS_COLOURS["warn"], linewidth=0.8, linestyle="--")
        ax.axhline(fail, color=STATUS_COLOURS["fail"], linewidth=0.8, linestyle="--")
        for frame in verdict.failing:
            ax.axvspan(frame - 0.5, frame + 0.5, color=STATUS_COLOURS["fail"], alpha=0.15,
                       linewidth=0)
        for cut in cuts:
            ax.axvline(cut - 0.5, color="black", linewidth=0.8, linestyle=":")
        ax.set_ylabel(check.title, fontsize=8, color=colour)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.25)
    axes[-1].set_xlabel("frame (dotted: cuts; dashed: warn and fail thresholds; shaded: failing)",
                        fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())


def write_strip(path: str, frame: int, crops: FaceCrops, merged_frame: np.ndarray,
                tile: int = 200) -> None:
    """plate | swap | merged | matte for one face of one frame (8-bit PNG)."""
    matte = np.repeat(crops.matte[..., None], 3, axis=-1)
    tiles = [cv2.resize(crops.plate, (tile, tile), interpolation=cv2.INTER_AREA),
             cv2.resize(crops.merged, (tile, tile), interpolation=cv2.INTER_AREA),
             fit(np.clip(merged_frame, 0, 1), tile),
             cv2.resize(np.clip(matte, 0, 1), (tile, tile), interpolation=cv2.INTER_AREA)]
    names = (f"plate {frame}", "swap", "merged", "matte")
    strip = np.hstack([np.pad(label(to_uint8(t), n), ((2, 2), (2, 2), (0, 0)))
                       for t, n in zip(tiles, names)])
    write_image(path, strip.astype(np.float32) / 255.0, ["R", "G", "B"], pixel_type="uint8")
