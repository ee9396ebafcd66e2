"""Provenance: what every written frame says about how it was made.

Responsible use: a swapped frame must say it is synthetic, which model made it, from which
identities and under which consent note; a frame passed through unchanged says so too (with
the reason), so a reviewer can tell the two apart from the file alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
from faceplate_client.layout import PROVENANCE_PREFIX

from .. import __version__
from .face_size import face_scale
from .settings import MergeSettings
from .swap import SwapCard

PREFIX = PROVENANCE_PREFIX


@dataclass
class Provenance:
    model_id: str
    identities: list[str]
    to_identity: str
    consent: str
    settings: MergeSettings
    job: str  # digest of everything that decides the pixels of this frame (see job_digest)
    plate: str = ""
    frame: int = 0
    matrices: list[list[list[float]]] = field(default_factory=list)  # unit 2×3 per swapped face
    status: str = "swapped"  # or "passthrough: <reason>"
    face_scales: list[float] = field(default_factory=list)  # model px per plate px, per face

    @property
    def synthetic(self) -> bool:
        return bool(self.matrices)

    def to_metadata(self) -> dict[str, str | int]:
        scale: dict[str, str | int] = {  # under 0.5 the face is upscaled more than 2x: soft
            PREFIX + "face_scale": ",".join(f"{s:.3f}" for s in self.face_scales)
        } if self.face_scales else {}
        return scale | {
            PREFIX + "version": __version__,
            PREFIX + "model": self.model_id,
            PREFIX + "identities": ",".join(self.identities),
            PREFIX + "to_identity": self.to_identity,
            PREFIX + "synthetic": int(self.synthetic),
            PREFIX + "matrix": json.dumps(self.matrices),
            PREFIX + "faces": len(self.matrices),
            PREFIX + "status": self.status,
            PREFIX + "consent": self.consent,
            PREFIX + "merge": json.dumps(self.settings.to_dict(), sort_keys=True),
            PREFIX + "job": self.job,
            PREFIX + "plate": self.plate,
            PREFIX + "frame": self.frame,
        }


def provenance_for(card: SwapCard, to_identity: str, settings: MergeSettings, job: str,
                   plate: str, frame: int, matrices: list[np.ndarray], status: str) -> Provenance:
    return Provenance(card.model_id, list(card.identities), to_identity,
                      str(getattr(card, "consent", "")), settings, job, plate, frame,
                      [np.round(np.asarray(m, dtype=np.float64), 9).tolist() for m in matrices],
                      status, [face_scale(card.resolution, m) for m in matrices])


def job_digest(card: SwapCard, to_identity: str, settings: MergeSettings, colourspace: str,
               faces: list[dict], extra: str = "") -> str:
    """Changes whenever a re-run would write different pixels for this frame (callers:
    :func:`faceplate.convert.pipeline.frame_job`)."""
    text = json.dumps({"model": card.model_id, "iterations": getattr(card, "iterations", 0),
                       "to": to_identity, "settings": settings.to_dict(),
                       "colourspace": colourspace, "faces": faces, "extra": extra,
                       "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
