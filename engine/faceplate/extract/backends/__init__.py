"""Detection + landmark backends behind one interface: ``get_backend(name)``.

``fan`` (S3FD + FAN 2D, the studio default when its weights are on disk), ``dlib`` (HOG + the
68-point predictor, offline, non-commercial landmark model) and ``auto`` (fan when its weights
are present, else dlib; the chosen backend's ``name`` says which).
"""

from __future__ import annotations

import logging

from .base import Backend, BackendError, Detection

__all__ = ["BACKENDS", "Backend", "BackendError", "Detection", "get_backend"]

BACKENDS = ("auto", "fan", "dlib")
log = logging.getLogger(__name__)


def get_backend(name: str = "auto", device: str = "auto", weights_dir: str | None = None, *,
                detect_size: int | None = None, download: bool = False) -> Backend:
    """Start a backend. ``download`` is the explicit opt-in to fetch missing fan weights."""
    from . import fan_backend

    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")
    if name == "auto":
        if download or fan_backend.find_weights(weights_dir) is not None:
            name = "fan"
        else:
            name = "dlib"
            log.info("backend auto: fan weights not found (%s), using dlib",
                     ", ".join(fan_backend.search_dirs(weights_dir)))
    if name == "fan":
        return fan_backend.FanBackend(device, weights_dir, detect_size, download)
    from .dlib_backend import DlibBackend

    return DlibBackend(detect_size)
