"""The engine's log: a rotating file (a farm node's engine may run for weeks)."""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler

MAX_BYTES = 10 << 20
BACKUPS = 5


def log_to_file(path: str, verbose: bool = False) -> None:
    """Send the ``faceplate`` loggers to ``path`` (rotated at 10 MB, five old files kept)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                  encoding="utf-8")
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    logger = logging.getLogger("faceplate")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    os.chmod(path, 0o600)
