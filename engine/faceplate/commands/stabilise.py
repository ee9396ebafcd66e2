"""Write a track's face as a still (stabilised) EXR sequence plus ST maps both ways.

examples:
  faceplate stabilise /shots/sh010/faces -o /shots/sh010/stab/face.####.exr
  faceplate stabilise sh010 -o stab/face.####.exr --size 1024 --track 1 --only-faces --json

Writes OUT/face.####.exr (the aligned crop in the plate's colourspace), face_to_plate.####.exr
(crop size: STMap of the plate with it gives the still face) and plate_to_face.####.exr (plate
size: STMap of a painted still face with it puts the paint back on the plate). ST maps follow
Nuke's STMap: R = s, G = t (0-1 from the bottom-left corner), A = 1 inside the mapped area.

A plate frame that cannot be read is skipped: one line as it happens
("frame 1004: skipped: cannot read ... (why)"), the others are written, and the summary ends
with the skipped frames as ranges.

exit status: 0 every frame written; 2 could not run (bad arguments, no alignments: nothing
written); 3 finished with frames skipped (listed). Never 1: a frame without the track's face
is written black, or left out with --only-faces.
"""

from __future__ import annotations

HELP = "write the stabilised face sequence and ST maps for painting fixes"


def add_arguments(parser) -> None:
    from faceplate.face.align import MAX_SIZE, MIN_SIZE

    parser.add_argument("shot", metavar="SHOTDIR", help="folder with alignments.json")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="face sequence, e.g. stab/face.####.exr (the ST maps go beside it)")
    parser.add_argument("--size", type=int, default=512, metavar="PX",
                        help=f"crop size, {MIN_SIZE}-{MAX_SIZE} (default 512)")
    parser.add_argument("--track", type=int, default=-1, metavar="N",
                        help="face track to stabilise (default: the first kept track)")
    parser.add_argument("--only-faces", action="store_true",
                        help="write only frames where the track has a face (original frame "
                             "numbers); otherwise faceless frames are black with empty maps")
    parser.add_argument("--frames", metavar="RANGE", help="frames, e.g. 1001-1100 "
                        "(default: every frame of the alignments)")
    parser.add_argument("--plate", help="the plate, when it moved since extraction "
                                        "(default: the one alignments.json names)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    import json
    import sys

    from faceplate.stabilise import stabilise_shot

    summary = stabilise_shot(args.shot, args.output, size=args.size, track=args.track,
                             only_faces=args.only_faces, frames=args.frames, plate=args.plate,
                             progress_stream=sys.stderr)
    print(json.dumps(summary.to_dict(), indent=1) if args.json else summary.report())
    return int(summary.exit_code)
