"""Which faces of a shot to process: all, chosen tracks, the n-th largest, or a person.

``Selection.parse`` reads the CLI/engine spelling: ``all``, ``track:0,2``, ``index:0`` (the
largest face of each frame is index 0) or ``ref:/path/to/photo.png`` (the tracks whose face
descriptor is within ``SAME_PERSON`` of the largest face in that photo).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FaceplateError


@dataclass(frozen=True)
class Selection:
    tracks: tuple[int, ...] | None = None
    indices: tuple[int, ...] | None = None
    reference: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> Selection:
        if text is None or text.strip() in ("", "all"):
            return cls()
        kind, _, value = text.partition(":")
        try:
            if kind == "track":
                return cls(tracks=tuple(int(v) for v in value.split(",")))
            if kind == "index":
                return cls(indices=tuple(int(v) for v in value.split(",")))
        except ValueError:
            pass
        else:
            if kind == "ref" and value:
                return cls(reference=value)
        raise FaceplateError(f"cannot read face selection {text!r}: use all, track:0,2, "
                             "index:0 or ref:/path/to/photo.png")

    @property
    def everything(self) -> bool:
        return self.tracks is None and self.indices is None and self.reference is None

    def __str__(self) -> str:
        if self.tracks is not None:
            return "track:" + ",".join(map(str, self.tracks))
        if self.indices is not None:
            return "index:" + ",".join(map(str, self.indices))
        return f"ref:{self.reference}" if self.reference else "all"


def keep_tracks(selection: Selection, track_ids: list[int],
                distances: dict[int, float] | None = None) -> set[int]:
    """Track ids that ``selection`` keeps (index selection is applied per frame instead).

    ``distances`` maps track → descriptor distance to the reference face (``ref:`` only).
    """
    if selection.tracks is not None:
        missing = sorted(set(selection.tracks) - set(track_ids))
        if missing and len(missing) == len(selection.tracks):
            raise FaceplateError(f"this shot has tracks {track_ids}; none of {missing}")
        return set(selection.tracks) & set(track_ids)
    if selection.reference is not None:
        from .track import SAME_PERSON

        return {t for t, d in (distances or {}).items() if d < SAME_PERSON}
    return set(track_ids)
