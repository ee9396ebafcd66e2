"""Declared settings: the one way a job's user-facing choices are written down.

Each job's settings are a frozen dataclass deriving from :class:`Settings` whose fields are
declared with :func:`setting` (default, help, choices, inclusive bounds). From that one
declaration come the CLI flags (:meth:`Settings.add_flags`), the engine op params
(``server.ops.settings_params``), the Nuke knobs' sliders (checked against ``knobs()`` in the
gizmo tests), the one value check and the one serialisation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict, field, fields
from typing import ClassVar, Self

from .errors import FaceplateError

_METAVAR = {"int": "N", "float": "X", "str": "TEXT"}
_TYPES = {"str": str, "float": float, "int": int, "bool": bool}


def setting(default, help_text: str, choices: tuple[str, ...] = (),
            bounds: tuple[float, float] | None = None):
    """A field with the help, choices and (for numbers) inclusive bounds everything else is
    generated from."""
    return field(default=default, metadata={"help": help_text, "choices": tuple(choices),
                                            "bounds": bounds})


class SettingsError(FaceplateError):
    """A setting has the wrong type or is out of range; the message names what is allowed."""


class Settings:
    """Base of the settings dataclasses: type, choice and bound checks on creation
    (subclasses add cross-field checks in ``check``), ``to_dict``/``from_dict``, ``knobs``."""

    KIND: ClassVar[str] = ""  # "merge", "extract": names the settings in messages

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value, kind = getattr(self, f.name), type(f.default)
            if kind is float and type(value) is int:
                value = float(value)
                object.__setattr__(self, f.name, value)
            if type(value) is not kind:
                raise SettingsError(f"{self.KIND} setting {f.name} must be {kind.__name__}, "
                                    f"not {value!r:.80}")
            choices, bounds = f.metadata["choices"], f.metadata["bounds"]
            if choices and value not in choices:
                raise SettingsError(f"{self.KIND} setting {f.name} {value!r:.80}: use one of "
                                    f"{', '.join(choices)}")
            if bounds and not bounds[0] <= value <= bounds[1]:
                raise SettingsError(f"{self.KIND} setting {f.name} must be between "
                                    f"{bounds[0]:g} and {bounds[1]:g}, not {value!r}")
        self.check()

    def check(self) -> None:
        """Checks across fields (each field's own were done before)."""

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict) -> Self:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"unknown {cls.KIND} settings {', '.join(unknown)}; "
                                f"known: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def knobs(cls) -> list[dict]:
        """Every setting as ``{name, type, default, help, choices[, min, max]}``."""
        return [{"name": f.name, "type": type(f.default).__name__, "default": f.default,
                 "help": f.metadata["help"], "choices": list(f.metadata["choices"]),
                 **({"min": f.metadata["bounds"][0], "max": f.metadata["bounds"][1]}
                    if f.metadata["bounds"] else {})}
                for f in fields(cls)]  # type: ignore[arg-type]

    def digest(self) -> str:
        """A short stable hash of the settings (written into outputs, to notice changes)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def add_flags(cls, parser, prefix: str = "", skip: tuple[str, ...] = ()) -> None:
        """One ``--flag`` per setting on ``parser`` (a parser or argument group); a bool that
        defaults on becomes ``--no-flag``. Unset flags stay None (see :meth:`from_flags`);
        ``prefix`` goes before each destination name."""
        for knob in cls.knobs():
            if knob["name"] in skip:
                continue
            flag = "--" + knob["name"].replace("_", "-")
            dest, default = prefix + knob["name"], knob["default"]
            if knob["type"] == "bool":
                parser.add_argument("--no-" + flag[2:] if default else flag, dest=dest,
                                    action="store_const", const=not default, default=None,
                                    help=("do not: " if default else "") + knob["help"])
                continue
            shown = f"{default:g}" if knob["type"] == "float" else str(default) or "none"
            extra = f"default {shown}"
            if "min" in knob:
                extra += f"; {knob['min']:g} to {knob['max']:g}"
            parser.add_argument(flag, dest=dest, type=_TYPES[knob["type"]], default=None,
                                choices=knob["choices"] or None,
                                metavar=None if knob["choices"] else _METAVAR[knob["type"]],
                                help=f"{knob['help']} ({extra})".replace("%", "%%"))

    @classmethod
    def from_flags(cls, args: argparse.Namespace, prefix: str = "",
                   base: dict | None = None) -> Self:
        """The settings given on the command line over ``base`` (unset flags keep it, or the
        defaults)."""
        data = dict(base or {})
        for f in fields(cls):  # type: ignore[arg-type]
            value = getattr(args, prefix + f.name, None)
            if value is not None:
                data[f.name] = value
        return cls.from_dict(data)
