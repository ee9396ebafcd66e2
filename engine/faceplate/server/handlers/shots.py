"""Whole-shot jobs (the demo and Nuke's Process button): extract, train, convert.

Long, streamed progress, cancellable: extract and convert stop at the next frame (their
progress listener raises), training stops at the next step through its stop event and saves.
Re-running extract or convert replaces or skips the same frames, so both are idempotent and a
client resends them after an engine restart; training resumes from its last checkpoint.
Each op is decode (request → stage input, bad values answer ``bad_params``) → stage → reply;
the stages run in the engine process (they use its device and loaded models) and stop at
their cancellation points.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faceplate_client.protocol import BAD_PARAMS, EngineError

from ...errors import FaceplateError
from ...extract.settings import ExtractSettings
from ..context import EngineContext

if TYPE_CHECKING:  # the stages' own modules load when an op runs
    from ...convert.output_settings import OutputSettings
    from ...convert.settings import MergeSettings
    from ...train.config import TrainConfig
from ..ops import (
    Param,
    Result,
    check_absolute,
    operation,
    settings_from_params,
    settings_params,
)

_DAY = 24 * 3600.0


@dataclass
class JobInput:
    """What every whole-shot stage gets besides its own settings."""

    engine: EngineContext
    progress: Callable
    cancel: threading.Event
    command: str  # the op as the shot's run log records it


def _job(req) -> JobInput:
    from ...shot_log import op_command

    return JobInput(req.engine, req.progress, req.cancel_event,
                    op_command(req.op.name, req.params))


@dataclass
class ExtractInput:
    job: JobInput
    plate: str
    shot_dir: str
    frames: str | None
    colourspace: str | None
    faceset_dir: str | None
    settings: ExtractSettings


def _decode_extract(req) -> ExtractInput:
    p = req.params
    settings = settings_from_params(ExtractSettings, p)
    return ExtractInput(_job(req), p["plate"], p["shot_dir"], p["frames"] or None,
                        p["colourspace"] or None, p["faceset_dir"] or None, settings)


@operation("extract_shot", "Detect, track, align and smooth every face of a plate into "
                           "SHOT_DIR/alignments.json (and optionally a face set).",
           params=(Param("plate", str, help="plate sequence (plate.####.exr), still or video",
                         path=True),
                   Param("shot_dir", str, help="where alignments.json goes", path=True),
                   Param("frames", str, "", "frame range, e.g. 1001-1100 (default: all)"),
                   Param("colourspace", str, "", "plate colourspace (default: by file type)"),
                   Param("faceset_dir", str, "", "also write a face set here", path=True))
           + settings_params(ExtractSettings),
           lane="job", progress=True, timeout_s=_DAY, decode=_decode_extract)
def extract_shot(inp: ExtractInput) -> Result:
    from ...extract.pipeline import extract_shot as run
    from ...shot_log import record
    from .frames import backend_for, verifier_for

    engine = inp.job.engine
    summary = run(inp.plate, inp.shot_dir, inp.settings, frames=inp.frames,
                  backend=backend_for(engine, inp.settings.backend),
                  verifier=verifier_for(engine) if inp.settings.verify else None,
                  colourspace=inp.colourspace, faceset_dir=inp.faceset_dir,
                  progress_listener=inp.job.progress, device=engine.device)
    record(inp.shot_dir, "extract", inp.job.command, plate=inp.plate, frames=inp.frames or "")
    return Result(summary.to_dict())


@dataclass
class TrainInput:
    job: JobInput
    config: TrainConfig  # without its device (the engine's, resolved when training starts)


def _decode_train(req) -> TrainInput:
    from ...train.config import TrainConfig

    p = req.params
    for name, folder in p["facesets"].items():
        if not isinstance(folder, str):
            raise EngineError(BAD_PARAMS, f"facesets: the face set of {name!r} must be a path")
        check_absolute(f"facesets.{name}", folder)
    limits = {k: p[k] for k in ("max_steps", "time_budget_s") if p[k]}  # 0: no limit
    config = settings_from_params(TrainConfig, p, "overrides", facesets=p["facesets"],
                                  model_dir=p["model_dir"], consent=p["consent"],
                                  preset=p["preset"], **limits)  # over the preset's
    try:
        if not os.path.exists(os.path.join(p["model_dir"], "card.json")):
            config.new_card()  # a new model's widths, resolution and identities, checked now
    except (TypeError, ValueError, FaceplateError) as exc:
        raise EngineError(BAD_PARAMS, f"bad training option: {exc}") from None
    return TrainInput(_job(req), config)


@operation("train", "Train (or resume) a model on one face set per identity; stops at "
                    "max_steps, the time budget, or when cancelled (after saving).",
           params=(Param("facesets", dict, help="identity name → face set folder"),
                   Param("model_dir", str, help="model folder (resumed when it exists)",
                         path=True),
                   Param("preset", str, "auto", "a training preset (faceplate.train.presets; auto "
                         "chooses from the device and time_budget_s)"),
                   Param("consent", str, "", "consent note, required for a new model"),
                   Param("max_steps", int, 0, "stop after this many steps (0: no limit)",
                         min=0),
                   Param("time_budget_s", float, 0.0, "stop after this long (0: no limit)",
                         min=0.0),
                   Param("overrides", dict, {}, "other TrainConfig fields")),
           lane="job", idempotent=False, progress=True, timeout_s=7 * _DAY,
           decode=_decode_train)
def train(inp: TrainInput) -> Result:
    from ...shot_log import record
    from ...train.trainer import train as run

    config = dataclasses.replace(inp.config, device=inp.job.engine.device)
    result = run(config, lambda event: inp.job.progress(event, check=False), inp.job.cancel)
    record(config.model_dir, "train", inp.job.command, facesets=dict(config.facesets))
    return Result(result.to_dict())


@dataclass
class ConvertInput:
    job: JobInput
    plate: str
    shot_dir: str
    model: str
    identity: str
    output: OutputSettings
    frames: str | None
    settings: MergeSettings
    colourspace: str | None
    cache_dir: str | None
    only_faces: bool


def _decode_convert(req) -> ConvertInput:
    from ...convert.settings import MergeSettings
    from ...convert.writer import OutputSettings

    p = req.params
    output = settings_from_params(OutputSettings, p, pattern=p["out"],
                                  face_pattern=p["face_out"])  # and overwrite
    settings = settings_from_params(MergeSettings, p, "settings")
    if settings.mask_image:
        check_absolute("settings.mask_image", settings.mask_image)
    return ConvertInput(_job(req), p["plate"], p["shot_dir"], p["model"], p["identity"], output,
                        p["frames"] or None, settings, p["colourspace"] or None,
                        p["cache_dir"] or None, p["only_faces"])


@operation("convert_shot", "Swap and merge every frame of a shot and write OUT.####.exr with "
                           "the facemask layer and provenance; finished frames are skipped.",
           params=(Param("plate", str, help="plate sequence", path=True),
                   Param("shot_dir", str, help="folder with alignments.json", path=True),
                   Param("model", str, help="model folder", path=True),
                   Param("identity", str, help="identity to swap in"),
                   Param("out", str, help="output sequence, e.g. out.####.exr", path=True),
                   Param("frames", str, "", "frame range (default: all)"),
                   Param("settings", dict, {}, "merge settings (see the merge op)"),
                   Param("colourspace", str, "", "plate colourspace"),
                   Param("cache_dir", str, "", "swap cache folder (re-merges skip the model)",
                         path=True),
                   Param("face_out", str, "", "also write the face alone, face.####.exr",
                         path=True),
                   Param("overwrite", bool, False, "rewrite finished frames"),
                   Param("only_faces", bool, False, "write only the frames that hold a face "
                         "(the reply lists the ranges)")),
           lane="job", progress=True, timeout_s=_DAY, decode=_decode_convert)
def convert_shot(inp: ConvertInput) -> Result:
    from ...convert.pipeline import convert_shot as run
    from ...shot_log import record

    with inp.job.engine.models.use(inp.model, inp.job.engine.device) as model:
        summary = run(inp.plate, inp.shot_dir, model, inp.identity, inp.output,
                      frames=inp.frames, settings=inp.settings, colourspace=inp.colourspace,
                      cache_dir=inp.cache_dir, progress_listener=inp.job.progress,
                      only_faces=inp.only_faces)
        record(inp.shot_dir, "convert", inp.job.command, plate=inp.plate, out=inp.output.pattern,
               model=inp.model, model_id=model.card.model_id, identity=inp.identity,
               frames=inp.frames or "")
    return Result(summary.to_dict())
