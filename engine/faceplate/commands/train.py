"""Train a face-swap model: one shared encoder, one decoder per identity.

  faceplate train --faceset grace=faces/grace --faceset ada=faces/ada -m models/ga \\
      --consent "Both actors signed release FP-2291 for this show" --time 2h

With no --preset the network is chosen from the device and --time (and the choice is printed).
Every 10th face of each set is held out of training for `faceplate evaluate` (--holdout).
Running the same command again resumes from the newest good checkpoint in MODELDIR/checkpoints.
Ctrl-C (or SIGTERM from the farm) saves a checkpoint before exiting. Watch MODELDIR/preview.png
(faces, reconstructions, swaps, masks) and MODELDIR/loss.png while it runs.
"""

from __future__ import annotations

import argparse
import json
import re

HELP = "train (or resume) a face-swap model from two or more face sets"


def _faceset(text: str) -> tuple[str, str]:
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected IDENTITY=DIR, got {text!r}")
    return name, folder


def _widths(text: str) -> list[int]:
    try:
        return [int(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def _duration(text: str) -> float:
    """Seconds from 90, 90s, 45m, 2h or 1h30m."""
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?",
                         text.strip())
    if not text.strip() or parts is None:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 45m or 2h, got {text!r}")
    h, m, s = (float(p or 0) for p in parts.groups())
    return h * 3600 + m * 60 + s


def _holdout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0 or (value >= 1 and value != int(value)):
        raise argparse.ArgumentTypeError(f"expected a share below 1 (0.1) or a whole count of "
                                         f"faces (20), got {text!r}")
    return value


def _pairs(kind):
    """Parser of ``NAME=VALUE,...`` for the numeric fields of dataclass ``kind``."""
    from dataclasses import fields

    names = {f.name: type(f.default) for f in fields(kind)}

    def parse(text: str) -> dict[str, float]:
        out = {}
        for item in filter(None, text.split(",")):
            name, sep, value = item.partition("=")
            if not sep or name.strip() not in names:
                raise argparse.ArgumentTypeError(
                    f"expected NAME=VALUE with NAME one of {', '.join(sorted(names))}, got "
                    f"{item!r}")
            try:
                out[name.strip()] = names[name.strip()](value)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{name}: expected a {names[name.strip()].__name__}, got {value!r}")
        return out

    return parse


def _fields_help(kind) -> str:
    from dataclasses import fields

    return ", ".join(f"{f.name} ({f.default:g})" for f in fields(kind))


def add_arguments(p: argparse.ArgumentParser) -> None:
    from faceplate.train.augment import Augment
    from faceplate.train.loss import LossWeights
    from faceplate.train.presets import PRESET_HELP
    p.add_argument("--faceset", action="append", type=_faceset, required=True,
                   metavar="IDENTITY=DIR", help="a face set folder per identity (two or more)")
    p.add_argument("-m", "--model", required=True, metavar="MODELDIR",
                   help="model folder (created, or resumed when it holds checkpoints)")
    p.add_argument("--consent", default="",
                   help="consent note for these faces (required for a new model; in its card)")
    p.add_argument("--preset", default="auto", choices=list(PRESET_HELP),
                   help="starting settings: " + "; ".join(f"{k}: {v}"
                                                          for k, v in PRESET_HELP.items()))
    stop = p.add_argument_group("when to stop (any of them; Ctrl-C always saves and stops)")
    stop.add_argument("--steps", type=int, dest="max_steps", help="total training steps")
    stop.add_argument("--time", type=_duration, dest="time_budget_s",
                      help="time budget for this run, e.g. 45m or 2h")
    stop.add_argument("--loss-target", type=float, help="stop when every identity's loss is below")
    stop.add_argument("--clock", choices=["wall", "cpu"],
                      help="what --time counts: wall time (default), or this process's CPU "
                           "time over its threads (the same on an idle machine, steady on a "
                           "busy one)")
    net = p.add_argument_group("network (new models only)")
    net.add_argument("--resolution", type=int, help="crop size, 64-512 in steps of 32")
    net.add_argument("--encoder-widths", type=_widths, metavar="W,W,...")
    net.add_argument("--latent", type=int)
    net.add_argument("--bridge", type=int)
    net.add_argument("--decoder-widths", type=_widths, metavar="W,W,...")
    net.add_argument("--decoder-blocks", type=int, metavar="N",
                     help="residual blocks after each decoder upscale (default 0)")
    net.add_argument("--face-prior", action=argparse.BooleanOptionalAction,
                     help="decoders start from their identity's mean face and learn what differs "
                          "(default on for new models)")
    opt = p.add_argument_group("training")
    opt.add_argument("--batch-size", type=int, help="faces per identity per step (per process)")
    opt.add_argument("--augment", type=_pairs(Augment), metavar="NAME=VALUE,...",
                     help="augmentation, over the preset's: " + _fields_help(Augment))
    opt.add_argument("--loss", type=_pairs(LossWeights), metavar="NAME=VALUE,...",
                     help="loss weights, over the preset's: " + _fields_help(LossWeights))
    opt.add_argument("--lr", type=float, dest="learning_rate", help="Adam learning rate")
    opt.add_argument("--warmup-steps", type=int, metavar="N",
                     help="rate rises linearly over the model's first N steps (default 20)")
    opt.add_argument("--schedule", choices=["cosine", "constant"],
                     help="cosine (default): rate falls to --min-lr of itself by the end of "
                          "--time/--steps")
    opt.add_argument("--min-lr", type=float, metavar="SHARE", help="default 0.1")
    opt.add_argument("--grad-clip", type=float, metavar="NORM",
                     help="gradient norm limit, 0 = off (default 1)")
    opt.add_argument("--ema", type=float, metavar="DECAY",
                     help="the saved weights are an average with this decay, 0 = the raw "
                          "weights (default 0.999)")
    opt.add_argument("--holdout", type=_holdout, metavar="SHARE|COUNT",
                     help="faces of each set kept out of training for evaluation: a share "
                          "(default 0.1, every 10th) or a count; 0 = none")
    opt.add_argument("--seed", type=int)
    opt.add_argument("--colour-match", metavar="IDENTITY",
                     help="move the other face sets' colour toward this identity's")
    opt.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"],
                     help="auto (default): bf16/fp16 on CUDA; on a CPU, fp32 or bf16, "
                          "whichever a few timed steps show faster (measured once per machine "
                          "and model shape)")
    opt.add_argument("--channels-last", action="store_true", default=None)
    opt.add_argument("--compile", action="store_true", default=None, help="torch.compile")
    opt.add_argument("--device", help="auto, cpu or cuda[:N]")
    out = p.add_argument_group("watching")
    out.add_argument("--preview-every", type=int, metavar="STEPS")
    out.add_argument("--checkpoint-every", type=int, metavar="STEPS")
    out.add_argument("--checkpoint-every-time", type=_duration, dest="checkpoint_every_s",
                     metavar="DURATION", help="also checkpoint after this much training, e.g. 20m")
    out.add_argument("--keep", type=int, dest="keep_checkpoints", help="checkpoints kept")
    out.add_argument("--log-every", type=int, metavar="STEPS",
                     help="steps averaged into each loss.csv row")
    out.add_argument("--json", action="store_true", help="print the result as JSON")
    cov = p.add_argument_group("coverage (faceplate coverage, run before training)")
    cov.add_argument("--shot", action="append", metavar="SHOTDIR",
                     help="a shot this model will serve: report first whether the face sets "
                          "cover its poses and expressions (repeatable)")
    cov.add_argument("--require-coverage", action="store_true",
                     help="stop instead of training when a --shot is not covered")


OPTIONS = ("max_steps", "time_budget_s", "loss_target", "clock", "resolution", "encoder_widths",
           "latent", "bridge", "decoder_widths", "decoder_blocks", "face_prior", "batch_size", "learning_rate",
           "warmup_steps", "schedule", "min_lr", "grad_clip", "ema", "holdout", "seed",
           "colour_match", "precision", "channels_last", "compile", "device", "preview_every",
           "checkpoint_every", "checkpoint_every_s", "keep_checkpoints", "log_every", "augment",
           "loss")


def run(args: argparse.Namespace) -> int:
    import sys

    from faceplate.errors import FaceplateError
    from faceplate.train.trainer import TrainConfig, train

    facesets = dict(args.faceset)
    if len(facesets) != len(args.faceset):
        raise FaceplateError("each identity may be given only one --faceset")
    if args.shot:
        from faceplate.coverage.check import preflight

        preflight(args.shot, facesets, require=args.require_coverage, stream=sys.stderr)
    overrides = {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}
    config = TrainConfig.from_preset(args.preset, facesets=facesets, model_dir=args.model,
                                     consent=args.consent, **overrides)
    result = train(config, progress_stream=sys.stderr)
    if result.rank != 0:  # data parallel: one result, from rank 0
        return 0
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        losses = ", ".join(f"{k} {v:.4f}" for k, v in result.losses.items())
        held = ", ".join(f"{k} {v}" for k, v in result.held_out.items())
        print(f"trained {result.steps_this_run} steps ({result.steps} in all, stopped by "
              f"{result.stopped_by}), {result.images_per_s:.1f} images/s; loss {losses}\n"
              f"preset {result.preset}; precision {result.precision}\n"
              f"held out for evaluation (--holdout {config.holdout:g}): {held} faces\n"
              f"model: {result.model_dir}\npreview: {result.preview}\nloss plot: "
              f"{result.loss_plot}")
    return 0
