"""Tiles for the PNG sheets people look at (extraction preview, contact sheet).

Tiles are 8-bit RGB: OpenCV 5 draws text on 8-bit images only.
"""

from __future__ import annotations

import cv2
import numpy as np


def label(tile: np.ndarray, text: str) -> np.ndarray:
    """A copy of an 8-bit tile with a caption on a black band along its top."""
    out = np.ascontiguousarray(tile.copy())
    cv2.rectangle(out, (0, 0), (out.shape[1], 16), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def fit(image: np.ndarray, height: int) -> np.ndarray:
    """Resize to ``height`` keeping the aspect ratio."""
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)


def stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of tiles, one under the other, padded with black on the right to the widest."""
    width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
