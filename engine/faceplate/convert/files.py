"""Atomic writes of convert's own small files (swap-cache entries, provenance sidecars).

Temporary file in the same folder, then a rename: readers never see half a file. mkstemp makes
its files 0600; ours are shared (farm workers, other artists), so they get what a plain
``open()`` would have given: 0666 less the umask.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import IO

_UMASK = os.umask(0)  # read once, at import: os.umask is process-wide and not thread-safe
os.umask(_UMASK)


def write_atomic(path: str, write: Callable[[IO[bytes]], object]) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
