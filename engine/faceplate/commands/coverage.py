"""Will these face sets cover this shot? Compare every face of a shot with each identity's set.

  faceplate coverage --shot sh010/faces --faceset grace=sets/grace
  faceplate coverage --faceset grace=sets/grace --select 400 --out sets/grace_400
  faceplate coverage --faceset grace=sets/grace --dedupe --out sets/grace_unique

For each shot face: the nearest face of each set in pose (yaw, pitch), expression (mouth,
eyes, brows) and key-light direction, and how far it is in steps (one step = --pose-step
degrees, or the expression/light step). Frames with no face close enough are listed as ranges
with the reason in words. Writes SHOTDIR/coverage_report.json and coverage_report.png (scatter
of shot and set, and the worst-covered frames beside their nearest training faces).
Descriptors are measured once per face and kept in DIR/coverage.json and SHOTDIR/coverage.json.

With --select N or --dedupe (and --out DIR) it instead writes a curated copy of one face set:
N faces spread over the space, or every face but near-duplicates.

exit status: 0 covered (or curated), 1 some shot frames not covered, 2 errors.
"""

from __future__ import annotations

import argparse

HELP = "check that face sets cover a shot's poses, expressions and lighting; curate a set"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from faceplate.commands.train import _faceset
    from faceplate.coverage.report import CoverageSettings

    p.add_argument("--shot", action="append", metavar="SHOTDIR", default=[],
                   help="shot folder with alignments.json (repeat for several shots)")
    p.add_argument("--faceset", action="append", type=_faceset, required=True,
                   metavar="IDENTITY=DIR", help="a face set folder per identity")
    p.add_argument("--report", metavar="FILE.json",
                   help="where the report goes (default SHOTDIR/coverage_report.json; the "
                        "picture beside it as .png); one shot only")
    p.add_argument("--no-picture", action="store_true", help="skip the PNG")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    limits = p.add_argument_group("what counts as covered")
    CoverageSettings.add_flags(limits)
    cur = p.add_argument_group("curation (one face set, written to --out)")
    cur.add_argument("--select", type=int, metavar="N",
                     help="keep N faces spread over the space, sharpest of near-duplicates")
    cur.add_argument("--dedupe", nargs="?", type=float, const=0.25, metavar="STEPS",
                     help="drop faces within STEPS (default 0.25) of a sharper kept face")
    cur.add_argument("--out", metavar="DIR", help="folder for the curated face set")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from faceplate.coverage.report import CoverageSettings
    from faceplate.errors import FaceplateError

    settings = CoverageSettings.from_flags(args)
    facesets = dict(args.faceset)
    if len(facesets) != len(args.faceset):
        raise FaceplateError("each identity may be given only one --faceset")
    if args.select is not None or args.dedupe is not None:
        return _curate(args, facesets, settings)
    if not args.shot:
        raise FaceplateError("give --shot SHOTDIR to check, or --select N / --dedupe with "
                             "--out DIR to curate")
    if args.report and len(args.shot) > 1:
        raise FaceplateError("--report names one file: give one --shot with it")
    from faceplate.coverage.check import check_shot

    reports = []
    for shot in args.shot:
        report, json_path, png_path = check_shot(shot, facesets, settings, output=args.report,
                                                 picture=not args.no_picture,
                                                 progress_stream=sys.stderr)
        reports.append(report)
        if args.json:
            print(json.dumps(report.to_dict()))
        else:
            print(f"shot {shot}\n{report.summary()}\nreport: {json_path}"
                  + (f"\npicture: {png_path}" if png_path else ""))
    return 0 if all(r.covered for r in reports) else 1


def _curate(args, facesets: dict[str, str], settings) -> int:
    import sys

    from faceplate.coverage.curate import DUPLICATE, balanced, without_duplicates, write_subset
    from faceplate.coverage.store import faceset_descriptors
    from faceplate.errors import FaceplateError
    from faceplate.extract.faceset import load_faceset

    if len(facesets) != 1 or not args.out:
        raise FaceplateError("curation takes one --faceset IDENTITY=DIR and --out DIR")
    (name, root), = facesets.items()
    faceset = load_faceset(root)
    descs = faceset_descriptors(faceset, sys.stderr)
    within = DUPLICATE if args.dedupe is None else args.dedupe
    keep = (balanced(descs, args.select, within, settings) if args.select is not None
            else without_duplicates(descs, within, settings))
    subset = write_subset(faceset, descs, keep, args.out, sys.stderr)
    print(f"{name}: kept {len(subset)} of {len(faceset)} faces in {args.out}")
    return 0
