"""Find, track and align every face of a plate; write SHOTDIR/alignments.json (and a face set).

examples:
  faceplate extract /shots/sh010/plate.####.exr -o /shots/sh010/faces
  faceplate extract plate.%04d.dpx --frames 1001-1100 -o sh010 --colourspace "ARRI LogC4"
  faceplate extract interview.mov -o int01 --select ref:actor.jpg --faceset sets/actor

A frame that cannot be read (damaged, truncated, empty) or used (no RGB) is skipped: one line
as it happens ("frame 1004: skipped: cannot read /shots/plate.1004.exr (file is truncated:
...)"), the other frames go on, alignments.json is written, and the summary ends with the
skipped frames as ranges.

exit status:
  0  every frame had a face
  1  finished; some frames had no face (normal in a shot: a farm task succeeds)
  2  could not run (bad arguments, no plate, no backend): nothing written
  3  finished with frames skipped (listed): a farm task fails, so the wrangler sees it
     (it wins over 1)
"""

from __future__ import annotations

HELP = "detect, track and align faces in a plate"


def add_arguments(parser) -> None:
    from faceplate.extract.settings import ExtractSettings  # dataclasses: cheap to import

    parser.add_argument("plate", help="image sequence (plate.####.exr, %%04d, @@@@), video, or "
                                      "a folder of stills (any sizes)")
    parser.add_argument("-o", "--output", required=True, metavar="SHOTDIR",
                        help="folder for alignments.json")
    parser.add_argument("--frames", metavar="RANGE",
                        help="frames to process, e.g. 1001-1100 (default: all on disk); a "
                             "re-run of a range updates only those frames")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (fan only)")
    parser.add_argument("--weights", metavar="DIR",
                        help="folder with the fan weight files (default: "
                             "$FACEPLATE_WEIGHTS, then $TORCH_HOME/hub/checkpoints)")
    parser.add_argument("--download-weights", action="store_true",
                        help="fetch missing fan weights from their published addresses")
    parser.add_argument("--colourspace", "--colorspace", metavar="NAME",
                        help="the plate's OCIO colourspace (default: ACEScg for EXR, sRGB "
                             "otherwise; config from $OCIO or OCIO's built-in ACES config)")
    parser.add_argument("--faceset", metavar="DIR", help="also write aligned crops for training")
    parser.add_argument("--sort", choices=("blur", "yaw"),
                        help="order the face set: sharpest first, or most frontal first")
    parser.add_argument("--drop-outliers", action="store_true",
                        help="move face-set crops whose landmark shape is far from the mean "
                             "face to DIR/rejected/")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    ExtractSettings.add_flags(parser.add_argument_group("extraction settings"))


def run(args) -> int:
    import json
    import os
    import sys

    from faceplate.extract.pipeline import extract_shot
    from faceplate.extract.settings import ExtractSettings
    from faceplate.shot_log import record

    summary = extract_shot(
        args.plate, args.output, ExtractSettings.from_flags(args), frames=args.frames,
        colourspace=args.colourspace, faceset_dir=args.faceset, progress_stream=sys.stderr,
        device=args.device, weights_dir=args.weights, download_weights=args.download_weights)
    record(args.output, "extract", plate=os.path.abspath(args.plate), frames=args.frames or "")
    if args.faceset and (args.sort or args.drop_outliers):
        from faceplate.extract.curate import drop_outliers, sort_faceset
        from faceplate.extract.faceset import load_faceset

        faceset = load_faceset(args.faceset)
        if args.drop_outliers:
            rejected = drop_outliers(faceset)
            print(f"face set: {len(rejected)} outlier(s) moved to "
                  f"{args.faceset}/rejected", file=sys.stderr)
        if args.sort:
            sort_faceset(faceset, args.sort)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=1))
    else:
        print(summary.report())
    return int(summary.exit_code)
