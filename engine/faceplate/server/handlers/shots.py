"""Whole-shot jobs (the demo and Nuke's Process button): extract, train, convert.

Long, streamed progress, cancellable: extract and convert stop at the next frame (their
progress listener raises), training stops at the next step through its stop event and saves.
Re-running extract or convert replaces or skips the same frames, so both are idempotent and a
client resends them after an engine restart; training resumes from its last checkpoint.
"""

from __future__ import annotations

from ..ops import Param, Result, operation
from .tracking import extract_params

_DAY = 24 * 3600.0


@operation("extract_shot", "Detect, track, align and smooth every face of a plate into "
                           "SHOT_DIR/alignments.json (and optionally a face set).",
           params=(Param("plate", str, help="plate sequence (plate.####.exr), still or video"),
                   Param("shot_dir", str, help="where alignments.json goes"),
                   Param("frames", str, "", "frame range, e.g. 1001-1100 (default: all)"),
                   Param("colourspace", str, "", "plate colourspace (default: by file type)"),
                   Param("faceset_dir", str, "", "also write a face set here"))
           + extract_params(),
           lane="job", progress=True, timeout_s=_DAY)
def extract_shot(req) -> Result:
    from ...extract.pipeline import extract_shot as run
    from ...extract.settings import ExtractSettings
    from .frames import backend_for, verifier_for

    p = req.params
    settings = ExtractSettings.from_dict({k["name"]: p[k["name"]]
                                          for k in ExtractSettings.knobs()})
    summary = run(p["plate"], p["shot_dir"], settings, frames=p["frames"] or None,
                  backend=backend_for(req.engine, p["backend"]),
                  verifier=verifier_for(req.engine) if settings.verify else None,
                  colourspace=p["colourspace"] or None, faceset_dir=p["faceset_dir"] or None,
                  progress_listener=req.progress, device=req.engine.device)
    return Result(summary.to_dict())


@operation("train", "Train (or resume) a model on one face set per identity; stops at "
                    "max_steps, the time budget, or when cancelled (after saving).",
           params=(Param("facesets", dict, help="identity name → face set folder"),
                   Param("model_dir", str, help="model folder (resumed when it exists)"),
                   Param("preset", str, "standard", "a TrainConfig preset"),
                   Param("consent", str, "", "consent note, required for a new model"),
                   Param("max_steps", int, 0, "stop after this many steps (0: no limit)"),
                   Param("time_budget_s", float, 0.0, "stop after this long (0: no limit)"),
                   Param("overrides", dict, {}, "other TrainConfig fields")),
           lane="job", idempotent=False, progress=True, timeout_s=7 * _DAY)
def train(req) -> Result:
    from ...train.trainer import TrainConfig
    from ...train.trainer import train as run

    p = req.params
    options = {**p["overrides"], "facesets": p["facesets"], "model_dir": p["model_dir"],
               "consent": p["consent"], "device": req.engine.device}
    if p["max_steps"]:
        options["max_steps"] = p["max_steps"]
    if p["time_budget_s"]:
        options["time_budget_s"] = p["time_budget_s"]
    try:
        config = TrainConfig.from_preset(p["preset"], **options)
    except TypeError as exc:
        from ...errors import FaceplateError

        raise FaceplateError(f"bad training option: {exc}") from None
    result = run(config, lambda event: req.progress(event, check=False), req.cancel_event)
    return Result(result.to_dict())


@operation("convert_shot", "Swap and merge every frame of a shot and write OUT.####.exr with "
                           "the facemask layer and provenance; finished frames are skipped.",
           params=(Param("plate", str, help="plate sequence"),
                   Param("shot_dir", str, help="folder with alignments.json"),
                   Param("model", str, help="model folder"),
                   Param("identity", str, help="identity to swap in"),
                   Param("out", str, help="output sequence, e.g. out.####.exr"),
                   Param("frames", str, "", "frame range (default: all)"),
                   Param("settings", dict, {}, "merge settings (see the merge op)"),
                   Param("colourspace", str, "", "plate colourspace"),
                   Param("cache_dir", str, "", "swap cache folder (re-merges skip the model)"),
                   Param("face_out", str, "", "also write the face alone, face.####.exr"),
                   Param("overwrite", bool, False, "rewrite finished frames")),
           lane="job", progress=True, timeout_s=_DAY)
def convert_shot(req) -> Result:
    from ...convert.pipeline import convert_shot as run
    from ...convert.settings import MergeSettings
    from ...convert.writer import OutputSettings

    p = req.params
    output = OutputSettings(p["out"], face_pattern=p["face_out"], overwrite=p["overwrite"])
    with req.engine.models.use(p["model"], req.engine.device) as model:
        summary = run(p["plate"], p["shot_dir"], model, p["identity"], output,
                      frames=p["frames"] or None, settings=MergeSettings.from_dict(p["settings"]),
                      colourspace=p["colourspace"] or None, cache_dir=p["cache_dir"] or None,
                      progress_listener=req.progress)
    return Result(summary.to_dict())
