"""What a shot's QC report reads: the alignments, the plate, the merged frames, the model and the
target's face set, found from the shot folder (its run log) unless given."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from faceplate_client import layout

from ..errors import FaceplateError
from ..extract import alignments as alignments_io
from ..io.colour import default_space_for
from ..io.sequence import SequencePattern, open_plate
from ..model.card import ModelCard, ModelError
from ..shot_log import runs as run_log


@dataclass
class ShotInputs:
    shot_dir: str
    alignments: alignments_io.Alignments
    plate: str  # plate pattern
    merged: str  # merged frames pattern
    frames: list[int]  # the merged frames on disk, in order
    identity: str  # the identity swapped in
    model_dir: str = ""
    card: ModelCard | None = None
    faceset: str = ""  # the target identity's face set ("" unknown: no identity figures)
    runs: list[dict] = field(default_factory=list)

    @property
    def report_frames(self) -> list[int]:
        """Every frame the report covers: those merged and those with alignments."""
        return sorted(set(self.frames) | set(self.alignments.frames))

    @property
    def colourspace(self) -> str:
        """The plate's: the alignments' (what extraction read it as), else by its file type."""
        return self.alignments.colourspace or default_space_for(self.plate)


def shot_inputs(shot_dir: str, *, merged: str = "", plate: str = "", model: str = "",
                identity: str = "", faceset: str = "") -> ShotInputs:
    """Everything from ``SHOTDIR/runs.json``'s newest convert, each overridable; clear errors
    for what cannot be found."""
    shot_dir = os.path.abspath(shot_dir)
    aligns = alignments_io.load(shot_dir)  # a FaceplateError naming extract when missing
    shot_runs = run_log(shot_dir)
    run: dict = next((r for r in reversed(shot_runs) if r.get("stage") == "convert"), {})
    merged = merged or run.get("out", "")
    if not merged:
        raise FaceplateError(f"no convert is recorded in {os.path.join(shot_dir, layout.RUNS_FILE)}"
                             f": convert the shot first (faceplate convert --alignments "
                             f"{shot_dir} ...)")
    if SequencePattern.parse(merged) is None and not os.path.isfile(merged):
        raise FaceplateError(f"merged frames {merged!r}: give a sequence such as "
                             "comp/merged.####.exr")
    try:
        frames = list(open_plate(merged).frames)
    except FaceplateError as exc:
        raise FaceplateError(f"cannot read the shot's merged frames: {exc}") from None
    plate = plate or run.get("plate", "") or aligns.plate
    model = model or run.get("model", "")
    card = None
    if model:
        try:
            card = ModelCard.load(os.path.join(model, layout.MODEL_CARD))
        except ModelError as exc:
            raise FaceplateError(f"the shot's model: {exc}") from None
    identity = identity or run.get("identity", "")
    if not identity:
        raise FaceplateError("which identity was swapped in is not recorded: give --identity")
    faceset = faceset or (card.facesets.get(identity, "") if card else "")
    if faceset and not os.path.isdir(faceset):
        faceset = ""  # trained elsewhere: the identity figures are left out, and the page says so
    runs = shot_runs + (run_log(model) if model else [])  # and the model's training
    return ShotInputs(shot_dir, aligns, plate, merged, frames, identity, model, card, faceset,
                      sorted(runs, key=lambda r: str(r.get("time", ""))))
