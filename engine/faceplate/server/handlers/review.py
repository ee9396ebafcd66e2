"""The ``edit_alignments`` op: FaceAlign's review and fix knobs edit a shot's alignments.

The same edits as ``faceplate alignments`` (``faceplate.extract.review.apply_edits``: drop a
track or frames, merge, hold back, restore, fix landmarks), sent as data (a list of small
JSON objects; an artist's fix is a frame, a track and the moved points) and applied to the
``alignments.json`` named, which is rewritten atomically. Nothing a client sends is executed.
"""

from __future__ import annotations

from ..ops import Param, Result, operation


@operation("edit_alignments", "Apply review edits and artist fixes to an alignments.json (as "
                              "faceplate alignments does), optionally write the per-track "
                              "contact sheet; returns the frames whose faces changed.",
           params=(Param("path", str, help="alignments.json, or the shot folder holding it",
                         path=True),
                   Param("edits", list, [], "edits in order, each {'action': ...}: "
                         "drop_track, drop_frames, merge, hold, restore or fix (docs/"
                         "extraction.md)"),
                   Param("sheet", str, "", "also write the per-track contact sheet here "
                         "(PNG)", path=True)),
           lane="pool", timeout_s=600.0, idempotent=False)  # a resend would edit twice
def edit_alignments(req) -> Result:
    import os

    from ...errors import FaceplateError
    from ...extract import alignments, review

    p = req.params
    folder = p["path"]
    if folder.endswith(".json"):
        if os.path.basename(folder) != alignments.FILENAME:
            raise FaceplateError(f"{folder} is not an {alignments.FILENAME}")
        folder = os.path.dirname(folder)
    result = alignments.load(folder)
    changes, changed = review.apply_edits(result, p["edits"])
    if p["edits"]:
        alignments.save(result, folder, merge=False)
    sheet = ""
    if p["sheet"]:
        from ...extract.preview import track_sheet

        sheet = track_sheet(result, p["sheet"])
    return Result({"changes": changes, "changed": changed, "sheet": sheet,
                   "tracks": review.track_table(result)})
