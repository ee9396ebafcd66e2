"""The coverage op (FaceAlign's Export Face Set shows it): does a face set cover a shot?"""

from __future__ import annotations

from ...coverage.report import CoverageSettings
from ..ops import Param, Result, operation, settings_from_params, settings_params

SETTINGS = settings_params(CoverageSettings)


@operation("coverage_shot", "Report how well each identity's face set covers a shot's faces "
                            "(pose, expression, light); writes the JSON report and its picture.",
           params=(Param("shot_dir", str, help="folder with alignments.json", path=True),
                   Param("facesets", dict, help="identity name → face set folder"),
                   Param("output", str, "", "report JSON (default SHOT_DIR/coverage_report.json)",
                         path=True)) + SETTINGS,
           lane="job", progress=False, timeout_s=3600.0)
def coverage_shot(req) -> Result:
    from faceplate_client.protocol import BAD_PARAMS, EngineError

    from ...coverage.check import check_shot
    from ..ops import check_absolute

    p = req.params
    if not p["facesets"]:
        raise EngineError(BAD_PARAMS, "facesets: name at least one identity's face set")
    for name, folder in p["facesets"].items():
        if not isinstance(folder, str):
            raise EngineError(BAD_PARAMS, f"facesets[{name!r}] must be a folder path")
        check_absolute(f"facesets[{name!r}]", folder)
    settings = settings_from_params(CoverageSettings, p)
    report, json_path, png_path = check_shot(p["shot_dir"], dict(p["facesets"]), settings,
                                             output=p["output"] or None)
    return Result({"covered": report.covered, "summary": report.summary(),
                   "report": json_path, "picture": png_path or ""})
