"""The stabilised workflow's op: FaceAlign's Export Stabilised asks the engine for it."""

from __future__ import annotations

from ...face.align import MAX_SIZE, MIN_SIZE
from ..ops import Param, Result, operation

_DAY = 24 * 3600.0


@operation("stabilise_shot", "Write a track's stabilised face sequence (OUT.####.exr) and the "
                             "face_to_plate / plate_to_face ST maps beside it.",
           params=(Param("shot_dir", str, help="folder with alignments.json", path=True),
                   Param("out", str, help="face sequence, e.g. stab/face.####.exr", path=True),
                   Param("size", int, 512, "crop size in pixels", min=MIN_SIZE, max=MAX_SIZE),
                   Param("track", int, -1, "face track (-1: the first kept track)", min=-1,
                         max=10**6),
                   Param("only_faces", bool, False, "write only frames with the track's face"),
                   Param("frames", str, "", "frame range (default: all in the alignments)"),
                   Param("plate", str, "", "plate (default: the one alignments.json names)",
                         path=True)),
           lane="job", progress=True, timeout_s=_DAY)
def stabilise_shot(req) -> Result:
    from ...stabilise import stabilise_shot as run

    p = req.params
    summary = run(p["shot_dir"], p["out"], size=p["size"], track=p["track"],
                  only_faces=p["only_faces"], frames=p["frames"] or None,
                  plate=p["plate"] or None, progress_listener=req.progress)
    return Result(summary.to_dict())
