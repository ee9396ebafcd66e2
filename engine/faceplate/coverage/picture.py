"""The coverage sheet a supervisor reads: where the shot's faces lie against the face set's,
and the worst-covered shot faces beside their nearest training faces.

One row per identity: yaw/pitch and mouth/eyes scatters (training faces grey, their mirror
images pale when flips count; shot faces green where covered, red where not), then a strip of
the worst-covered shot faces (top) over their nearest training faces (bottom).
"""

from __future__ import annotations

import numpy as np

from ..extract import alignments as alignments_file
from ..extract.faceset import FaceSet
from ..io.images import to_uint8, write_image
from ..pictures import label
from .descriptors import Descriptor
from .report import CoverageReport, IdentityCoverage
from .store import PlateReader

TILE = 128
WORST = 8


def write_picture(report: CoverageReport, facesets: dict[str, FaceSet],
                  descriptors: dict[str, list[Descriptor]], path: str) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shot = alignments_file.load(report.shot)
    reader = PlateReader(shot)
    rows = len(report.identities)
    fig = Figure(figsize=(17, 7.6 * rows + 0.4), dpi=100)
    grid = fig.add_gridspec(2 * rows, 3, width_ratios=[1, 1, 1.35],
                            height_ratios=[1, 0.62] * rows, wspace=0.25, hspace=0.35)
    for r, cov in enumerate(report.identities):
        descs = descriptors[cov.identity]
        _scatter(fig.add_subplot(grid[2 * r, 0]), cov, report, descs, "yaw", "pitch",
                 "yaw (° screen right)", "pitch (° up)")
        _scatter(fig.add_subplot(grid[2 * r, 1]), cov, report, descs, "mouth_open", "eyes",
                 "mouth opening (inter-ocular)", "eye opening (inter-ocular)")
        _gap_list(fig.add_subplot(grid[2 * r, 2]), cov, len(report.shot_faces))
        ax = fig.add_subplot(grid[2 * r + 1, :])
        ax.imshow(_strip(cov, shot, reader, facesets[cov.identity]))
        ax.set_axis_off()
        ax.set_title(f"worst-covered shot faces (top: frame, distance in steps) over the "
                     f"nearest face of {cov.identity} (bottom: its source frame)", fontsize=10)
    n = len(report.shot_faces)
    fig.suptitle(f"Coverage of {report.shot} ({n} faces): "
                 + ", ".join(f"{c.identity} covers {c.covered}/{n}" for c in report.identities)
                 + f"  (limit {report.settings.max_distance:g} steps)", fontsize=13)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    write_image(path, rgba[..., :3].astype(np.float32) / 255.0, ["R", "G", "B"],
                pixel_type="uint8")
    return path


def _value(d: Descriptor, name: str) -> float:
    return (d.eye_left + d.eye_right) / 2 if name == "eyes" else float(getattr(d, name))


def _scatter(ax, cov: IdentityCoverage, report: CoverageReport, descs: list[Descriptor],
             x: str, y: str, xlabel: str, ylabel: str) -> None:
    if report.settings.mirror:
        mirrored = [d.mirrored() for d in descs]
        ax.scatter([_value(d, x) for d in mirrored], [_value(d, y) for d in mirrored], s=9,
                   c="#cfcfcf", label=f"{cov.identity} mirrored")
    ax.scatter([_value(d, x) for d in descs], [_value(d, y) for d in descs], s=9, c="#6f6f6f",
               label=f"face set {cov.identity}")
    far = np.array([m.distance > report.settings.max_distance for m in cov.matches])
    sx = np.array([_value(s.descriptor, x) for s in report.shot_faces])
    sy = np.array([_value(s.descriptor, y) for s in report.shot_faces])
    ax.scatter(sx[~far], sy[~far], s=12, c="#2ca02c", label="shot, covered")
    if far.any():
        ax.scatter(sx[far], sy[far], s=16, c="#d62728", label="shot, not covered")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")


def _gap_list(ax, cov: IdentityCoverage, shot_faces: int, most: int = 14) -> None:
    """The gaps in words, as the report lists them."""
    import textwrap

    ax.set_axis_off()
    lines = [(f"{cov.identity}: {cov.covered} of {shot_faces} shot faces covered by "
             f"{cov.faceset_faces} training faces"), ""]
    for g in cov.gaps[:most]:
        lines += textwrap.wrap(g.text, 62, subsequent_indent="    ")
    if len(cov.gaps) > most:
        lines.append(f"... and {len(cov.gaps) - most} more gaps (see the JSON report)")
    if not cov.gaps:
        lines.append("every shot face has a training face close by")
    lines += [""] + [f"note: {n}" for n in cov.notes]
    ax.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", fontsize=9, family="monospace",
            transform=ax.transAxes)


def _strip(cov: IdentityCoverage, shot, reader: PlateReader, faceset: FaceSet) -> np.ndarray:
    """Two rows of tiles: the worst shot faces over their matches; each gap's worst face
    first, then the worst of the rest, a few frames apart where the shot allows."""
    by_frame = {(m.frame, m.track): m for m in cov.matches}
    chosen = [max((by_frame[(f, g.track)] for f in g.frames), key=lambda m: m.distance)
              for g in sorted(cov.gaps, key=lambda g: -g.worst_distance)][:WORST]
    apart = 3 if len(cov.matches) > 8 * WORST else 0
    for m in sorted(cov.matches, key=lambda m: -m.distance):
        if len(chosen) == WORST:
            break
        if all(abs(m.frame - c.frame) > apart or m.track != c.track for c in chosen):
            chosen.append(m)
    chosen.sort(key=lambda m: m.frame)
    top, bottom = [], []
    for m in chosen:
        face = next(f for f in shot.faces(m.frame) if f.track == m.track)
        crop, _ = reader.crop(m.frame, face, TILE)
        top.append(label(to_uint8(crop), f"{m.frame}  d={m.distance:.1f}"))
        train = _resize(faceset.image(m.nearest))
        if m.mirrored:
            train = train[:, ::-1]
        entry = faceset.entries[m.nearest]
        name = f"{cov.identity} frame {entry.frame}" + (" flipped" if m.mirrored else "")
        bottom.append(label(to_uint8(train), name))
    pad = np.zeros((TILE, 4, 3), np.uint8)
    rows = [np.hstack([t for tile in row for t in (tile, pad)]) for row in (top, bottom)]
    return np.vstack([rows[0], np.zeros((4, rows[0].shape[1], 3), np.uint8), rows[1]])


def _resize(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(rgb, (TILE, TILE), interpolation=cv2.INTER_AREA)
