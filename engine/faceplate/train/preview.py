"""What a person looks at while a model trains: the preview sheet, the loss CSV and plot.

Preview sheet: one row per sample face (a fixed, un-augmented sample of each identity); the
columns are the face, its reconstruction, its swap into every other identity, the learned mask
and the swap's mask. Tiles are at least 128 px so a 64 px model is still readable, and at most
256 px so a 512 px model's sheet stays a picture one screen shows (and quick to write).
"""

from __future__ import annotations

import csv
import io

import cv2
import numpy as np

from ..io.atomic import write_bytes_atomic, write_text_atomic
from ..io.images import write_image

MIN_TILE = 128
MAX_TILE = 256
LABEL_H = 22


def _label(tile_w: int, text: str) -> np.ndarray:
    band = np.full((LABEL_H, tile_w, 3), 30, np.uint8)
    cv2.putText(band, text[: max(tile_w // 8, 4)], (4, LABEL_H - 7), cv2.FONT_HERSHEY_SIMPLEX,
                0.42, (230, 230, 230), 1, cv2.LINE_AA)
    return band.astype(np.float32) / 255.0


def preview_sheet(identities: list[str], samples: list[np.ndarray],
                  decode) -> np.ndarray:
    """``samples[i]`` are identity i's crops (K×S×S×3, 0–1); ``decode(crops, j)`` returns
    (faces, masks) from decoder j. Returns the sheet as float32 H×W×3 sRGB 0–1."""
    s = samples[0].shape[1]
    tile = min(max(s, MIN_TILE), MAX_TILE)
    n_ids = len(identities)
    rows = []
    for i, crops in enumerate(samples):
        own, own_mask = decode(crops, i)
        swaps = [decode(crops, j) for j in range(n_ids) if j != i]
        names = [identities[j] for j in range(n_ids) if j != i]
        cols = [crops, own] + [f for f, _ in swaps] + [
            np.repeat(own_mask[..., None], 3, -1), np.repeat(swaps[0][1][..., None], 3, -1)]
        for k in range(len(crops)):
            rows.append(np.concatenate(
                [cv2.resize(c[k], (tile, tile), interpolation=cv2.INTER_NEAREST if s < tile
                            else cv2.INTER_AREA) for c in cols], axis=1))
        header = [identities[i], "reconstruction"] + [f"as {n}" for n in names] + [
            "learned mask", "swap mask"]
        rows.insert(len(rows) - len(crops),
                    np.concatenate([_label(tile, t) for t in header], axis=1))
    return np.clip(np.concatenate(rows, axis=0), 0.0, 1.0).astype(np.float32)


def write_png(path: str, rgb: np.ndarray) -> None:
    write_image(path, rgb, ["R", "G", "B"], pixel_type="uint8")


def write_loss_csv(path: str, history: list[dict], identities: list[str]) -> None:
    buf = io.StringIO()
    fieldnames = ["step", "elapsed_s", *[f"loss_{n}" for n in identities]]
    writer = csv.DictWriter(buf, fieldnames=fieldnames, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(path, buf.getvalue())


def write_loss_plot(path: str, history: list[dict], identities: list[str]) -> None:
    """Loss per identity against step, log scale (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    steps = [row["step"] for row in history]
    for name in identities:
        ax.plot(steps, [row[f"loss_{name}"] for row in history], label=name, linewidth=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (DSSIM + L1 + mask)")
    if history and min(row[f"loss_{n}"] for row in history for n in identities) > 0:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())

