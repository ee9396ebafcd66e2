"""Face sets decoded once into memory, with the masks the losses need.

A face set folder (``faceset.json`` + aligned 8-bit sRGB PNG crops, see docs/architecture.md)
becomes one uint8 array ``N×S×S×5``: RGB, the face mask (hull of the landmarks with the forehead)
and the eyes-and-mouth region that the loss weights more. Batches are cut from it on the
training device (:mod:`faceplate.train.augment`), so no loader process is needed to keep the
device fed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import FaceplateError
from .config import HOLDOUT

MIN_HOLDOUT_SET = 20  # smaller sets train on every face


class FaceSetError(FaceplateError):
    """A face set folder is missing, empty or unreadable."""


@dataclass
class FaceSet:
    name: str  # the identity
    folder: str
    pixels: np.ndarray  # uint8 N×S×S×5: R, G, B, face mask, eyes+mouth region
    landmarks: np.ndarray  # float32 N×68×2 in crop pixels at S
    face_type: str
    fingerprint: str  # sha256 of faceset.json and the crops, first 16 hex digits

    def __len__(self) -> int:
        return len(self.pixels)

    def rgb(self) -> np.ndarray:
        """Float32 N×S×S×3 network-space 0–1 crops."""
        return self.pixels[..., :3].astype(np.float32) / 255.0

    def split(self, holdout: float = HOLDOUT) -> tuple[np.ndarray, np.ndarray]:
        """Indices (train, held out); see :func:`held_out`."""
        idx = np.arange(len(self))
        held = held_out(len(self), holdout)
        return idx[~held], idx[held]


def held_out(n: int, holdout: float = HOLDOUT) -> np.ndarray:
    """Which of ``n`` faces training keeps out, spread evenly through the set (boolean mask).

    ``holdout`` below 1 is a share (0.1: every 10th face, 0.25: every 4th), 1 or more a count
    of faces; sets under MIN_HOLDOUT_SET faces, and 0, hold none out. At least one face always
    stays in training."""
    if holdout < 0:
        raise FaceSetError(f"--holdout {holdout:g} is negative: give a share (0.1) or a count (20)")
    share = holdout if holdout < 1 else holdout / max(n, 1)
    if n < MIN_HOLDOUT_SET or share <= 0:
        return np.zeros(n, bool)
    share = min(share, (n - 1) / n)
    i = np.arange(n)
    return np.floor((i + 1) * share + 1e-9) > np.floor(i * share + 1e-9)


def face_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Hull of the 68 points with the brows lifted to cover the forehead, 0/255 uint8."""
    pts = np.asarray(landmarks, np.float32)
    nose = pts[30]
    forehead = pts[17:27] + 0.5 * (pts[17:27] - nose)
    hull = cv2.convexHull(np.concatenate([pts[:17], forehead]).round().astype(np.int32))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    return mask


def feature_region(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Eyes with brows, and mouth, grown a little: where a swap is judged first."""
    pts = np.asarray(landmarks, np.float32)
    region = np.zeros((size, size), np.uint8)
    for part in (np.r_[17:22, 36:42], np.r_[22:27, 42:48], np.r_[48:60]):
        cv2.fillConvexPoly(region, cv2.convexHull(pts[part].round().astype(np.int32)), 255)
    grow = max(3, size // 24) | 1
    return cv2.dilate(region, np.ones((grow, grow), np.uint8))


def load_faceset(folder: str, name: str, resolution: int) -> FaceSet:
    """Read and decode a face set folder (index through :mod:`faceplate.extract.faceset`) at
    the model's resolution."""
    from ..extract.faceset import INDEX
    from ..extract.faceset import load_faceset as load_index

    try:
        index = load_index(folder)
    except FaceplateError as exc:
        raise FaceSetError(f"face set {name}={folder}: {exc}") from None
    if not index.entries:
        raise FaceSetError(f"face set {name}={folder} holds no faces: extract from a shot where "
                           f"the face is visible")
    with open(os.path.join(folder, INDEX), "rb") as fh:
        digest = hashlib.sha256(fh.read())
    pixels, marks = [], []
    for i, face in enumerate(index.entries):
        path = index.path(i)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            raise FaceSetError(f"face set {name}: {path} is listed but missing") from None
        digest.update(data)
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FaceSetError(f"face set {name}: cannot decode {path}")
        scale = resolution / (index.size or bgr.shape[0])
        if bgr.shape[0] != resolution:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            bgr = cv2.resize(bgr, (resolution, resolution), interpolation=interp)
        lm = np.asarray(face.landmarks, np.float32) * scale
        if lm.shape != (68, 2):
            raise FaceSetError(f"face set {name}: {face.file} needs 68 landmarks")
        pixels.append(np.dstack([bgr[..., ::-1], face_mask(lm, resolution),
                                 feature_region(lm, resolution)]))
        marks.append(lm)
    return FaceSet(name, folder, np.stack(pixels), np.stack(marks), index.face_type,
                   digest.hexdigest()[:16])


def load_facesets(facesets: dict[str, str], resolution: int) -> list[FaceSet]:
    sets = [load_faceset(folder, name, resolution) for name, folder in facesets.items()]
    types = {s.face_type for s in sets}
    if len(types) > 1:
        raise FaceSetError(f"face sets mix face types {sorted(types)}: extract all identities "
                           f"with the same --face-type")
    return sets


def match_colour(source: FaceSet, target: FaceSet) -> None:
    """Move ``source``'s faces toward ``target``'s mean face colour (Lab mean and spread inside
    the face masks), in place: helps when two sets were shot under different light."""
    def stats(fs: FaceSet) -> tuple[np.ndarray, np.ndarray]:
        lab = cv2.cvtColor(fs.pixels[..., :3].reshape(-1, 1, 3), cv2.COLOR_RGB2LAB)
        inside = lab.reshape(-1, 3)[fs.pixels[..., 3].reshape(-1) > 127].astype(np.float32)
        return inside.mean(0), inside.std(0) + 1e-3

    (ms, ss), (mt, st) = stats(source), stats(target)
    flat = source.pixels[..., :3].reshape(-1, 1, 3)
    lab = cv2.cvtColor(flat, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab = np.clip((lab - ms) * (st / ss) + mt, 0, 255).astype(np.uint8)
    source.pixels[..., :3] = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).reshape(
        source.pixels[..., :3].shape)
