"""Train a face-swap model: one shared encoder, one decoder per identity.

  faceplate train --faceset grace=faces/grace --faceset ada=faces/ada -m models/ga \\
      --consent "Both actors signed release FP-2291 for this show" --time 2h

With no --preset the network is chosen from the device, --time and the faces' size on the plate
(from --shot, or --face-size), and the choice is printed with its reason.
Every 10th face of each set is held out of training for `faceplate evaluate` (--holdout).
Running the same command again resumes from the newest good checkpoint in MODELDIR/checkpoints.
Ctrl-C (or SIGTERM from the farm) saves a checkpoint before exiting. Watch MODELDIR/preview.png
(faces, reconstructions, swaps, masks) and MODELDIR/loss.png while it runs.
--grow-to 256 grows the model one rung (twice the size) at a time, keeping what it learned
(a new model first trains at its own size); --steps/--time are each size's budget.
"""

from __future__ import annotations

import argparse
import json

HELP = "train (or resume) a face-swap model from two or more face sets"


def _faceset(text: str) -> tuple[str, str]:
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected IDENTITY=DIR, got {text!r}")
    return name, folder


# The titles of the flags' groups (each setting names its group in TrainConfig).
GROUPS = {"stop": "when to stop (any of them; Ctrl-C always saves and stops)",
          "network": "network (new models only)", "training": "training",
          "watching": "watching",
          "grow": "growing a model to a larger size (docs/training.md: Growing a model)"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from faceplate.train.config import TrainConfig
    from faceplate.train.presets import PRESET_HELP

    p.add_argument("--faceset", action="append", type=_faceset, required=True,
                   metavar="IDENTITY=DIR", help="a face set folder per identity (two or more)")
    TrainConfig.add_flags(p, skip=("facesets", "preset"), group="")  # -m, --consent
    p.add_argument("--preset", default="auto", choices=list(PRESET_HELP),
                   help="starting settings: " + "; ".join(f"{k}: {v}"
                                                          for k, v in PRESET_HELP.items()))
    groups = {name: p.add_argument_group(title) for name, title in GROUPS.items()}
    for name, group in groups.items():
        TrainConfig.add_flags(group, group=name)
    groups["watching"].add_argument("--json", action="store_true",
                                    help="print the result as JSON")
    cov = p.add_argument_group("coverage (faceplate coverage, run before training)")
    cov.add_argument("--shot", action="append", metavar="SHOTDIR",
                     help="a shot this model will serve: report first whether the face sets "
                          "cover its poses and expressions, and (--preset auto) size the "
                          "model for its faces (repeatable)")
    cov.add_argument("--require-coverage", action="store_true",
                     help="stop instead of training when a --shot is not covered")


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from faceplate.errors import FaceplateError
    from faceplate.train.config import TrainConfig
    from faceplate.train.trainer import train

    facesets = dict(args.faceset)
    if len(facesets) != len(args.faceset):
        raise FaceplateError("each identity may be given only one --faceset")
    if args.shot:
        from faceplate.coverage.check import preflight

        preflight(args.shot, facesets, require=args.require_coverage, stream=sys.stderr)
    base: dict = {"facesets": facesets}
    if args.shot and args.face_size is None:  # --preset auto draws the shot's faces near size
        from faceplate.convert.face_size import shots_face_px

        base["face_size"] = shots_face_px(args.shot)
    config = TrainConfig.from_flags(args, base=base)  # over args.preset's
    result = train(config, progress_stream=sys.stderr)
    if result.rank != 0:  # data parallel: one result, from rank 0
        return 0
    from faceplate.shot_log import record

    record(config.model_dir, "train", facesets={k: os.path.abspath(v) for k, v in
                                                facesets.items()})
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        losses = ", ".join(f"{k} {v:.4f}" for k, v in result.losses.items())
        held = ", ".join(f"{k} {v}" for k, v in result.held_out.items())
        grown = f"; grown {' -> '.join(map(str, result.ladder))} px" if result.ladder else ""
        print(f"trained {result.steps_this_run} steps ({result.steps} in all, stopped by "
              f"{result.stopped_by}), {result.images_per_s:.1f} images/s; loss {losses}\n"
              f"preset {result.preset}; precision {result.precision}{grown}\n"
              f"held out for evaluation (--holdout {config.holdout:g}): {held} faces\n"
              f"model: {result.model_dir}\npreview: {result.preview}\nloss plot: "
              f"{result.loss_plot}")
    return 0
