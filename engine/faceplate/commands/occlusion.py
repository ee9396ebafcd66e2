"""Occlusion mattes learned per shot from a few frames the artist paints.

  faceplate occlusion train shot/ --labels roto/occluder.####.exr --label-frames 1001,1020,1044
  faceplate occlusion predict shot/
  faceplate convert plate.####.exr --alignments shot/ -m model/ --to B -o out.####.exr \\
      --mask occlusion

Labels are plate-sized mattes (white where something covers the face) on the frames you
painted; `train` learns the occluder in aligned-crop space and keeps each run as a version in
SHOTDIR/occlusion/vNNN (a new run starts from the last one: add a label, train again). `predict`
writes vNNN/matte.####.exr for every frame (your labels as they are on their frames), which
convert's `occlusion` mask source cuts out of the face matte. See docs/compositor.md.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "learn what covers the face from a few painted frames, and predict it for the shot"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..occlusion.train import OcclusionTrainSettings  # dataclasses only: cheap to import

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train on the labelled frames (a new version)")
    predict = sub.add_parser("predict", help="write the matte sequence for the shot")
    for p in (train, predict):
        p.add_argument("shot", metavar="SHOTDIR", help="folder with alignments.json")
        p.add_argument("--plate", help="plate sequence (default: the one the alignments name)")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
    train.add_argument("--labels", required=True, metavar="MATTE.####.exr",
                       help="the painted occluder mattes, plate-sized")
    train.add_argument("--label-frames", metavar="FRAMES",
                       help="the frames that were painted, e.g. 1001,1020,1044 (default: every "
                            "frame of --labels on disk)")
    train.add_argument("--label-channel", default="A",
                       help="channel of the label images (else their first; default A)")
    OcclusionTrainSettings.add_flags(train)
    predict.add_argument("--version", help="model version folder (default: the latest)")
    predict.add_argument("--frames", help="frame range (default: the plate's)")
    predict.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..extract import alignments as alignments_io
    from ..io.sequence import parse_frame_range

    plate = args.plate or alignments_io.load(args.shot).plate
    if args.action == "train":
        from ..occlusion.data import find_labels
        from ..occlusion.train import OcclusionTrainSettings, train_occlusion

        settings = OcclusionTrainSettings.from_flags(args)
        frames = parse_frame_range(args.label_frames) if args.label_frames else None
        labels = find_labels(args.labels, frames, args.label_channel)
        result = train_occlusion(plate, args.shot, labels, settings,
                                 progress_stream=sys.stderr)
        out = {"version": result.version, **asdict(result.card),
               "labels": result.card.labels.to_dict()}
        text = (f"occlusion {result.version}: {result.card.steps} steps in "
                f"{result.card.seconds:.0f} s on {len(labels.frames)} labelled frames, "
                f"IoU on them {result.card.label_iou:.3f}")
    else:
        from ..occlusion.predict import predict_occlusion

        pattern, written = predict_occlusion(plate, args.shot, version=args.version or "",
                                             frames=args.frames, device=args.device,
                                             progress_stream=sys.stderr)
        out = {"pattern": pattern, "frames": len(written)}
        text = f"{len(written)} occlusion mattes → {pattern}"
    print(json.dumps(out, indent=1) if args.json else text)
    return 0
