"""The verdict table: each check graded over the shot's frames, the frames that fail as ranges,
and the frames worst overall (for the page's thumbnails)."""

from __future__ import annotations

from dataclasses import dataclass, field

from faceplate_client.frames import format_frame_range

from .frame_figures import FrameFigures
from .thresholds import CHECKS, Check, QcSettings

ORDER = ("n/a", "pass", "warn", "fail")


@dataclass
class Verdict:
    check: Check
    status: str  # pass / warn / fail, or n/a when no frame could be measured
    warn: float
    fail: float
    measured: int  # frames with a value
    worst: float | None = None
    worst_frame: int | None = None
    failing: list[int] = field(default_factory=list)
    warning: list[int] = field(default_factory=list)  # warn, not fail

    def to_dict(self) -> dict:
        return {"check": self.check.name, "title": self.check.title, "what": self.check.what,
                "status": self.status, "worse": self.check.worse, "warn": self.warn,
                "fail": self.fail, "measured_frames": self.measured,
                "worst": None if self.worst is None else round(self.worst, 4),
                "worst_frame": self.worst_frame,
                "fail_frames": format_frame_range(self.failing),
                "warn_frames": format_frame_range(self.warning)}


def verdicts(figures: list[FrameFigures], settings: QcSettings) -> list[Verdict]:
    out = []
    for check in CHECKS:
        warn, fail = check.thresholds(settings)
        graded = [(f.frame, v) for f in figures if (v := f.values.get(check.name)) is not None]
        verdict = Verdict(check, "n/a", warn, fail, len(graded))
        for frame, value in graded:
            grade = check.grade(value, settings)
            (verdict.failing if grade == "fail" else verdict.warning
             if grade == "warn" else []).append(frame)
            if verdict.worst is None or _badness(check, value, settings) > \
                    _badness(check, verdict.worst, settings):
                verdict.worst, verdict.worst_frame = value, frame
        if graded:
            verdict.status = "fail" if verdict.failing else "warn" if verdict.warning else "pass"
        out.append(verdict)
    return out


def delivery(figures: list[FrameFigures]) -> Verdict:
    """Every frame with a face was written, can be read, and was swapped (a missing, damaged
    or passed-through frame fails): the one check without a threshold."""
    check = Check("delivered", "Delivered", "below",
                  "every frame with a face has a whole merged frame, swapped")
    bad = [f.frame for f in figures if f.status == "missing"
           or (f.faces and not f.status.startswith("swapped"))]  # unreadable ones too
    return Verdict(check, "fail" if bad else "pass", 1.0, 1.0, len(figures),
                   failing=bad)


def overall(table: list[Verdict]) -> str:
    return max((v.status for v in table), key=ORDER.index, default="n/a")


def _badness(check: Check, value: float, settings: QcSettings) -> float:
    """How bad a value is against the check's fail threshold: 1 at it, more is worse."""
    _, fail = check.thresholds(settings)
    if check.worse == "above":
        return value / max(fail, 1e-9)
    return fail / max(value, 1e-9)


def worst_frames(figures: list[FrameFigures], settings: QcSettings, count: int
                 ) -> list[tuple[int, str]]:
    """The ``count`` frames with a face that are worst on any check, worst first, each with
    the check that makes it so."""
    scored = []
    for f in figures:
        if not f.faces:
            continue
        marks = [(_badness(c, v, settings), c.name) for c in CHECKS
                 if (v := f.values.get(c.name)) is not None]
        if marks:
            score, name = max(marks)
            scored.append((score, f.frame, name))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [(frame, name) for _, frame, name in scored[:count]]
