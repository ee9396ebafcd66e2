"""The one exception type users see as a message rather than a traceback, the exit codes every
command shares, and the one line a farm log gets for a frame that was skipped."""

from __future__ import annotations

import enum
import logging


class FaceplateError(Exception):
    """An error whose message is written for the artist or TD: what went wrong and what to do.

    The CLI prints it without a traceback and exits :attr:`ExitCode.COULD_NOT_RUN`; the engine
    returns it as a structured error; the Nuke nodes show it on the node.
    """


class ExitCode(enum.IntEnum):
    """What a command's exit status means, the same for ``extract``, ``convert`` and
    ``stabilise`` (and what ``faceplate farm step --ok`` lists)."""

    OK = 0  # every frame done
    NO_FACE = 1  # extract: finished, some frames show no face (normal in a shot)
    COULD_NOT_RUN = 2  # nothing done: a bad argument, a missing plate or model (the message says)
    FRAMES_SKIPPED = 3  # finished, but some frames could not be read or written: listed


def skipped_line(frame: int, reason: str) -> str:
    """``frame 1004: skipped: cannot read /shots/plate.1004.exr (file is truncated)``: one line,
    printable whatever bytes a damaged file's names held."""
    text = " ".join(f"frame {frame}: skipped: {reason}".split())
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def skipped_summary(frames, what: str = "could not be read") -> str:
    """The closing line: ``skipped 3 frame(s) that could not be read: 1003-1004,1010``."""
    from faceplate_client.frames import format_frame_range

    frames = sorted(set(frames))
    return f"skipped {len(frames)} frame(s) that {what}: {format_frame_range(frames)}"


def note_skipped(progress, frame: int, reason: str, log: logging.Logger) -> None:
    """Say once, as it happens, that ``frame`` was skipped and why: a line of its own on the
    progress stream (the farm log), else a warning in the log (the engine's)."""
    line = skipped_line(frame, reason)
    if progress.stream is None:
        log.warning("%s", line)
    else:
        progress.note(line)
