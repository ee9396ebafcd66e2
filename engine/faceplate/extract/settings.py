"""What a user can choose about an extraction, as one dataclass.

:class:`ExtractSettings` is the single declaration: ``faceplate extract``'s flags and the
engine's ``extract_shot`` op parameters are generated from its fields (help, choices and
bounds declared once, as ``min_max``), and ``__post_init__`` is the one range check.
Per-run things (plate, shot folder, frame range, colourspace, face-set folder) are not here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..errors import FaceplateError
from ..face.align import FACE_TYPES, MAX_SIZE, MIN_SIZE

BACKENDS = ("auto", "fan", "dlib")  # as backends.BACKENDS (that module imports the heavy stack)


def _knob(default, help_text: str, choices: tuple[str, ...] = (),
          min_max: tuple[float, float] | None = None):
    return field(default=default, metadata={"help": help_text, "choices": choices,
                                            "min_max": min_max})


class SettingsError(FaceplateError):
    """An extraction setting is out of range; the message names the allowed values."""


@dataclass(frozen=True)
class ExtractSettings:
    """How faces are found, judged, tracked and smoothed (pixel sizes are plate pixels)."""

    backend: str = _knob("auto", "fan (S3FD + FAN, needs weight files), dlib (offline; "
                         "landmark model non-commercial) or auto: fan when its weights are "
                         "present", BACKENDS)
    face_type: str = _knob("whole_face", "crop framing: face, whole_face (with forehead) or "
                           "head", FACE_TYPES)
    smoothing: float = _knob(0.5, "landmark smoothing over the shot, 0 = off, 1 = strongest",
                             min_max=(0.0, 1.0))
    select: str = _knob("all", "faces to keep: all, track:0,2, index:0 (largest) or "
                        "ref:photo.jpg (this person); low-confidence tracks are held back "
                        "whatever is chosen")
    faceset_size: int = _knob(256, "face set crop size in pixels", min_max=(MIN_SIZE, MAX_SIZE))
    detect_size: int = _knob(0, "long side of the copy a whole frame is searched at (0: the "
                             "backend's default, dlib 1920, fan 960; raise it for small faces)",
                             min_max=(0, 16384))
    min_face: float = _knob(32.0, "skip faces narrower than this many plate pixels",
                            min_max=(0.0, 100000.0))
    redetect_every: int = _knob(10, "search the whole frame for new faces every N frames; "
                                "between, only near tracked faces (1 = every frame)",
                                min_max=(1, 100000))
    verify: bool = _knob(True, "check doubtful detections (low score or an unlikely landmark "
                         "shape) with dlib's CNN face detector, and search with it where a "
                         "track loses its face")
    empty_search_every: int = _knob(5, "where no face is tracked and the first detector finds "
                                    "none, search the whole frame (a 640 px copy) with the "
                                    "CNN detector on every Nth such frame; 0 = never (needs "
                                    "verify)", min_max=(0, 100000))
    empty_search_max: int = _knob(12, "at most this many of those whole-frame CNN searches a "
                                  "shot (each ≈1-4 s on one core)", min_max=(0, 100000))
    min_confidence: float = _knob(0.5, "tracks whose mean confidence is below this are held "
                                  "back (not swapped; restore with faceplate alignments)",
                                  min_max=(0.0, 1.0))
    cut_threshold: float = _knob(0.5, "colour-histogram change (0-1) between frames that "
                                 "counts as a shot cut; 1 = never cut", min_max=(0.0, 1.0))
    preview: bool = _knob(True, "write SHOTDIR/preview.png (faces drawn on a few frames, a "
                          "strip of crops per person)")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = type(f.default)
            if kind is float and type(value) is int:
                object.__setattr__(self, f.name, float(value))
                value = float(value)
            if type(value) is not kind:
                raise SettingsError(f"{f.name} must be {kind.__name__}, not {value!r}")
            choices, bounds = f.metadata["choices"], f.metadata["min_max"]
            if choices and value not in choices:
                raise SettingsError(f"{f.name} {value!r}: use one of {', '.join(choices)}")
            if bounds and not bounds[0] <= value <= bounds[1]:
                raise SettingsError(f"{f.name} {value} is outside {bounds[0]:g}–{bounds[1]:g}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExtractSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"unknown extract settings {', '.join(unknown)}; "
                                f"known: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def knobs(cls) -> list[dict]:
        """Every setting as ``{name, type, default, help, choices, min_max}``: the declaration
        the CLI flags and the engine's extract_shot op are built from."""
        return [{"name": f.name, "type": type(f.default).__name__, "default": f.default,
                 "help": f.metadata["help"], "choices": list(f.metadata["choices"]),
                 "min_max": f.metadata["min_max"]} for f in fields(cls)]


def add_flags(parser) -> None:
    """One ``--flag`` per setting (bools that default on become ``--no-flag``)."""
    types = {"str": str, "float": float, "int": int}
    for knob in ExtractSettings.knobs():
        flag = "--" + knob["name"].replace("_", "-")
        text = knob["help"] + ("" if knob["type"] == "bool" else f" (default {knob['default']})")
        if knob["min_max"] and knob["type"] != "bool":
            text = text[:-1] + f"; {knob['min_max'][0]:g}–{knob['min_max'][1]:g})"
        if knob["type"] == "bool":
            parser.add_argument("--no-" + flag[2:] if knob["default"] else flag,
                                dest=knob["name"], action="store_const",
                                const=not knob["default"], default=None,
                                help=("do not: " if knob["default"] else "") + text)
        else:
            parser.add_argument(flag, dest=knob["name"], type=types[knob["type"]], default=None,
                                choices=knob["choices"] or None,
                                metavar=None if knob["choices"] else
                                {"int": "N", "float": "X", "str": "TEXT"}[knob["type"]],
                                help=text.replace("%", "%%"))


def from_flags(args) -> ExtractSettings:
    """The settings given on the command line (unset flags keep their defaults)."""
    return ExtractSettings.from_dict({k["name"]: getattr(args, k["name"])
                                      for k in ExtractSettings.knobs()
                                      if getattr(args, k["name"], None) is not None})
