"""Frame ranges and frame-numbered paths as TDs type them (standard library only).

``1001-1100``, ``1001-1100x2`` (or ``:2``), ``1,5,9-12``, and ``plate.####.exr``,
``plate.%04d.exr``, ``plate.@@@@.exr``: parsed once here for the engine, the Nuke nodes and the
pyblish plugins alike.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass

_PART = re.compile(r"(-?\d+)(?:-(-?\d+)(?:[x:](\d+))?)?")
_HASHES = re.compile(r"#+")
_ATS = re.compile(r"@+")
_PRINTF = re.compile(r"%(0?)(\d*)d")


def parse_frame_range(text: str) -> list[int]:
    """Sorted unique frames; ``ValueError`` with a message for the user on anything else."""
    frames: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        m = _PART.fullmatch(part)
        if not m:
            raise ValueError(f"cannot read frame range {text!r} (expected e.g. 1001-1100)")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        step = int(m.group(3) or 1)
        if last < first or step < 1:
            raise ValueError(f"frame range {part!r} runs backwards or has a zero step")
        frames.update(range(first, last + 1, step))
    if not frames:
        raise ValueError(f"frame range {text!r} names no frames")
    return sorted(frames)


def format_frame_range(frames: list[int]) -> str:
    """The inverse, for display: ``[1, 2, 3, 7]`` → ``"1-3,7"``."""
    parts: list[str] = []
    run: list[int] = []
    for f in sorted(set(frames)):
        if run and f != run[-1] + 1:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(f)
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


@dataclass(frozen=True)
class SequencePattern:
    """A frame-numbered path with its padding: ``prefix + frame(zero-padded) + suffix``."""

    prefix: str
    padding: int
    suffix: str

    @classmethod
    def parse(cls, path: str) -> SequencePattern | None:
        """Recognise ``####``, ``@@@@`` or ``%04d`` in the file name; None for a plain path."""
        head, name = os.path.split(path)
        for rx, pad in ((_HASHES, None), (_ATS, None), (_PRINTF, "printf")):
            matches = list(rx.finditer(name))
            if not matches:
                continue
            m = matches[-1]
            if pad == "printf":
                padding = int(m.group(2) or 1)
            else:
                padding = len(m.group(0))
            return cls(os.path.join(head, name[: m.start()]), padding, name[m.end():])
        return None

    def path(self, frame: int) -> str:
        sign = "-" if frame < 0 else ""
        return f"{self.prefix}{sign}{abs(frame):0{self.padding}d}{self.suffix}"

    @property
    def hashes(self) -> str:
        """Nuke-style spelling, ``plate.####.exr``."""
        return f"{self.prefix}{'#' * self.padding}{self.suffix}"

    @property
    def printf(self) -> str:
        return f"{self.prefix}%0{self.padding}d{self.suffix}"

    def existing_frames(self) -> list[int]:
        """Frames present on disk (numbers at least ``padding`` digits wide, as Nuke reads them)."""
        rx = re.compile(
            re.escape(os.path.basename(self.prefix)) + r"(-?\d+)" + re.escape(self.suffix) + "$"
        )
        found = set()
        for p in glob.glob(glob.escape(self.prefix) + "*" + glob.escape(self.suffix)):
            m = rx.match(os.path.basename(p))
            if m and len(m.group(1).lstrip("-")) >= self.padding:
                found.add(int(m.group(1)))
        return sorted(found)
