"""What a face looks like, in the few numbers that decide whether a model can reproduce it.

Head pose comes from fitting a rough 3D mean face to the rigid landmarks (eye corners, nose,
mouth corners) with ``cv2.solvePnP``; expression from landmark distances in inter-ocular units
(the frontal-equivalent distance, so a turned head does not read as a wider-open mouth);
lighting from a plane fitted to the log luminance of the face in the aligned crop; sharpness
from the Laplacian of that crop at a fixed size.

Conventions: yaw > 0 the face turns toward screen right, pitch > 0 it looks up, roll > 0 it is
rotated clockwise on screen (all degrees). ``key_x`` > 0: the face's screen-right side is
brighter, ``key_y`` > 0: its lower half is (both in stops from the centre to the face's edge).
``exposure``: the face's mean luminance in stops from 18% grey.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from ..extract.curate import blur_score
from ..extract.smooth import interocular
from ..face.mask import landmark_mask
from ..face.meanface import LEFT_EYE, MEAN_FACE, RIGHT_EYE

VERSION = 1  # bump when a measurement changes, so stored descriptors are recomputed
CROP_SIZE = 128  # lighting and sharpness are measured on the aligned crop at this size

# Depth of each mean-face point behind the nose tip, in face widths (jaw to jaw = 1), from
# typical adult head proportions: eye corners ~2.7 cm and the ear-level jaw ~8 cm behind the
# tip of the nose on a 14 cm wide face. Rough on purpose: pose is read to a few degrees.
_JAW = [-0.12 - 0.45 * (abs(i - 8) / 8) ** 1.5 for i in range(17)]
_BROWS = [-0.30, -0.24, -0.20, -0.18, -0.16, -0.16, -0.18, -0.20, -0.24, -0.30]
_NOSE = [-0.17, -0.12, -0.06, 0.0, -0.12, -0.07, -0.05, -0.07, -0.12]
_EYES = [-0.22, -0.16, -0.16, -0.17, -0.16, -0.16, -0.17, -0.16, -0.16, -0.22, -0.16, -0.16]
_MOUTH = [-0.18, -0.11, -0.08, -0.07, -0.08, -0.11, -0.18, -0.11, -0.09, -0.08, -0.09, -0.11,
          -0.16, -0.09, -0.09, -0.09, -0.16, -0.09, -0.09, -0.09]
DEPTH = np.array(_JAW + _BROWS + _NOSE + _EYES + _MOUTH)
# Model coordinates: x right, y down (the mean face's), z away from the camera.
MEAN_FACE_3D = np.column_stack([MEAN_FACE[:, 0] - 0.5, MEAN_FACE[:, 1], -DEPTH])

# Points that move with the skull, not with expression: nose, eye corners, mouth corners.
RIGID = np.array([27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45, 48, 54])
FOCAL = 20.0  # focal length in frontal inter-ocular distances: a face about 10 widths away
_MODEL_IO = float(interocular(MEAN_FACE))


@dataclass(frozen=True)
class Descriptor:
    yaw: float
    pitch: float
    roll: float
    mouth_open: float
    smile: float
    eye_right: float  # the subject's right eye (image left)
    eye_left: float
    brow: float
    key_x: float
    key_y: float
    exposure: float
    sharpness: float

    def to_json(self) -> dict:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict) -> Descriptor:
        return cls(**{f.name: float(d[f.name]) for f in fields(cls)})

    def mirrored(self) -> Descriptor:
        """The descriptor of this face flipped left-right (training flips faces at random)."""
        return Descriptor(-self.yaw, self.pitch, -self.roll, self.mouth_open, self.smile,
                          self.eye_left, self.eye_right, self.brow, -self.key_x, self.key_y,
                          self.exposure, self.sharpness)


NAMES = tuple(f.name for f in fields(Descriptor))


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Model → camera rotation for a head pose in degrees (roll about the face's own axis
    first, then pitch, then yaw): the inverse of :func:`pose_angles`."""
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(-y), 0, math.sin(-y)], [0, 1, 0], [-math.sin(-y), 0, math.cos(-y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(-p), -math.sin(-p)], [0, math.sin(-p), math.cos(-p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def pose_angles(rot: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a model → camera rotation."""
    forward = -rot[:, 2]  # the face looks along model −z
    yaw = math.atan2(forward[0], -forward[2])
    pitch = math.atan2(-forward[1], math.hypot(forward[0], forward[2]))
    rest = rotation(math.degrees(yaw), math.degrees(pitch), 0.0).T @ rot
    roll = math.atan2(rest[1, 0], rest[0, 0])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """(yaw, pitch, roll, frontal inter-ocular distance in pixels) from 68 image landmarks.

    The camera looks straight at the face (principal point on the landmarks' centre): what
    matters for coverage is the head's pose relative to the line of sight.
    """
    pts = np.asarray(landmarks, np.float64)
    centre = pts[RIGID].mean(axis=0)
    io = float(interocular(pts))
    focal = FOCAL * io
    camera = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]])
    try:
        ok, rvec, tvec = cv2.solvePnP(MEAN_FACE_3D[RIGID], pts[RIGID], camera, None,
                                      flags=cv2.SOLVEPNP_SQPNP)
    except cv2.error:
        ok = False
    if not ok or io < 1e-3 or tvec[2, 0] <= 0:  # degenerate landmarks: frontal, 2D size
        return 0.0, 0.0, _eye_line_angle(pts), max(io, 1e-3)
    rot, _ = cv2.Rodrigues(rvec)
    yaw, pitch, roll = pose_angles(rot)
    return yaw, pitch, roll, focal * _MODEL_IO / float(tvec[2, 0])


def expression(landmarks: np.ndarray, yaw: float, pitch: float, io: float) -> dict[str, float]:
    """Mouth opening and width, each eye's opening and the brows' height above the eye line,
    in frontal inter-ocular units; vertical measures are divided by cos(pitch), widths by cos(yaw)."""
    pts = np.asarray(landmarks, np.float64)

    def gap(pairs) -> float:
        return float(np.mean([np.linalg.norm(pts[a] - pts[b]) for a, b in pairs])) / io

    vertical = 1.0 / max(math.cos(math.radians(pitch)), 0.3)
    eye_r, eye_l = pts[RIGHT_EYE].mean(axis=0), pts[LEFT_EYE].mean(axis=0)
    across = (eye_l - eye_r) / max(float(np.linalg.norm(eye_l - eye_r)), 1e-9)
    up = np.array([across[1], -across[0]])  # perpendicular to the eye line, towards the brows
    brow = float(((pts[17:27] - (eye_r + eye_l) / 2) @ up).mean()) / io
    return {
        "mouth_open": gap([(61, 67), (62, 66), (63, 65)]) * vertical,
        "smile": gap([(48, 54)]) / max(math.cos(math.radians(yaw)), 0.3),
        "eye_right": gap([(37, 41), (38, 40)]) * vertical,
        "eye_left": gap([(43, 47), (44, 46)]) * vertical,
        "brow": float(brow) * vertical,
    }


def lighting(crop: np.ndarray, crop_landmarks: np.ndarray) -> tuple[float, float, float]:
    """(key_x, key_y, exposure) of the face in an aligned network-space crop: a plane fitted
    to log2 luminance over the skin (the landmark matte less eyes and mouth), its slopes given
    from centre to edge in stops."""
    rgb = np.clip(np.asarray(crop, np.float32), 0.0, 1.0)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    lum = linear @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    pts = np.asarray(crop_landmarks, np.float64)
    matte = (landmark_mask(pts, lum.shape) > 0.5).astype(np.uint8)
    for part in (pts[36:42], pts[42:48], pts[60:68]):  # eyes and an open mouth are not skin
        cv2.fillConvexPoly(matte, cv2.convexHull(np.round(part).astype(np.int32)), 0)
    matte = matte.astype(bool)
    if matte.sum() < 16:
        return 0.0, 0.0, 0.0
    ys, xs = np.nonzero(matte)
    stops = np.log2(np.maximum(lum[ys, xs], 1e-4) / 0.18)
    half_w = max((pts[:, 0].max() - pts[:, 0].min()) / 2, 1.0)
    half_h = max((pts[:, 1].max() - pts[:, 1].min()) / 2, 1.0)
    cx, cy = xs.mean(), ys.mean()
    design = np.column_stack([np.ones_like(stops), (xs - cx) / half_w, (ys - cy) / half_h])
    (level, slope_x, slope_y), *_ = np.linalg.lstsq(design, stops, rcond=None)
    return float(slope_x), float(slope_y), float(level)


def describe(landmarks: np.ndarray, crop: np.ndarray, crop_landmarks: np.ndarray) -> Descriptor:
    """One face's descriptor: ``landmarks`` in the image the face was found in (for roll),
    ``crop`` the aligned network-space crop (any size) and its landmarks in crop pixels."""
    yaw, pitch, roll, io = head_pose(landmarks)
    expr = expression(landmarks, yaw, pitch, io)
    size = crop.shape[0]
    small = cv2.resize(np.asarray(crop, np.float32), (CROP_SIZE, CROP_SIZE),
                       interpolation=cv2.INTER_AREA) if size != CROP_SIZE else crop
    small_landmarks = (np.asarray(crop_landmarks, np.float64) + 0.5) * CROP_SIZE / size - 0.5
    key_x, key_y, exposure = lighting(small, small_landmarks)
    return Descriptor(yaw, pitch, roll, key_x=key_x, key_y=key_y, exposure=exposure,
                      sharpness=blur_score(small) * 1000.0, **expr)


def _eye_line_angle(pts: np.ndarray) -> float:
    d = pts[LEFT_EYE].mean(axis=0) - pts[RIGHT_EYE].mean(axis=0)
    return math.degrees(math.atan2(d[1], d[0]))
