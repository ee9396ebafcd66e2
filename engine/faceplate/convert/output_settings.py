"""Where and how convert writes: :class:`OutputSettings` (``faceplate convert``'s output flags
are generated from it, the ``convert_shot`` op reads it from its params). Without the image
stack, so the CLI builds its parser cheaply; ``convert.writer`` writes what it says.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from faceplate_client.layout import EXR_COMPRESSIONS, PLATE_COMPRESSION

from ..io.sequence import SequencePattern
from ..settings import Settings, SettingsError, setting

OUTPUT_EXTENSIONS = (".exr", ".png", ".dpx", ".tif", ".tiff")


@dataclass(frozen=True)
class OutputSettings(Settings):
    """Where and how convert writes (``faceplate convert``'s output flags are generated from
    these fields)."""

    KIND = "output"

    pattern: str = setting(help_text="output sequence: .exr (all channels), .png/.dpx/.tif "
                           "(RGBA plus a OUT.facemask.#### sidecar)", type=str, path=True,
                           flags=("-o", "--output"), metavar="OUT.####.exr")
    compression: str = setting(PLATE_COMPRESSION, "EXR compression: plate is the plate's own "
                               "where it is lossless, else zip", EXR_COMPRESSIONS)
    pixel_type: str | None = setting(None, "EXR pixel type; none: the plate's own, so "
                                     "untouched pixels stay bit-identical", ("half", "float"),
                                     type=str)
    face_pattern: str = setting("", "also write the swapped face alone over black with its "
                                "alpha (EXR, over its data window)", path=True,
                                flags=("--face-out",), metavar="FACE.####.exr")
    overwrite: bool = setting(False, "rewrite frames even when a valid frame from this job "
                              "exists")
    single_part: bool = setting(False, "EXR: every channel in one full-frame part instead of "
                                "RGBA plus a face-box part for the layers (slower; for readers "
                                "without multi-part EXR)")

    def check(self) -> None:
        ext = os.path.splitext(self.pattern)[1].lower()
        if SequencePattern.parse(self.pattern) is None:
            raise SettingsError(f"output {self.pattern!r} has no frame number: use e.g. "
                                "out.####.exr")
        if ext not in OUTPUT_EXTENSIONS:
            raise SettingsError(f"cannot write {ext or 'files without extension'}: use "
                                f"{', '.join(OUTPUT_EXTENSIONS)}")
        if self.face_pattern and (SequencePattern.parse(self.face_pattern) is None or
                                  not self.face_pattern.lower().endswith(".exr")):
            raise SettingsError(f"face-only output {self.face_pattern!r} must be an EXR "
                                "sequence, e.g. face.####.exr")
