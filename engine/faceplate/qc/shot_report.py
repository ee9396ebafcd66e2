"""``faceplate report``: a converted shot's QC report, ``SHOTDIR/report/``.

shot inputs (:mod:`.shot_inputs`) → per-frame figures (:mod:`.frame_figures`) → verdicts
(:mod:`.verdicts`) → pictures (:mod:`.qc_pictures`) → ``report.json`` and ``index.html``
(:mod:`.page`). Every file is written whole (temporary file, then rename); the page is written
last, so a page on disk always shows a complete report.
"""

from __future__ import annotations

import datetime
import os
import shutil
from dataclasses import dataclass

from faceplate_client import documents, layout

from .. import __version__
from ..errors import FaceplateError
from ..io.atomic import write_json_atomic, write_text_atomic
from ..progress import Listener, Progress
from .frame_figures import ShotFigures, measure_shot
from .page import render
from .qc_pictures import write_curves, write_strip
from .shot_inputs import ShotInputs, shot_inputs
from .thresholds import QcSettings
from .verdicts import delivery, overall, verdicts, worst_frames

CURVES = "curves.png"
STRIP = "worst_{frame}.png"


@dataclass
class ShotReport:
    page: str  # index.html
    json_path: str
    data: dict

    @property
    def verdict(self) -> str:
        return str(self.data["verdict"])

    @property
    def failed(self) -> bool:
        return self.verdict == "fail"

    def summary(self) -> str:
        lines = [f"QC {self.verdict.upper()}: {self.page}"]
        for c in self.data["checks"]:
            frames = f"  failing frames {c['fail_frames']}" if c["fail_frames"] else ""
            lines.append(f"  {c['title']:<11} {c['status']:<4}{frames}")
        return "\n".join(lines)


def write_report(shot_dir: str, *, out_dir: str = "", merged: str = "", plate: str = "",
                 model: str = "", identity: str = "", faceset: str = "",
                 settings: QcSettings | None = None, progress_listener: Listener | None = None,
                 progress_stream=None) -> ShotReport:
    settings = settings or QcSettings()
    inputs = shot_inputs(shot_dir, merged=merged, plate=plate, model=model, identity=identity,
                         faceset=faceset)
    out_dir = os.path.abspath(out_dir or os.path.join(inputs.shot_dir, layout.REPORT_DIR))
    os.makedirs(out_dir, exist_ok=True)
    progress = Progress("report", len(inputs.report_frames), "frames", progress_listener,
                        progress_stream)
    figures, measured = measure_shot(inputs, lambda message: progress.advance(1, message))
    table = [delivery(figures), *verdicts(figures, settings)]
    write_curves(os.path.join(out_dir, CURVES), figures, table, settings,
                 inputs.alignments.cuts)
    worst = _worst_strips(out_dir, inputs, measured, figures, settings)
    data = {
        "schema": layout.REPORT_SCHEMA, "version": layout.REPORT_VERSION,
        "shot": inputs.shot_dir, "shot_name": os.path.basename(inputs.shot_dir),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "faceplate_version": __version__, "plate": inputs.plate, "merged": inputs.merged,
        "identity": inputs.identity, "verdict": overall(table),
        "thresholds": settings.to_dict(), "checks": [v.to_dict() for v in table],
        "frames": [f.to_dict() for f in figures],
        "frames_with_faces": sum(1 for f in figures if f.faces),
        "cuts": list(inputs.alignments.cuts), "worst_frames": worst,
        "model": _model(inputs, out_dir), "occlusion": _occlusion(inputs.shot_dir),
        "runs": inputs.runs, "notes": _notes(inputs), "curves": CURVES,
        "json": layout.REPORT_JSON}
    json_path = os.path.join(out_dir, layout.REPORT_JSON)
    write_json_atomic(json_path, data)
    page = os.path.join(out_dir, layout.REPORT_PAGE)
    write_text_atomic(page, render(data))
    return ShotReport(page, json_path, data)


def read_report(report_dir: str) -> dict:
    """``report_dir/report.json`` as :func:`write_report` wrote it (FaceplateError when it is
    missing, damaged, another kind of file or from a newer Faceplate)."""
    path = os.path.join(report_dir, layout.REPORT_JSON)
    try:
        return documents.read_document(path, layout.REPORT_SCHEMA)
    except documents.DocumentError as exc:
        raise FaceplateError(str(exc)) from None


def _worst_strips(out_dir: str, inputs: ShotInputs, measured: ShotFigures, figures: list,
                  settings: QcSettings) -> list[dict]:
    by_frame = {f.frame: f for f in figures}
    keep, worst = set(), []
    for frame, why in worst_frames(figures, settings, settings.worst_frames):
        name = STRIP.format(frame=frame)
        pair = measured.read(frame)  # read whole when measured: worst frames have faces
        write_strip(os.path.join(out_dir, name), frame,
                    pair.crops(inputs.alignments.faces(frame)[0]), pair.merged_rgb)
        keep.add(name)
        worst.append({"frame": frame, "why": why, "picture": name,
                      "figures": {k: None if v is None else round(v, 4)
                                  for k, v in by_frame[frame].values.items()}})
    prefix, suffix = STRIP.split("{frame}")
    for stale in os.listdir(out_dir):  # an earlier report's worst frames
        if stale.startswith(prefix) and stale.endswith(suffix) and stale not in keep:
            os.remove(os.path.join(out_dir, stale))
    return worst


def _model(inputs: ShotInputs, out_dir: str) -> dict:
    card = inputs.card
    if card is None:
        return {}
    info = {"folder": inputs.model_dir, "model id": card.model_id,
            "resolution": f"{card.resolution} px", "steps": card.iterations,
            "preset": card.preset or "—", "identities": ", ".join(card.identities),
            "consent": card.consent, "target face set": inputs.faceset or "not found"}
    loss = os.path.join(inputs.model_dir, layout.MODEL_LOSS_PLOT)
    if os.path.isfile(loss):
        shutil.copyfile(loss, os.path.join(out_dir, layout.MODEL_LOSS_PLOT))
        info["loss_plot"] = layout.MODEL_LOSS_PLOT
    return info


def _occlusion(shot_dir: str) -> str:
    from ..occlusion.store import versions

    found = versions(shot_dir)
    return f"{os.path.basename(found[-1])} (of {len(found)})" if found else ""


def _notes(inputs: ShotInputs) -> list[str]:
    notes = []
    if not inputs.faceset:
        notes.append("The target identity's face set was not found: identity and coverage are "
                     "not measured (give --faceset).")
    if inputs.card is None:
        notes.append("No model is recorded for this convert (a null swap): face size is not "
                     "measured.")
    return notes
