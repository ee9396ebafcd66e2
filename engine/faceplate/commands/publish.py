"""Publish swapped shots with pyblish: nothing reaches the publish folder unless every
validator passed.

  faceplate publish SHOTDIR [SHOTDIR ...] --to /publish/faces

Each SHOTDIR needs its faceplate_job.json (written by `faceplate farm bundle`). Checks: the
model fits the shot and carries a consent note, the alignments cover the frames, every output
frame is whole, has the plate's colour channels + the facemask layer and provenance from this
model. Passing shots go to ROOT/<job>/<identity>/vNNN with manifest.json (SHA-256 of every
file). Exit 0 when all published, 1 when a check failed (each failure is printed with the
validator that found it).
"""

from __future__ import annotations

import argparse

HELP = "validate and publish swapped shots (pyblish) to a versioned folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shot_dirs", nargs="+", metavar="SHOTDIR", help="shot folders")
    parser.add_argument("--to", required=True, metavar="ROOT", dest="root",
                        help="publish root: versions go to ROOT/<job>/<identity>/vNNN")
    parser.add_argument("--render", action="store_true",
                        help="render missing frames through the engine before the frame checks")
    parser.add_argument("--resolution", type=int,
                        help="require the model to work at this resolution (px)")
    parser.add_argument("--no-review", dest="review", action="store_false",
                        help="do not make and publish the review contact sheet (review.png)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from ..publish.run import publish

    report = publish([os.path.abspath(d) for d in args.shot_dirs], os.path.abspath(args.root),
                     render=args.render, resolution=args.resolution, review=args.review)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        for warning in report.warnings:
            print(f"warning: {warning}")
        for f in report.failures:
            print(f"FAILED {f.plugin} [{f.instance}]: {f.message}")
        for name, folder in report.published.items():
            print(f"published {name} → {folder}")
        if not report.ok:
            print("nothing unvalidated was published: fix the failures above and run again")
    return 0 if report.ok else 1
