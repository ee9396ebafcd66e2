"""The result cache: one folder per node and stage, versioned, one key per frame.

``CACHE/<node>/<stage>/v003/<stage>.1001.exr`` holds a frame's result and
``<stage>.1001.json`` its sidecar: ``{"key": ...}`` plus any data (faces, landmarks). A frame
is cached when its sidecar's key equals the key computed from the knobs that stage depends on
(at that frame) and the upstream stage's key for that frame; so changing a knob recomputes only
the stages and frames it affects. Every file is written atomically (``faceplate_client.atomic``),
the sidecar last.

When an interactive Process has to replace frames of the current version, it starts a new
version folder (unchanged frames are hard-linked in): Nuke's Read caches pixels by file name,
so the internal Read sees new results at once, and the previous version stays on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from typing import Any

from faceplate_client.atomic import write_json_atomic

KEEP_VERSIONS = 3


def key_of(*parts: Any) -> str:
    """A stable short hash of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]




def read_json(path: str) -> Any | None:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


class StageCache:
    """The cached frames of one stage of one node."""

    def __init__(self, root: str, node_name: str, stage: str, ext: str = "exr"):
        self.folder = os.path.join(root, node_name, stage)
        self.stage = stage
        self.ext = ext

    # -- versions
    def versions(self) -> list[int]:
        if not os.path.isdir(self.folder):
            return []
        return sorted(int(m.group(1)) for n in os.listdir(self.folder)
                      if (m := re.fullmatch(r"v(\d{3,})", n)))

    def version_dir(self, version: int | None = None) -> str:
        if version is None:
            found = self.versions()
            version = found[-1] if found else 1
        return os.path.join(self.folder, f"v{version:03d}")

    def pattern(self, version: int | None = None) -> str:
        """The frame pattern Nuke reads (``####``), for the internal Read's file knob."""
        return os.path.join(self.version_dir(version), f"{self.stage}.####.{self.ext}")

    def frame_file(self, frame: int, version: int | None = None) -> str:
        return os.path.join(self.version_dir(version), f"{self.stage}.{frame:04d}.{self.ext}")

    def sidecar(self, frame: int, version: int | None = None) -> str:
        return os.path.join(self.version_dir(version), f"{self.stage}.{frame:04d}.json")

    # -- frames
    def entry(self, frame: int) -> dict[str, Any] | None:
        data = read_json(self.sidecar(frame))
        return data if isinstance(data, dict) else None

    def is_cached(self, frame: int, key: str) -> bool:
        entry = self.entry(frame)
        if entry is None or entry.get("key") != key:
            return False
        return self.ext == "json" or os.path.isfile(self.frame_file(frame))

    def missing(self, keys: dict[int, str]) -> list[int]:
        return [f for f, k in sorted(keys.items()) if not self.is_cached(f, k)]

    def record(self, frame: int, key: str, data: dict[str, Any] | None = None) -> None:
        """Mark ``frame`` as made from ``key`` (call after its result file is in place)."""
        write_json_atomic(self.sidecar(frame), dict(data or {}, key=key))

    def prepare(self, stale: list[int], new_version: bool) -> str:
        """Make the folder that the frames in ``stale`` will be written to.

        With ``new_version`` and any stale frame already present, a new version folder is
        started holding links to every other frame of the current one.
        """
        current = self.version_dir()
        replacing = [f for f in stale if os.path.exists(self.sidecar(f))]
        if new_version and replacing and os.path.isdir(current):
            nxt = self.version_dir(self.versions()[-1] + 1)
            os.makedirs(nxt, exist_ok=True)
            skip = {os.path.basename(self.frame_file(f)) for f in replacing} | {
                os.path.basename(self.sidecar(f)) for f in replacing}
            for name in os.listdir(current):
                if name in skip or name.startswith("."):
                    continue
                src, dst = os.path.join(current, name), os.path.join(nxt, name)
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copy2(src, dst)
            self._prune()
            return nxt
        os.makedirs(current, exist_ok=True)
        return current

    def _prune(self) -> None:
        for v in self.versions()[:-KEEP_VERSIONS]:
            shutil.rmtree(self.version_dir(v), ignore_errors=True)
