"""Score a trained model on the faces its training held out.

  faceplate evaluate -m models/ga --faceset grace=faces/grace --faceset ada=faces/ada

Per identity: SSIM and PSNR of the reconstruction. Per swap A→B: how far the swapped faces are
from B and from A by an independent face recogniser (dlib; under 0.6 reads as the same person).
Writes MODELDIR/evaluation/evaluation.json and evaluation.png (faces, reconstructions, swaps).
"""

from __future__ import annotations

import argparse
import json

from .train import _faceset

HELP = "score a model: held-out reconstruction SSIM/PSNR and swap identity similarity"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", required=True, metavar="MODELDIR")
    p.add_argument("--faceset", action="append", type=_faceset, required=True,
                   metavar="IDENTITY=DIR", help="the face set of an identity the model knows")
    p.add_argument("-o", "--out", metavar="DIR", help="default: MODELDIR/evaluation")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    import sys

    from faceplate.train.evaluate import evaluate

    report = evaluate(args.model, dict(args.faceset), args.out, args.device,
                      progress_stream=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    print(f"model {report.model_id} after {report.iterations} steps")
    for s in report.identities:
        note = "held-out" if s.held_out else "training faces (set too small to hold out)"
        print(f"  {s.identity:<16} SSIM {s.ssim:.3f}  PSNR {s.psnr:.2f} dB  face SSIM "
              f"{s.ssim_face:.3f}  face PSNR {s.psnr_face:.2f} dB  ({s.faces} {note})")
    for w in report.swaps:
        print(f"  {w.source} → {w.target}: distance to {w.target} {w.distance_to_target:.3f}, "
              f"to {w.source} {w.distance_to_source:.3f}; reads as {w.target} in "
              f"{w.reads_as_target:.0%}")
    print(f"sheet: {report.sheet}")
    return 0
