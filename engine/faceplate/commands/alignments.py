"""Review and clean a shot's alignments.json: list its tracks, drop a track or some frames of
one, merge two tracks of one person, hold a track back or restore one, draw a contact sheet.

examples:
  faceplate alignments sh010                       # list tracks
  faceplate alignments sh010 --sheet tracks.png    # one strip of crops per track
  faceplate alignments sh010 --drop-track 3 --merge 0 2
  faceplate alignments sh010 --drop-frames 0:1040-1046 --restore 1

Edits are applied in the order drop, merge, hold, restore and written once (atomically).
Held-back tracks are not swapped by faceplate convert.
"""

from __future__ import annotations

HELP = "list, clean and merge the tracks of a shot's alignments"


def add_arguments(parser) -> None:
    parser.add_argument("shot_dir", metavar="SHOTDIR", help="folder with alignments.json")
    parser.add_argument("--drop-track", type=int, action="append", default=[], metavar="N",
                        help="remove every face of track N (repeatable)")
    parser.add_argument("--drop-frames", action="append", default=[], metavar="[N:]RANGE",
                        help="remove the faces of track N (all tracks without N:) on RANGE, "
                             "e.g. 2:1040-1046 (repeatable)")
    parser.add_argument("--merge", nargs=2, type=int, action="append", default=[],
                        metavar=("KEEP", "OTHER"), help="give track OTHER's faces track KEEP's "
                        "id (one person split in two)")
    parser.add_argument("--hold", type=int, action="append", default=[], metavar="N",
                        help="hold track N back: kept in the file, never swapped")
    parser.add_argument("--restore", type=int, action="append", default=[], metavar="N",
                        help="restore a held-back track N (it will be swapped)")
    parser.add_argument("--sheet", metavar="PNG", help="write a contact sheet: one strip of "
                        "aligned crops per track")
    parser.add_argument("--json", action="store_true", help="print the track list as JSON")


def run(args) -> int:
    import json

    from faceplate.errors import FaceplateError
    from faceplate.extract import alignments, review
    from faceplate.io.sequence import parse_frame_range

    result = alignments.load(args.shot_dir)
    changes = []
    for track in args.drop_track:
        changes.append(f"track {track}: {review.drop_track(result, track)} face(s) dropped")
    for spec in args.drop_frames:
        track_text, _, range_text = spec.rpartition(":")
        try:
            track = int(track_text) if track_text else None
        except ValueError:
            raise FaceplateError(f"--drop-frames {spec!r}: use N:RANGE or RANGE, e.g. "
                                 "2:1040-1046") from None
        count = review.drop_frames(result, track, parse_frame_range(range_text))
        changes.append(f"{'track ' + str(track) if track is not None else 'all tracks'} on "
                       f"{range_text}: {count} face(s) dropped")
    for keep, other in args.merge:
        changes.append(f"track {other} merged into {keep}: "
                       f"{review.merge_tracks(result, keep, other)} face(s)")
    for track in args.hold:
        changes.append(f"track {track} held back ({review.set_held_back(result, track, True)} "
                       "faces)")
    for track in args.restore:
        changes.append(f"track {track} restored ({review.set_held_back(result, track, False)} "
                       "faces)")
    if changes:
        alignments.save(result, args.shot_dir, merge=False)
    rows = review.track_table(result)
    sheet = ""
    if args.sheet:
        from faceplate.extract.preview import track_sheet

        sheet = track_sheet(result, args.sheet)
    if args.json:
        print(json.dumps({"tracks": rows, "changes": changes, "sheet": sheet or None},
                         indent=1))
        return 0
    for line in changes:
        print(line)
    print(f"{'track':>5} {'frames':>6} {'first':>6} {'last':>6} {'score':>6} {'conf':>5}")
    for r in rows:
        print(f"{r['track']:>5} {r['frames']:>6} {r['first']:>6} {r['last']:>6} "
              f"{r['mean_score']:>6.2f} {r['confidence']:>5.2f}"
              + ("  held back (not swapped)" if r["held_back"] else ""))
    if not rows:
        print("no faces in this shot")
    if sheet:
        print(f"contact sheet: {sheet}")
    return 0
