"""A converted shot's QC report: one page that says which frames are weak, and why.

  faceplate report shot/                       # SHOTDIR/report/index.html and report.json
  faceplate report shot/ --faceset B=sets/B --identity-fail 0.65

Reads the shot's alignments and its run log (SHOTDIR/runs.json: the plate, merged frames and
model of its newest convert; each can be given instead) and measures every frame: confidence,
flicker against the plate's own, identity distance to the target face set, expression (the
swap's landmarks against the plate's), face size against the model's resolution, coverage of
the training set and focus. Each check has a warn and a fail threshold (the flags below).
Open index.html in any browser: no server, nothing fetched.

exit status: 0 no check fails (warnings allowed); 1 a check fails (a farm task or a pyblish
validator can stop on it); 2 could not run (no alignments, no convert recorded, bad flags).
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "QC report of a converted shot: per-frame checks, verdicts, worst frames (HTML + JSON)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..qc.thresholds import QcSettings  # a dataclass only: cheap to import

    parser.add_argument("shot", metavar="SHOTDIR", help="shot folder (alignments.json)")
    parser.add_argument("-o", "--output", metavar="DIR", default="",
                        help="report folder (default SHOTDIR/report)")
    found = parser.add_argument_group("what to report on (default: the shot's newest convert)")
    found.add_argument("--merged", default="", metavar="OUT.####.exr",
                       help="the merged frames")
    found.add_argument("--plate", default="", metavar="PLATE.####.exr", help="the plate")
    found.add_argument("-m", "--model", default="", metavar="MODELDIR", help="the model")
    found.add_argument("--identity", default="", help="the identity swapped in")
    found.add_argument("--faceset", default="", metavar="DIR",
                       help="the target identity's face set (default: the one the model was "
                            "trained on)")
    QcSettings.add_flags(parser.add_argument_group("thresholds"))
    parser.add_argument("--json", action="store_true", help="print report.json on stdout")


def run(args: argparse.Namespace) -> int:
    from ..qc.shot_report import write_report
    from ..qc.thresholds import QcSettings

    report = write_report(args.shot, out_dir=args.output, merged=args.merged, plate=args.plate,
                          model=args.model, identity=args.identity, faceset=args.faceset,
                          settings=QcSettings.from_flags(args),
                          progress_stream=sys.stderr)
    if args.json:
        print(json.dumps(report.data, indent=1))
    else:
        print(report.summary())
    return 1 if report.failed else 0
