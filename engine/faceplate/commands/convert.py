"""Swap faces in a plate with a trained model and merge them back.

  faceplate convert plate.####.exr --alignments shot/ -m model/ --to B -o out/sh010.####.exr
  faceplate convert plate.####.exr --alignments shot/ -m model/ --to B -o out.####.exr \\
      --frames 1001-1100 --colour seamless --erode 4 --blur 6

Writes premultiplied RGBA plus a `facemask` layer (face, learned, hull) and provenance metadata
in every frame. Frames already written by the same job are skipped, so a killed run resumes;
swaps are cached in SHOTDIR/swapcache, so re-running with only new merge settings is cheap.
A frame that cannot be read (a damaged plate frame, a frame of another size than the
alignments) or written is skipped: the other frames are written and the summary names each
skipped frame on a line of its own ("frame 1004: skipped: cannot read ... (why)"), then lists
them as ranges. See docs/convert.md.

exit status: 0 every frame written (a frame without a face is written unchanged: never 1);
2 could not run (bad arguments, no alignments, no model); 3 finished with frames skipped: a
farm task fails, so the wrangler sees it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HELP = "swap faces with a model and merge them into the plate (EXR with facemask layer)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..convert.output_settings import OutputSettings  # dataclasses only: cheap to import
    from ..convert.settings import MergeSettings

    parser.add_argument("plate", help="plate sequence (plate.####.exr), still or video")
    parser.add_argument("--alignments", required=True, metavar="SHOTDIR",
                        help="folder with alignments.json from faceplate extract")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("-m", "--model", metavar="MODELDIR", help="trained model folder")
    model.add_argument("--null-swap", action="store_true",
                       help="no model: faces go through unchanged (checks masks and colour)")
    parser.add_argument("--to", required=True, metavar="IDENTITY",
                        help="identity whose decoder draws the new face")
    parser.add_argument("--frames", help="frame range, e.g. 1001-1100 (default: all)")
    parser.add_argument("--colourspace", help="plate colourspace (default: the alignments', "
                        "else ACEScg for EXR, sRGB otherwise)")
    merge = parser.add_argument_group("merge settings (re-merging reuses cached swaps)")
    merge.add_argument("--settings", metavar="JSON",
                       help="merge settings file (MergeSettings.to_dict); flags override it")
    MergeSettings.add_flags(merge, prefix="merge_")
    out = parser.add_argument_group("output")
    OutputSettings.add_flags(out, prefix="output_")  # -o/--output OUT.####.exr and how
    out.add_argument("--only-faces", action="store_true",
                     help="write only the frames that hold a kept face (original frame "
                          "numbers); the summary lists the ranges written")
    out.add_argument("--cache", metavar="DIR", help="swap cache (default SHOTDIR/swapcache)")
    out.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    out.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default auto)")
    out.add_argument("--batch-frames", type=int, default=4, metavar="N",
                     help="frames whose faces go through the model together (default 4)")
    out.add_argument("--serial", action="store_true",
                     help="read, swap, merge and write one after another instead of "
                          "overlapped (same output; for comparing and debugging)")
    out.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    out.add_argument("--sheet", metavar="PNG",
                     help="also write a contact sheet (plate, aligned face, swap, merged frame, "
                          "matte for a few frames): a look instead of a log (EXR output only)")


def run(args: argparse.Namespace) -> int:
    from ..convert.output_settings import OutputSettings
    from ..convert.pipeline import convert_shot
    from ..convert.settings import MergeSettings
    from ..convert.swap import PassthroughModel, Swapper
    from ..errors import ExitCode, FaceplateError, skipped_summary
    from ..shot_log import record

    settings = _merge_settings(args, MergeSettings, FaceplateError)
    model: Swapper
    if args.null_swap:
        from ..extract import alignments

        model = PassthroughModel(256, alignments.load(args.alignments).face_type,
                                 identities=[args.to])
    else:
        from ..model.store import load_model

        model = load_model(args.model, device=args.device)
    output = OutputSettings.from_flags(args, prefix="output_")
    if args.sheet and not output.pattern.lower().endswith(".exr"):
        raise FaceplateError("--sheet shows the facemask layer: write EXR (-o out.####.exr)")
    cache = None if args.no_cache else (args.cache or os.path.join(args.alignments, "swapcache"))
    summary = convert_shot(args.plate, args.alignments, model, args.to, output,
                           frames=args.frames, settings=settings, colourspace=args.colourspace,
                           cache_dir=cache, progress_stream=sys.stderr,
                           batch_frames=args.batch_frames, only_faces=args.only_faces,
                           serial=args.serial)
    record(args.alignments, "convert", plate=os.path.abspath(args.plate),
           out=os.path.abspath(output.pattern),
           model=os.path.abspath(args.model) if args.model else "",
           model_id=model.card.model_id, identity=args.to, frames=args.frames or "")
    result = summary.to_dict()
    if args.sheet:
        from ..contact_sheet import contact_sheet

        result["sheet"] = contact_sheet(args.plate, args.alignments, output.pattern, args.sheet,
                                        colourspace=summary.colourspace)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{result['swapped']} frames swapped, {result['passthrough']} passed through, "
              f"{result['skipped']} already done, {result['failed']} failed → {output.pattern}"
              + (f"; contact sheet {result['sheet']}" if args.sheet else ""))
        if args.only_faces:
            print(f"  frames with a face: {summary.ledger().report()}")
        for frame in summary.frames:
            if frame.status == "passthrough":
                print(f"  frame {frame.frame}: {frame.status}: {frame.message}")
    failed = [f.frame for f in summary.frames if f.status == "failed"]
    if failed:  # each one's line went to stderr as it happened
        print(skipped_summary(failed, "could not be converted"), file=sys.stderr)
    return int(ExitCode.FRAMES_SKIPPED if failed else ExitCode.OK)


def _merge_settings(args: argparse.Namespace, settings_cls, error_cls):
    data: dict = {}
    if args.settings:
        try:
            with open(args.settings) as fh:
                data = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise error_cls(f"cannot read merge settings {args.settings}: {exc}") from None
        if not isinstance(data, dict):
            raise error_cls(f"merge settings {args.settings} must be a JSON object")
    return settings_cls.from_flags(args, prefix="merge_", base=data)
