"""Frame ranges as TDs type them and as the wire protocol carries them (standard library only).

``1001-1100``, ``1001-1100x2`` (or ``:2``), ``1,5,9-12``: parsed once here for the engine, the
Nuke nodes and the pyblish plugins alike.
"""

from __future__ import annotations

import re

_PART = re.compile(r"(-?\d+)(?:-(-?\d+)(?:[x:](\d+))?)?")


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
