"""The ``qc_report`` op (FaceMerge's QC Report button): a converted shot's QC report."""

from __future__ import annotations

from ...qc.thresholds import QcSettings
from ..ops import Param, Result, operation, settings_from_params, settings_params


@operation("qc_report", "Measure a converted shot frame by frame and write its QC report "
                        "(SHOT_DIR/report/index.html and report.json); returns the verdict.",
           params=(Param("shot_dir", str, help="folder with alignments.json", path=True),
                   Param("output", str, "", "report folder (default SHOT_DIR/report)",
                         path=True),
                   Param("merged", str, "", "merged frames (default: the shot's newest "
                         "convert, from SHOT_DIR/runs.json)", path=True),
                   Param("plate", str, "", "the plate (default: as converted)", path=True),
                   Param("model", str, "", "model folder (default: as converted)", path=True),
                   Param("identity", str, "", "identity swapped in (default: as converted)"),
                   Param("faceset", str, "", "the target identity's face set (default: the "
                         "one the model trained on)", path=True))
           + settings_params(QcSettings),
           lane="job", progress=True, timeout_s=6 * 3600.0)
def qc_report(req) -> Result:
    from ...qc.shot_report import write_report

    p = req.params
    report = write_report(p["shot_dir"], out_dir=p["output"], merged=p["merged"],
                          plate=p["plate"], model=p["model"], identity=p["identity"],
                          faceset=p["faceset"], settings=settings_from_params(QcSettings, p),
                          progress_listener=req.progress)
    return Result({"verdict": report.verdict, "page": report.page, "report": report.json_path,
                   "summary": report.summary(),
                   "failing": [c["check"] for c in report.data["checks"]
                               if c["status"] == "fail"]})
