"""A converted shot's review media in ``SHOTDIR/report``: the side-by-side movie and the QC
report's pictures, each signed with Content Credentials (or, when asked, left unsigned).

The shot is what ``SHOTDIR/runs.json``'s newest convert read and wrote: its plate and merged
frames (found as the QC report finds them, :func:`faceplate.qc.shot_inputs.shot_inputs`). What the media declare (:func:`shot_facts`) comes from the merged frames' own
provenance (the model that made them, its identities, the identity swapped in, the consent
note) and from the files: the source plate's digest (:data:`PLATE_DIGEST`) and the report's.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from faceplate_client import layout
from faceplate_client.frames import format_frame_range

from .. import __version__
from ..convert.provenance import PREFIX
from ..convert.writer import read_provenance
from ..errors import FaceplateError
from ..io.colour import ColourSpaces
from ..io.sequence import Plate, open_plate
from ..progress import Progress
from ..qc.shot_inputs import shot_inputs
from ..qc.shot_report import read_report
from .certificate import SigningCertificate
from .credentials import can_sign, sign
from .movie import write_h264
from .side_by_side import MAX_WIDTH, side_by_side

PLATE_DIGEST = ("SHA-256 of the plate's frame files, their bytes one after another in frame "
                "order (a video plate: of its file)")


@dataclass(frozen=True)
class ReviewShot:
    shot_dir: str
    plate: Plate
    merged: Plate
    frames: list[int]  # merged frames on disk that the plate has, in order
    colourspace: str

    @property
    def report_dir(self) -> str:
        return os.path.join(self.shot_dir, layout.REPORT_DIR)

    @property
    def movie(self) -> str:
        return os.path.join(self.report_dir, layout.REVIEW_MOVIE)


def review_shot(shot_dir: str, colourspace: str = "") -> ReviewShot:
    """The shot as its newest convert left it (``colourspace``: the plate's, default the
    alignments')."""
    found = shot_inputs(shot_dir)
    plate, merged = open_plate(found.plate), open_plate(found.merged)
    frames = [f for f in merged.frames if f in set(plate.frames)]
    if not frames:
        raise FaceplateError(f"the merged frames {found.merged} and the plate {found.plate} "
                             "share no frame")
    return ReviewShot(found.shot_dir, plate, merged, frames, colourspace or found.colourspace)


def shot_facts(shot: ReviewShot) -> dict[str, Any]:
    """What the shot's review media declare (the Faceplate assertion of their manifests)."""
    provenance = [read_provenance(shot.merged.frame_path(f)) for f in shot.frames]
    models = sorted({p.get(PREFIX + "model", "") for p in provenance})
    if len(models) != 1 or not models[0]:
        raise FaceplateError(f"the merged frames {shot.merged.path} name models "
                             f"{', '.join(m or '(none)' for m in models)}: re-render them with "
                             "one model (faceplate convert) before making review media")
    first = provenance[0]
    facts: dict[str, Any] = {
        "model_id": models[0],
        "identities": first.get(PREFIX + "identities", "").split(","),
        "to_identity": first.get(PREFIX + "to_identity", ""),
        "consent": first.get(PREFIX + "consent", ""),
        "frames": format_frame_range(shot.frames),
        "plate": {"name": os.path.basename(shot.plate.path), "digest": PLATE_DIGEST,
                  "sha256": sha256_of(dict.fromkeys(shot.plate.frame_path(f)
                                                    for f in shot.frames))},
        "faceplate_version": __version__,
    }
    report = os.path.join(shot.report_dir, layout.REPORT_JSON)
    if os.path.isfile(report):
        facts["report"] = {"name": layout.REPORT_JSON, "sha256": sha256_of([report]),
                           "verdict": read_report(shot.report_dir)["verdict"]}
    return facts


def sha256_of(paths: Iterable[str]) -> str:
    """SHA-256 of the files' bytes, one after another."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def report_files(report_dir: str) -> list[str]:
    """Every file of the report folder (paths relative to it), hidden ones (temporaries) left
    out; [] when there is no report."""
    found = []
    for folder, dirs, files in os.walk(report_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.relpath(os.path.join(folder, f), report_dir)
                  for f in sorted(files) if not f.startswith(".")]
    return found


def review_media(report_dir: str) -> list[str]:
    """The report folder's files that carry Content Credentials: the movie and the pictures."""
    return [os.path.join(report_dir, f) for f in report_files(report_dir) if can_sign(f)]


@dataclass
class Review:
    movie: str
    frames: int
    pictures: list[str] = field(default_factory=list)  # the report's, signed when the movie is
    signer: str = ""  # the certificate's subject; "" unsigned

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "signed": bool(self.signer)}


def make_review(shot: ReviewShot, certificate: SigningCertificate | None, *, fps: float = 24.0,
                max_width: int = MAX_WIDTH, progress: Progress | None = None) -> Review:
    """Write the shot's review movie and sign it and the report's pictures with
    ``certificate`` (None: write the movie unsigned and sign nothing)."""
    facts = shot_facts(shot)
    pictures = [p for p in review_media(shot.report_dir) if p != shot.movie]
    if certificate is not None:  # first: quick, and a refused certificate shows at once
        for picture in pictures:
            sign(picture, certificate, facts)
    colour = ColourSpaces(shot.colourspace)

    def frames() -> Iterator:
        for frame in shot.frames:
            yield side_by_side(shot.plate, shot.merged, frame, colour, max_width)
            if progress is not None:
                progress.advance(message=f"frame {frame}")

    os.makedirs(shot.report_dir, exist_ok=True)
    if certificate is None:
        return Review(shot.movie, write_h264(shot.movie, frames(), fps), pictures)
    with tempfile.TemporaryDirectory(prefix=".review-", dir=shot.report_dir) as scratch:
        encoded = os.path.join(scratch, layout.REVIEW_MOVIE)
        count = write_h264(encoded, frames(), fps)
        sign(encoded, certificate, facts, dest=shot.movie)  # the old movie stays till signed
    return Review(shot.movie, count, pictures, certificate.subject)
