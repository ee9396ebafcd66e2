"""Atomic file writes: every file the engine or the Nuke nodes write for a user goes through here.

Standard library only (the engine reaches it as ``faceplate.io.atomic``). A unique temporary file
in the same folder, then a rename: readers (Nuke, other farm tasks) never see half a file, two
writers never share a temporary, and a process killed mid-write leaves only a hidden ``.tmp``
behind, never a damaged output. ``mkstemp`` makes its files 0600; ours are shared with farm
workers and other artists, so they get what a plain ``open()`` would have given: 0666 less the
umask.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

_UMASK = os.umask(0)  # read once, at import: os.umask is process-wide and not thread-safe
os.umask(_UMASK)


@contextlib.contextmanager
def replacing(path: str, suffix: str = ".tmp", *, fsync: bool = False,
              mode: int | None = None) -> Iterator[str]:
    """Yield a temporary path beside ``path``; when the block succeeds it becomes ``path``.

    ``suffix`` lets writers that choose a format by extension (OpenImageIO, matplotlib) see the
    right one, e.g. ``.tmp.exr``. ``fsync`` flushes to disk before the rename (weights,
    checkpoints: files worth days of training). ``mode`` replaces the plain-``open()``
    permissions (a secret: 0o600, which the temporary file has from the start).
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=suffix,
                               dir=folder)
    os.close(fd)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK if mode is None else mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: str, write: Callable[[IO[bytes]], object], *, fsync: bool = False) -> None:
    """``write(fh)`` fills a binary file that then replaces ``path``."""
    with replacing(path, fsync=fsync) as tmp, open(tmp, "wb") as fh:
        write(fh)


def write_bytes_atomic(path: str, data: bytes | bytearray | memoryview) -> None:
    write_atomic(path, lambda fh: fh.write(data))


def write_text_atomic(path: str, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str, data: Any, *, fsync: bool = False) -> None:
    text = json.dumps(data, indent=1) + "\n"
    write_atomic(path, lambda fh: fh.write(text.encode("utf-8")), fsync=fsync)
