"""Occlusion ops (FaceMerge's Learn Occlusion button, and TDs): train on painted frames, then
predict the shot's occluder mattes. Both are jobs with streamed progress; cancelling stops
training at the next step without writing a version."""

from __future__ import annotations

from ...occlusion.train import OcclusionTrainSettings
from ..ops import Param, Result, operation, settings_from_params, settings_params

_DAY = 24 * 3600.0
TRAIN_SETTINGS = settings_params(OcclusionTrainSettings, skip=("device",))


@operation("occlusion_train", "Learn what covers the face from painted occluder mattes on a "
                              "few frames; writes SHOT_DIR/occlusion/vNNN.",
           params=(Param("plate", str, help="plate sequence", path=True),
                   Param("shot_dir", str, help="folder with alignments.json", path=True),
                   Param("labels", str, help="plate-sized occluder mattes, e.g. roto.####.exr",
                         path=True),
                   Param("label_frames", str, help="the painted frames, e.g. 1001,1020"),
                   Param("label_channel", str, "A", "channel of the label images"))
           + TRAIN_SETTINGS,
           lane="job", idempotent=False, progress=True, timeout_s=_DAY)
def occlusion_train(req) -> Result:
    from dataclasses import asdict

    from ...io.sequence import parse_frame_range
    from ...occlusion.data import find_labels
    from ...occlusion.train import train_occlusion

    p = req.params
    settings = settings_from_params(OcclusionTrainSettings, p, device=req.engine.device)
    labels = find_labels(p["labels"], parse_frame_range(p["label_frames"]), p["label_channel"])
    result = train_occlusion(p["plate"], p["shot_dir"], labels, settings,
                             progress_listener=req.progress)
    return Result({"version": result.version, **asdict(result.card),
                   "labels": result.card.labels.to_dict()})


@operation("occlusion_predict", "Write the occluder matte of every frame with the shot's "
                                "latest (or a given) occlusion model: vNNN/matte.####.exr.",
           params=(Param("plate", str, help="plate sequence", path=True),
                   Param("shot_dir", str, help="folder with alignments.json", path=True),
                   Param("frames", str, "", "frame range (default: the plate's)"),
                   Param("version", str, "", "version folder (default: the latest)", path=True)),
           lane="job", progress=True, timeout_s=_DAY)
def occlusion_predict(req) -> Result:
    from ...occlusion.predict import predict_occlusion

    p = req.params
    pattern, written = predict_occlusion(p["plate"], p["shot_dir"], version=p["version"],
                                         frames=p["frames"] or None, device=req.engine.device,
                                         progress_listener=req.progress)
    return Result({"pattern": pattern, "frames": written})
