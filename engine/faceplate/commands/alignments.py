"""Review and clean a shot's alignments.json: list its tracks, drop a track or some frames of
one, merge two tracks of one person, hold a track back or restore one, import an artist's
landmark fixes, draw a contact sheet.

examples:
  faceplate alignments sh010                       # list tracks
  faceplate alignments sh010 --sheet tracks.png    # one strip of crops per track
  faceplate alignments sh010 --drop-track 3 --merge 0 2
  faceplate alignments sh010 --drop-frames 0:1040-1046 --restore 1
  faceplate alignments sh010 --import-points fixes.json   # then faceplate convert redoes
                                                          # only the frames that changed

Edits are applied in the order drop, merge, hold, restore, import and written once
(atomically). Held-back tracks are not swapped by faceplate convert. The fix file's schema is
in docs/extraction.md (frame → track → landmark index → [x, y]).
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
    parser.add_argument("--import-points", action="append", default=[], metavar="JSON",
                        help="an artist's moved landmarks (schema faceplate.fixes): they "
                        "replace those faces' landmarks, matrices are recomputed and the "
                        "neighbouring frames blended toward them (repeatable)")
    parser.add_argument("--sheet", metavar="PNG", help="write a contact sheet: one strip of "
                        "aligned crops per track")
    parser.add_argument("--json", action="store_true", help="print the track list as JSON")


def run(args) -> int:
    import json

    from faceplate.errors import FaceplateError
    from faceplate.extract import alignments, fixes, review
    from faceplate.io.sequence import parse_frame_range

    result = alignments.load(args.shot_dir)
    edits: list[dict] = [{"action": "drop_track", "track": t} for t in args.drop_track]
    for spec in args.drop_frames:
        track_text, _, range_text = spec.rpartition(":")
        try:
            track = int(track_text) if track_text else None
        except ValueError:
            raise FaceplateError(f"--drop-frames {spec!r}: use N:RANGE or RANGE, e.g. "
                                 "2:1040-1046") from None
        edits.append({"action": "drop_frames", "track": track,
                      "frames": parse_frame_range(range_text)})
    edits += [{"action": "merge", "keep": k, "other": o} for k, o in args.merge]
    edits += [{"action": "hold", "track": t} for t in args.hold]
    edits += [{"action": "restore", "track": t} for t in args.restore]
    for path in args.import_points:
        edits.append({"action": "fix", "fixes": [fix.to_dict() for fix in
                                                 fixes.read_fix_file(path, result)]})
    changes, changed = review.apply_edits(result, edits)
    if edits:
        alignments.save(result, args.shot_dir, merge=False)
    rows = review.track_table(result)
    sheet = ""
    if args.sheet:
        from faceplate.extract.preview import track_sheet

        sheet = track_sheet(result, args.sheet)
    if args.json:
        print(json.dumps({"tracks": rows, "changes": changes, "changed_frames": changed,
                          "sheet": sheet or None}, indent=1))
        return 0
    for line in changes:
        print(line)
    if changed:
        print(f"{len(changed)} frame(s) changed: {review.frame_list(changed)} (faceplate "
              "convert re-renders only these)")
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
