"""The whole check for one shot: descriptors (cached), the report, its JSON and its picture."""

from __future__ import annotations

import os

from ..extract.faceset import load_faceset
from ..io.atomic import write_json_atomic
from .report import DEFAULTS, CoverageReport, CoverageSettings, coverage
from .store import faceset_descriptors, shot_descriptors

REPORT = "coverage_report.json"


def check_shot(shot_dir: str, facesets: dict[str, str],
               settings: CoverageSettings = DEFAULTS, *, output: str | None = None,
               picture: bool = True, progress_stream=None) -> tuple[CoverageReport, str, str | None]:
    """Report how well each identity's face set (``{identity: folder}``) covers the shot;
    writes ``output`` (default ``SHOTDIR/coverage_report.json``) and the picture beside it
    (same name, ``.png``). Returns ``(report, json path, png path or None)``."""
    sets = {name: load_faceset(root) for name, root in facesets.items()}
    descriptors = {name: faceset_descriptors(fs, progress_stream) for name, fs in sets.items()}
    faces = shot_descriptors(shot_dir, progress_stream)
    report = coverage(shot_dir, faces, {n: (sets[n], descriptors[n]) for n in sets}, settings)
    json_path = output or os.path.join(shot_dir, REPORT)
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    write_json_atomic(json_path, report.to_dict())
    png_path = None
    if picture:
        from .picture import write_picture

        png_path = write_picture(report, sets, descriptors,
                                 os.path.splitext(json_path)[0] + ".png")
    return report, json_path, png_path


def preflight(shots: list[str], facesets: dict[str, str], *, require: bool = False,
              stream=None) -> bool:
    """What ``faceplate train --shot`` runs first: each shot's report summary on ``stream``;
    with ``require``, a shot that is not covered stops training (FaceplateError)."""
    from ..errors import FaceplateError

    uncovered = []
    for shot in shots:
        report, json_path, png_path = check_shot(shot, facesets, progress_stream=stream)
        if stream is not None:
            print(f"coverage of shot {shot}:\n{report.summary()}\n(report {json_path}, picture "
                  f"{png_path})", file=stream)
        if not report.covered:
            uncovered.append(shot)
    if uncovered and require:
        raise FaceplateError(f"the face sets do not cover {', '.join(uncovered)} (see the "
                             "coverage report); add faces, or train without --require-coverage")
    return not uncovered
