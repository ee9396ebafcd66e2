"""The engine's log: a rotating file (a farm node's engine may run for weeks), private (0600,
rotated files too), one line per record: control characters in messages (a client's name, a
request id) are escaped, so no client can forge a log line.
"""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler

MAX_BYTES = 10 << 20
BACKUPS = 5


class _PrivateRotatingHandler(RotatingFileHandler):
    """Every file it opens is created 0600 (the umask would make new ones 0644)."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


def printable(text: str) -> str:
    """``text`` with control and other unprintable characters escaped (``\\n``, ``\\x1b``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class _OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)


def log_to_file(path: str, verbose: bool = False, max_bytes: int = MAX_BYTES) -> None:
    """Send the ``faceplate`` loggers to ``path`` (rotated at ``max_bytes``, five old files
    kept). Tracebacks keep their lines; messages are escaped."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    handler = _PrivateRotatingHandler(path, maxBytes=max_bytes, backupCount=BACKUPS,
                                      encoding="utf-8")
    handler.setFormatter(_OneLineFormatter(
        "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    logger = logging.getLogger("faceplate")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
