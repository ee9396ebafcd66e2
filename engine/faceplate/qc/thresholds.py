"""The QC report's checks and their thresholds, declared once.

Each check reads one per-frame figure (:mod:`.frame_figures`) and has a warn and a fail
threshold in :class:`QcSettings` (CLI flags, op params and the page's verdict table come from
these declarations). ``worse`` says which way is bad: ``above`` (flicker, identity distance…)
or ``below`` (confidence, face scale).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings, setting


@dataclass(frozen=True)
class QcSettings(Settings):
    """Where a shot's figures turn from pass to warn to fail."""

    KIND = "qc"

    confidence_warn: float = setting(0.6, "warn when a face's faceplate/confidence is below",
                                     bounds=(0.0, 1.0))
    confidence_fail: float = setting(0.35, "fail when it is below", bounds=(0.0, 1.0))
    flicker_warn: float = setting(1.6, "warn when the face changes this many times more "
                                  "than the plate's own face from one frame to the next",
                                  bounds=(1.0, 100.0))
    flicker_fail: float = setting(3.0, "fail above this flicker ratio", bounds=(1.0, 100.0))
    identity_warn: float = setting(0.6, "warn when the swapped face's descriptor is farther "
                                   "than this from the target face set's (dlib's same-person "
                                   "distance is 0.6)", bounds=(0.0, 2.0))
    identity_fail: float = setting(0.7, "fail above this identity distance", bounds=(0.0, 2.0))
    consistency_warn: float = setting(0.38, "warn when the swapped face's descriptor is farther "
                                      "than this from the shot's own median swap of that "
                                      "person: another face in some frames", bounds=(0.0, 2.0))
    consistency_fail: float = setting(0.45, "fail above this distance from the shot's swap",
                                      bounds=(0.0, 2.0))
    expression_warn: float = setting(0.08, "warn when the swap's landmarks are this far from "
                                     "the plate's (mean distance over the inter-ocular "
                                     "distance)", bounds=(0.0, 1.0))
    expression_fail: float = setting(0.15, "fail above this landmark error", bounds=(0.0, 1.0))
    face_scale_warn: float = setting(0.5, "warn when the model draws the face at under this "
                                     "share of its size on the plate", bounds=(0.0, 4.0))
    face_scale_fail: float = setting(0.2, "fail under this face scale", bounds=(0.0, 4.0))
    coverage_warn: float = setting(1.5, "warn when the nearest face of the target's face set "
                                   "is farther than this many coverage steps (the coverage "
                                   "check's own limit)", bounds=(0.0, 100.0))
    coverage_fail: float = setting(3.0, "fail above this coverage distance",
                                   bounds=(0.0, 100.0))
    focus_warn: float = setting(1.4, "warn when the swap's edges are this many times softer "
                                "or sharper than the plate's", bounds=(1.0, 100.0))
    focus_fail: float = setting(2.0, "fail above this focus mismatch", bounds=(1.0, 100.0))
    grain_warn: float = setting(1.5, "warn when the merged face's grain is this many times "
                                "weaker or stronger than the plate's around it",
                                bounds=(1.0, 100.0))
    grain_fail: float = setting(2.5, "fail above this grain mismatch", bounds=(1.0, 100.0))
    worst_frames: int = setting(6, "how many of the weakest frames the page shows as "
                                "thumbnails", bounds=(0, 100))


@dataclass(frozen=True)
class Check:
    name: str  # the figure it reads and the prefix of its two thresholds
    title: str
    worse: str  # "above" or "below"
    what: str  # one line for the verdict table

    def thresholds(self, settings: QcSettings) -> tuple[float, float]:
        return getattr(settings, f"{self.name}_warn"), getattr(settings, f"{self.name}_fail")

    def grade(self, value: float | None, settings: QcSettings) -> str:
        """"pass", "warn" or "fail" for one frame's value; "n/a" when it was not measured."""
        if value is None:
            return "n/a"
        warn, fail = self.thresholds(settings)
        bad = (lambda t: value > t) if self.worse == "above" else (lambda t: value < t)
        return "fail" if bad(fail) else "warn" if bad(warn) else "pass"


CHECKS = (
    Check("confidence", "Confidence", "below",
          "how far to trust each face: detection × landmarks × the model's mask (metadata)"),
    Check("flicker", "Flicker", "above",
          "frame-to-frame change of the merged face over the plate's own, motion removed"),
    Check("identity", "Identity", "above",
          "distance of the swapped face to the target face set (dlib face descriptor)"),
    Check("consistency", "Consistency", "above",
          "distance of each frame's swap to the shot's median swap of that person: the same "
          "face throughout"),
    Check("expression", "Expression", "above",
          "the swap's landmarks against the plate's (NME): does the face do what the actor does"),
    Check("face_scale", "Face size", "below",
          "model pixels per plate pixel: under 0.5 the face is upscaled more than 2×"),
    Check("coverage", "Coverage", "above",
          "distance of the plate's pose and expression to the nearest training face"),
    Check("focus", "Focus", "above",
          "edge spread of the merged face against the plate's (either way)"),
    Check("grain", "Grain", "above",
          "grain inside the merged face against the plate's there, at the plate's brightness "
          "(either way)"),
)
