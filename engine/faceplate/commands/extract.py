"""Find, track and align every face of a plate; write SHOTDIR/alignments.json (and a face set).

examples:
  faceplate extract /shots/sh010/plate.####.exr -o /shots/sh010/faces
  faceplate extract plate.%04d.dpx --frames 1001-1100 -o sh010 --colourspace "ARRI LogC4"
  faceplate extract interview.mov -o int01 --select ref:actor.jpg --faceset sets/actor

exit status: 0 every frame had a face, 1 some frames had none, 2 errors.
"""

from __future__ import annotations

HELP = "detect, track and align faces in a plate"


def add_arguments(parser) -> None:
    from faceplate.face.align import FACE_TYPES, MAX_SIZE, MIN_SIZE

    parser.add_argument("plate", help="image sequence (plate.####.exr, %%04d, @@@@) or video")
    parser.add_argument("-o", "--output", required=True, metavar="SHOTDIR",
                        help="folder for alignments.json")
    parser.add_argument("--frames", metavar="RANGE",
                        help="frames to process, e.g. 1001-1100 (default: all on disk); a "
                             "re-run of a range updates only those frames")
    parser.add_argument("--backend", choices=("auto", "fan", "dlib"), default="auto",
                        help="fan (S3FD + FAN, needs weight files), dlib (offline; landmark "
                             "model non-commercial) or auto: fan when its weights are present")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (fan only)")
    parser.add_argument("--weights", metavar="DIR",
                        help="folder with the fan weight files (default: "
                             "$FACEPLATE_WEIGHTS, then $TORCH_HOME/hub/checkpoints)")
    parser.add_argument("--download-weights", action="store_true",
                        help="fetch missing fan weights from their published addresses")
    parser.add_argument("--colourspace", "--colorspace", metavar="NAME",
                        help="the plate's OCIO colourspace (default: ACEScg for EXR, sRGB "
                             "otherwise; config from $OCIO or OCIO's built-in ACES config)")
    parser.add_argument("--face-type", choices=FACE_TYPES, default="whole_face",
                        help="crop framing: face, whole_face (with forehead) or head")
    parser.add_argument("--smoothing", type=float, default=0.5, metavar="0-1",
                        help="landmark smoothing over the shot, 0 = off (default 0.5)")
    parser.add_argument("--select", default="all", metavar="WHICH",
                        help="faces to keep: all, track:0,2, index:0 (largest) or "
                             "ref:photo.jpg (this person)")
    parser.add_argument("--faceset", metavar="DIR", help="also write aligned crops for training")
    parser.add_argument("--faceset-size", type=int, default=256, metavar="PX",
                        help=f"face set crop size, {MIN_SIZE}-{MAX_SIZE} (default 256)")
    parser.add_argument("--sort", choices=("blur", "yaw"),
                        help="order the face set: sharpest first, or most frontal first")
    parser.add_argument("--drop-outliers", action="store_true",
                        help="move face-set crops whose landmark shape is far from the mean "
                             "face to DIR/rejected/")
    parser.add_argument("--detect-size", type=int, metavar="PX",
                        help="long side of the copy a whole frame is searched at (default: "
                             "dlib 1920, fan 960; raise it to find small faces)")
    parser.add_argument("--min-face", type=float, default=32, metavar="PX",
                        help="skip faces narrower than this in the plate (default 32)")
    parser.add_argument("--redetect-every", type=int, default=10, metavar="N",
                        help="search the whole frame for new faces every N frames; between, "
                             "only near tracked faces (default 10; 1 = every frame)")
    parser.add_argument("--no-preview", action="store_true",
                        help="do not write SHOTDIR/preview.png (faces drawn on a few frames)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    import json
    import sys

    from faceplate.extract.pipeline import extract_shot

    summary = extract_shot(
        args.plate, args.output, frames=args.frames, backend=args.backend,
        colourspace=args.colourspace, face_type=args.face_type, smoothing=args.smoothing,
        select=args.select, faceset_dir=args.faceset, faceset_size=args.faceset_size,
        progress_stream=sys.stderr, device=args.device, weights_dir=args.weights,
        download_weights=args.download_weights, detect_size=args.detect_size,
        min_face=args.min_face, redetect_every=max(1, args.redetect_every),
        preview=not args.no_preview)
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
    return summary.exit_code
