"""The Nuke plug-in's pictures: toolbar icons and the node-graph diagram of docs/compositor.md.

    .venv/bin/python tests/nuke_standin/pictures.py   # rewrites both (matplotlib)

Kept with the tests because it needs matplotlib, which the stdlib-only plug-in may not import.
"""

from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as mpatches
import matplotlib.pyplot as plt

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "nuke_plugin"))

import itertools

from faceplate_nuke.registry import COLOURS, NODES

ICON_PX = 24


def _rgb(cls: str) -> tuple:
    c = COLOURS[cls]
    return ((c >> 24) & 255) / 255, ((c >> 16) & 255) / 255, ((c >> 8) & 255) / 255


def _glyph(ax, cls: str) -> None:
    white = {"fill": False, "lw": 1.6, "ec": "white"}
    if cls == "FaceDetect":  # a face in a detection box
        ax.add_patch(mpatches.Ellipse((0.5, 0.5), 0.42, 0.54, **white))
        ax.add_patch(mpatches.Rectangle((0.18, 0.15), 0.64, 0.7, lw=1.0, ec="white",
                                        fill=False, ls="--"))
    elif cls == "FaceAlign":  # landmarks on a face outline
        ax.add_patch(mpatches.Ellipse((0.5, 0.5), 0.5, 0.62, **white))
        for x, y in ((0.4, 0.58), (0.6, 0.58), (0.5, 0.47), (0.42, 0.36), (0.58, 0.36)):
            ax.add_patch(mpatches.Circle((x, y), 0.04, color="white"))
    elif cls == "FaceSwap":  # two faces and a swap arrow
        ax.add_patch(mpatches.Ellipse((0.3, 0.5), 0.3, 0.4, **white))
        ax.add_patch(mpatches.Ellipse((0.7, 0.5), 0.3, 0.4, fc="white", ec="white"))
        ax.annotate("", (0.62, 0.85), (0.38, 0.85), arrowprops={"arrowstyle": "->",
                                                                     "color": "white", "lw": 1.4})
    elif cls == "FaceMerge":  # a face blended into the plate
        ax.add_patch(mpatches.Rectangle((0.15, 0.2), 0.7, 0.6, **white))
        ax.add_patch(mpatches.Ellipse((0.5, 0.5), 0.34, 0.44, fc="white", ec="white",
                                      alpha=0.6))
    else:  # the Faceplate menu: a face with a mask
        ax.add_patch(mpatches.Ellipse((0.5, 0.5), 0.5, 0.62, fc="white", ec="white"))


def write_icon(path: str, cls: str) -> None:
    fig = plt.figure(figsize=(1, 1), dpi=ICON_PX)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    colour = _rgb(cls) if cls in COLOURS else (0.25, 0.25, 0.28)
    ax.add_patch(mpatches.FancyBboxPatch((0.04, 0.04), 0.92, 0.92,
                                         boxstyle="round,pad=0,rounding_size=0.18",
                                         fc=colour, ec="none"))
    _glyph(ax, cls)
    fig.savefig(path, transparent=True)
    plt.close(fig)


def write_graph(path: str) -> None:
    """The compositor's node graph: Read → the four nodes → Write, with the Roto mask loop."""
    fig, ax = plt.subplots(figsize=(9, 6.2), dpi=110)
    ax.set_xlim(-2, 10)
    ax.set_ylim(0, 12)
    ax.axis("off")
    boxes = {"Read": (3, 11), "FaceDetect": (3, 9.2), "FaceAlign": (3, 7.4),
             "FaceSwap": (3, 5.6), "FaceMerge": (3, 3.8), "Write": (3, 2.0),
             "Roto": (7.2, 5.6), "Engine": (7.2, 9.2)}
    notes = {"Read": "plate.####.exr (ACEScg)", "FaceDetect": "faces + 68 landmarks",
             "FaceAlign": "track · select · smooth · align", "FaceSwap": "model → identity",
             "FaceMerge": "mask · erode · blur · colour", "Write": "RGBA + facemask.*",
             "Roto": "Export Roto (editable)", "Engine": "faceplate serve (socket)"}
    for name, (x, y) in boxes.items():
        colour = _rgb(name) if name in COLOURS else (0.45, 0.45, 0.48)
        ax.add_patch(mpatches.FancyBboxPatch((x - 1.3, y - 0.4), 2.6, 0.8,
                                             boxstyle="round,pad=0.05", fc=colour, ec="black"))
        ax.text(x, y + 0.05, name, ha="center", va="center", color="white", weight="bold")
        ax.text(x - 1.45 if x < 5 else x, y - 0.65 if x > 5 else y, notes[name],
                ha="right" if x < 5 else "center", va="center", fontsize=8, color="#333")
    chain = ["Read", "FaceDetect", "FaceAlign", "FaceSwap", "FaceMerge", "Write"]
    for a, b in itertools.pairwise(chain):
        ax.annotate("", boxes[b][:1] + (boxes[b][1] + 0.45,), boxes[a][:1] +
                    (boxes[a][1] - 0.45,), arrowprops={"arrowstyle": "->", "lw": 1.5})
    ax.annotate("", (7.2, 6.05), (4.3, 7.4), arrowprops={"arrowstyle": "->", "ls": "--",
                                                             "color": "#555"})
    ax.annotate("", (4.3, 3.9), (7.2, 5.15), arrowprops={"arrowstyle": "->", "lw": 1.5})
    ax.text(6.2, 4.2, "mask input", fontsize=8, color="#333")
    for y in (9.2, 7.4, 5.6, 3.8):
        ax.annotate("", (5.9, 9.2), (4.3, y), arrowprops={"arrowstyle": "<->", "lw": 0.6,
                                                             "color": "#888"})
    ax.text(-1.9, 0.6, "Process (or a farm render) sends each stage's missing frames to the "
            "engine;\nresults land in a versioned cache that each node's internal Read shows.",
            fontsize=8, color="#333")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    icons = os.path.join(REPO, "nuke_plugin", "icons")
    os.makedirs(icons, exist_ok=True)
    for cls in [*NODES, "Faceplate"]:
        write_icon(os.path.join(icons, f"{cls}.png"), cls)
    write_graph(os.path.join(REPO, "docs", "compositor_graph.png"))


if __name__ == "__main__":
    main()
