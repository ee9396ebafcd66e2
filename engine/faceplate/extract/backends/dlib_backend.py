"""dlib: HOG face detector and the 68-point shape predictor, from installed packages (offline).

Licence: the 68-point predictor was trained on iBUG 300-W, whose licence excludes commercial
use. It is here because it works everywhere with no weights to place; studios default to FAN.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from ...io.images import to_uint8
from .base import Backend, BackendError

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
FIVE_POINT_FILE = "shape_predictor_5_face_landmarks.dat"  # the descriptor's own alignment
CNN_FILE = "mmod_human_face_detector.dat"


def models_dir() -> str:
    """The ``models/`` folder of the installed face-recognition-models package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("dlib's models (face detection, landmarks, face descriptors) come "
                           "from the face-recognition-models package: pip install "
                           "face-recognition-models==0.3.0")
    return os.path.join(next(iter(spec.submodule_search_locations)), "models")


def model_path(name: str) -> str:
    path = os.path.join(models_dir(), name)
    if not os.path.isfile(path):
        raise BackendError(f"dlib model file missing: {path} (reinstall face-recognition-models)")
    return path


class DlibBackend(Backend):
    name = "dlib"
    min_face_px = 80.0  # HOG's 80 px window, no upsampling

    # HOG is cheap and needs faces of 80 px: search whole frames at up to 1920 px (a 4K
    # plate's faces from 160 px). With tracking this runs every tenth frame or so.
    DEFAULT_DETECT_SIZE = 1920

    def __init__(self, detect_size: int | None = None, upsample: int = 0):
        super().__init__(detect_size or self.DEFAULT_DETECT_SIZE)
        try:
            import dlib
        except ImportError:
            raise BackendError("the dlib backend needs dlib: pip install dlib-bin") from None
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(model_path(PREDICTOR_FILE))
        self._dlib = dlib
        self.upsample = upsample
        self.min_face_px = 80.0 / (2 ** upsample)

    def find_boxes(self, rgb):
        rects, scores, _ = self._detector.run(to_uint8(rgb), self.upsample, 0.0)
        return [((r.left(), r.top(), r.right() + 1, r.bottom() + 1), _score(s))
                for r, s in zip(rects, scores)]

    def landmarks_in_window(self, window, bbox):
        x0, y0, x1, y1 = bbox
        rect = self._dlib.rectangle(round(x0), round(y0), round(x1) - 1, round(y1) - 1)
        shape = self._predictor(to_uint8(window), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


class DlibCnnDetector(DlibBackend):
    """dlib's CNN (MMOD) face detector with the same 68-point predictor: far fewer false
    faces than HOG and better on turned heads, but ≈0.3 s for a 160 px window on one core, so
    it searches only windows (:meth:`detect_near`): to verify a doubtful face, or where a
    track lost its face."""

    name = "dlib-cnn"

    def __init__(self):
        super().__init__(detect_size=640)
        self.min_face_px = 40.0  # the window is resampled so a face is ≈80 px, MMOD's window
        self._cnn = self._dlib.cnn_face_detection_model_v1(model_path(CNN_FILE))

    def find_boxes(self, rgb):
        found = self._cnn(to_uint8(rgb), 0)
        return [((d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1),
                 _score(d.confidence)) for d in found]


def _score(svm_margin: float) -> float:
    """HOG's SVM margin squashed into 0–1 (0.5 at the detection threshold)."""
    return float(1.0 / (1.0 + np.exp(-2.0 * svm_margin)))
