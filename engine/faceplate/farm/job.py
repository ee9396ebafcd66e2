"""What a shot's farm job does, in one dataclass with one serialisation (``faceplate_job.json``).

The same description feeds the OpenJD bundle, the OpenCue spec and the shot-folder publish
collector, so a TD states the shot once: plate, shot folder, model, target identity, output and
frames; optionally face sets to train on, or a Nuke script to render instead of ``convert``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields

from faceplate_client import documents, layout

from ..errors import FaceplateError
from ..io.atomic import write_text_atomic
from ..io.sequence import SequencePattern, format_frame_range, parse_frame_range

SCHEMA = layout.JOB_SCHEMA
VERSION = layout.JOB_VERSION
JOB_FILE = layout.JOB_FILE
SETTINGS_FILE = layout.MERGE_SETTINGS_FILE  # beside it: what `faceplate convert --settings` reads


class JobError(FaceplateError):
    """A farm job description that cannot run as given."""


@dataclass
class ShotJob:
    shot_dir: str  # extraction output: alignments.json (and faceplate_job.json)
    plate: str  # plate.####.exr
    model_dir: str
    identity: str  # the identity whose decoder renders the face (convert --to)
    output: str  # OUT.####.exr
    frames: str  # "1001-1100"
    name: str = ""
    chunk_size: int = 10
    colourspace: str = ""  # plate colourspace; empty = by file type
    extract: bool = True  # False when alignments.json is already final
    facesets: dict[str, str] = field(default_factory=dict)  # identity → face-set dir: train first
    train_steps: int = 0  # 0 = the trainer's default
    consent: str = ""  # consent note a training step records in the model card
    merge_settings: dict = field(default_factory=dict)  # MergeSettings.to_dict() for convert
    occlusion: bool = False  # predict the shot's occlusion mattes (faceplate occlusion) first
    qc: bool = False  # after the render, the shot's QC report; a failing check fails the job
    nuke_script: str = ""  # render this script's Write node instead of running convert
    nuke_write: str = ""
    faceplate_cmd: str = "faceplate"
    nuke_cmd: str = "nuke"
    gpus: int = 0  # GPUs each task asks the farm for (0: any worker)
    torch_home: str = ""  # weights folder on the workers ($TORCH_HOME)
    ocio: str = ""  # OCIO config on the workers ($OCIO); empty = built-in ACES config

    def __post_init__(self) -> None:
        if not self.name:
            base = os.path.basename(os.path.normpath(self.shot_dir)) or "shot"
            self.name = f"faceplate_{base}"

    @property
    def frame_list(self) -> list[int]:
        return parse_frame_range(self.frames)

    @property
    def renders_with_nuke(self) -> bool:
        return bool(self.nuke_script)

    @property
    def trains(self) -> bool:
        return bool(self.facesets)

    def validate(self) -> ShotJob:
        """Check what can be checked on the submitting machine; return self."""
        frames = self.frame_list  # raises a readable SequenceError
        self.frames = format_frame_range(frames)
        if self.gpus < 0:
            raise JobError(f"--gpus must be 0 or more, got {self.gpus}")
        if self.chunk_size < 1:
            raise JobError(f"chunk size must be 1 or more frames, got {self.chunk_size}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.name):
            raise JobError(f"job name {self.name!r}: use letters, digits, '_', '-' and '.' "
                           "(at most 64)")
        for label, path in (("output", self.output), ("plate", self.plate)):
            if SequencePattern.parse(path) is None:
                raise JobError(f"{label} {path!r} needs a frame number pattern such as "
                               "name.####.exr or name.%04d.exr")
        if self.renders_with_nuke and not self.nuke_write:
            raise JobError("a Nuke render needs the Write node to execute (--nuke-write Write1)")
        if self.trains and len(self.facesets) < 2:
            raise JobError("training needs a face set for each of two or more identities "
                           "(--faceset A=DIR --faceset B=DIR)")
        if self.trains and self.identity not in self.facesets:
            raise JobError(f"target identity {self.identity!r} has no face set to train on; "
                           f"have {', '.join(sorted(self.facesets))}")
        if self.trains and not self.consent.strip():
            raise JobError("training needs a consent note (--consent 'who agreed to what'): "
                           "it is recorded in the model card and every swapped frame")
        return self

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "version": VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict, source: str = "") -> ShotJob:
        """Schema and version checked by ``documents.read_document`` (``source``: the file's
        path, for messages)."""
        try:
            d = documents.read_document(d, SCHEMA, VERSION, name=source)
        except documents.DocumentError as exc:
            raise JobError(str(exc)) from None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def save(self) -> str:
        """Write ``SHOTDIR/faceplate_job.json`` (and the merge settings the farm's convert
        reads); return the job file's path."""
        if self.merge_settings:
            write_text_atomic(os.path.join(self.shot_dir, SETTINGS_FILE),
                              json.dumps(self.merge_settings, indent=1) + "\n")
        path = os.path.join(self.shot_dir, JOB_FILE)
        write_text_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, shot_dir_or_file: str) -> ShotJob:
        path = shot_dir_or_file
        if os.path.isdir(path):
            path = os.path.join(path, JOB_FILE)
        try:
            data = documents.read_document(path, SCHEMA, VERSION)
        except documents.DocumentError as exc:
            if exc.problem is documents.Problem.MISSING:
                raise JobError(f"{path} not found: describe the shot first with "
                               "`faceplate farm bundle SHOTDIR ...`") from None
            raise JobError(str(exc)) from None
        try:
            return cls.from_dict(data, path)
        except TypeError as exc:
            raise JobError(f"job description {path} is damaged ({exc})") from None



