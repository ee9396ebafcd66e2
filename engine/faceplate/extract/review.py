"""Review and clean a shot's alignments: list tracks, drop a track or frames, merge two
tracks, hold a track back or restore one, import an artist's fix (``faceplate alignments``,
and FaceAlign's review knobs through the engine's ``edit_alignments`` op).

Edits are data (:func:`apply_edits`: a list of ``{"action": ..., ...}``), so the CLI, the
engine op and a Nuke script apply the same list the same way. Review edits change only which
faces are in ``frames`` (swapped) or ``held_back`` (not swapped) and their track ids; a
``fix`` (``extract.fixes``) sets landmarks, recomputes matrices and blends the neighbours.
"""

from __future__ import annotations

import numpy as np

from ..errors import FaceplateError
from .alignments import Alignments, FaceRecord, TrackInfo
from .fixes import Fix, apply_fixes

ACTIONS = ("drop_track", "drop_frames", "merge", "hold", "restore", "fix")
MAX_EDITS = 100_000


def apply_edits(result: Alignments, edits: list[dict]) -> tuple[list[str], list[int]]:
    """Apply ``edits`` in order; returns what each did (for people) and the frames whose faces
    changed (what align, swap and merge must redo). A ``fix`` edit is one import: its
    ``fixes`` were all read against the alignments as the edits before it left them."""
    if not isinstance(edits, list) or len(edits) > MAX_EDITS:
        raise FaceplateError(f"edits must be a list of at most {MAX_EDITS} edits")
    before = _snapshot(result)
    changes: list[str] = []
    for edit in edits:
        action = edit.get("action") if isinstance(edit, dict) else None
        if action not in ACTIONS:
            raise FaceplateError(f"unknown edit {str(edit)[:200]}: actions are "
                                 f"{', '.join(ACTIONS)}")
        if action == "fix":
            listed = edit.get("fixes")
            if not isinstance(listed, list) or not listed:
                raise FaceplateError("a fix edit needs a non-empty list 'fixes'")
            fixes = [Fix.from_dict(f) for f in listed]
            count = apply_fixes(result, fixes)
            changes.append(f"{count} face(s) fixed on frame(s) "
                           f"{frame_list([f.frame for f in fixes])}")
        else:
            changes.append(_review_edit(result, action, edit))
    after = _snapshot(result)
    changed = sorted(f for f in set(before) | set(after) if before.get(f) != after.get(f))
    return changes, changed


def _review_edit(result: Alignments, action: str, edit: dict) -> str:
    try:
        if action == "drop_track":
            track = _int(edit["track"])
            return f"track {track}: {drop_track(result, track)} face(s) dropped"
        if action == "drop_frames":
            only = None if edit.get("track") is None else _int(edit["track"])
            frames = [_int(f) for f in edit["frames"]]
            count = drop_frames(result, only, frames)
            who = "all tracks" if only is None else f"track {only}"
            return f"{who} on {frame_list(frames)}: {count} face(s) dropped"
        if action == "merge":
            keep, other = _int(edit["keep"]), _int(edit["other"])
            return (f"track {other} merged into {keep}: {merge_tracks(result, keep, other)} "
                    "face(s)")
        track = _int(edit["track"])
        held = action == "hold"
        count = set_held_back(result, track, held)
        return f"track {track} {'held back' if held else 'restored'} ({count} faces)"
    except (KeyError, TypeError) as exc:
        raise FaceplateError(f"edit {edit!r} is missing or mistypes {exc}") from None


def _int(value) -> int:
    if type(value) is not int:
        raise TypeError(f"{value!r} (an integer)")
    return value


def _snapshot(result: Alignments) -> dict[int, tuple]:
    """Per frame, what swap and merge see of it: kept and held-back faces, as JSON."""
    return {f: (tuple(str(r.to_json()) for r in result.frames.get(f, [])),
                tuple(str(r.to_json()) for r in result.held_back.get(f, [])))
            for f in set(result.frames) | set(result.held_back)}


def frame_list(frames: list[int]) -> str:
    """1001-1003, 1007 (runs of consecutive frames)."""
    runs: list[list[int]] = []
    for f in sorted(set(frames)):
        if runs and f == runs[-1][-1] + 1:
            runs[-1].append(f)
        else:
            runs.append([f])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def track_table(result: Alignments) -> list[dict]:
    """One row per track: frames, first and last frame, mean detector score, confidence."""
    rows = []
    for track in _all_tracks(result):
        faces = [(f, r) for f, r in _faces_of(result, track)]
        frames = sorted({f for f, _ in faces})
        info = result.track_info.get(track)
        confidences = [r.confidence for _, r in faces if r.confidence is not None]
        rows.append({"track": track, "frames": len(frames), "first": frames[0],
                     "last": frames[-1],
                     "mean_score": round(float(np.mean([r.score for _, r in faces])), 3),
                     "confidence": round(info.confidence if info else float(np.mean(
                         confidences)) if confidences else 1.0, 3),
                     "held_back": any(track == r.track for v in result.held_back.values()
                                      for r in v)})
    return rows


def drop_track(result: Alignments, track: int) -> int:
    """Remove every face of ``track``; returns how many were removed."""
    _check(result, track)
    removed = _remove(result, lambda frame, r: r.track == track)
    result.track_info.pop(track, None)
    return removed


def drop_frames(result: Alignments, track: int | None, frames: list[int]) -> int:
    """Remove the faces of ``track`` (every track when None) on ``frames``; the frames stay
    processed (an empty list means: no face there)."""
    if track is not None:
        _check(result, track)
    wanted = set(frames)
    removed = _remove(result, lambda frame, r: frame in wanted and track in (None, r.track))
    _refresh(result)
    return removed


def merge_tracks(result: Alignments, keep: int, other: int) -> int:
    """Give ``other``'s faces ``keep``'s id (one person split in two); returns faces moved."""
    _check(result, keep)
    _check(result, other)
    if keep == other:
        raise FaceplateError(f"cannot merge track {keep} into itself")
    both = sorted({f for f, _ in _faces_of(result, keep)} & {f for f, _ in _faces_of(result, other)})
    if both:
        raise FaceplateError(f"tracks {keep} and {other} are both in frame(s) "
                             f"{', '.join(map(str, both[:10]))}: two faces in one frame are "
                             "two people, not one track; drop those frames of one track first")
    moved = 0
    held = any(r.track == keep for v in result.held_back.values() for r in v)
    for frame, record in list(_faces_of(result, other)):
        record.track = keep
        moved += 1
    # one person is swapped or not as a whole: follow the track that is kept
    _set_held(result, keep, held)
    result.track_info.pop(other, None)
    _refresh(result)
    return moved


def set_held_back(result: Alignments, track: int, held: bool) -> int:
    """Hold a track back (never swapped) or restore it; returns its face count."""
    _check(result, track)
    count = _set_held(result, track, held)
    _refresh(result)
    return count


def _set_held(result: Alignments, track: int, held: bool) -> int:
    source, target = (result.frames, result.held_back) if held else (result.held_back,
                                                                       result.frames)
    count = 0
    for frame in list(source):
        moving = [r for r in source[frame] if r.track == track]
        if moving:
            source[frame] = [r for r in source[frame] if r.track != track]
            target.setdefault(frame, []).extend(moving)
            target[frame].sort(key=lambda r: -(r.bbox[2] - r.bbox[0]))
            count += len(moving)
    for frame in [f for f, v in result.held_back.items() if not v]:
        del result.held_back[frame]  # frames (not held_back) keep [] for "processed, no face"
    return count


def _all_tracks(result: Alignments) -> list[int]:
    return sorted({r.track for v in list(result.frames.values()) +
                   list(result.held_back.values()) for r in v})


def _faces_of(result: Alignments, track: int):
    for store in (result.frames, result.held_back):
        for frame in sorted(store):
            for record in store[frame]:
                if record.track == track:
                    yield frame, record


def _check(result: Alignments, track: int) -> None:
    tracks = _all_tracks(result)
    if track not in tracks:
        raise FaceplateError(f"no track {track} in this shot; it has tracks "
                             f"{', '.join(map(str, tracks)) or 'none'}")


def _remove(result: Alignments, doomed) -> int:
    removed = 0
    for store in (result.frames, result.held_back):
        for frame in list(store):
            keep = [r for r in store[frame] if not doomed(frame, r)]
            removed += len(store[frame]) - len(keep)
            store[frame] = keep
    for frame in [f for f, v in result.held_back.items() if not v]:
        del result.held_back[frame]
    return removed


def _refresh(result: Alignments) -> None:
    """Track infos recomputed from the faces (confidence from the faces' own, when known)."""
    info: dict[int, TrackInfo] = {}
    for track in _all_tracks(result):
        faces: list[FaceRecord] = [r for _, r in _faces_of(result, track)]
        known = [r.confidence for r in faces if r.confidence is not None]
        old = result.track_info.get(track)
        confidence = float(np.mean(known)) if known else old.confidence if old else 1.0
        held = any(r.track == track for v in result.held_back.values() for r in v)
        info[track] = TrackInfo(confidence, len(faces), held)
    result.track_info = info
