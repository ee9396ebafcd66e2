"""Declared settings: the one way a job's user-facing choices are written down.

Each job's settings are a dataclass deriving from :class:`Settings` whose fields are declared
with :func:`setting` (default or ``required``, help, choices, inclusive bounds, and for the CLI
the flag's spelling, metavar, text parser and group). From that one declaration come the CLI
flags (:meth:`Settings.add_flags`), the engine op params (``server.ops.settings_params``, read
back with ``server.ops.settings_from_params``), the Nuke knobs' sliders (checked against
``knobs()`` in the gizmo tests), the one value check (:func:`check_value`, which the op params
use too) and the one serialisation.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar

from typing_extensions import Self  # typing.Self is Python 3.11+

from .errors import FaceplateError

_METAVAR = {int: "N", float: "X", str: "TEXT"}
_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
          list: "a list", dict: "an object"}
_EXACT_FLOAT = 2**53  # the largest integer a float holds exactly


class SettingsError(FaceplateError):
    """A setting has the wrong type or is out of range; the message names what is allowed."""


def setting(default: Any = MISSING, help_text: str = "", choices: tuple[str, ...] = (),
            bounds: tuple[float, float] | None = None, *, type: type | None = None,
            path: bool = False, flags: tuple[str, ...] = (), metavar: str = "",
            parse: Callable[[str], Any] | None = None, group: str = "") -> Any:
    """A field with the help, choices and (for numbers) inclusive bounds everything else is
    generated from.

    No ``default``: the setting is required. ``type`` is the default's type unless given (it
    must be for a required setting, or a default of None, which then means "unset"); a list,
    a dict or a :class:`Settings` default is copied for each instance, and a nested settings
    field also takes a dict of its fields. ``path``: a file or folder (op params must be
    absolute). For the CLI: ``flags`` (the option strings when not ``--name``; for a bool, the
    ``--no-`` ones turn it off), ``metavar``, ``parse`` (text → value) and ``group`` (the
    argument group :meth:`Settings.add_flags` is asked for)."""
    kind = type if type is not None else _type_of(default)
    if kind is None:
        raise TypeError("setting(): a required setting, or one defaulting to None, needs type=")
    spec = Spec(kind, tuple(choices), bounds, path, tuple(flags), metavar, parse, group,
                optional=default is None)
    metadata = {"help": help_text, "choices": spec.choices, "bounds": bounds, "spec": spec}
    if default is MISSING:
        return field(metadata=metadata)
    if isinstance(default, (list, dict, Settings)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _type_of(default: Any) -> type | None:
    return None if default is MISSING or default is None else type(default)


@dataclass(frozen=True)
class Spec:
    """What :func:`setting` declares beside the help (kept in the field's metadata)."""

    type: type
    choices: tuple[str, ...] = ()
    bounds: tuple[float, float] | None = None
    path: bool = False
    flags: tuple[str, ...] = ()
    metavar: str = ""
    parse: Callable[[str], Any] | None = None
    group: str = ""
    optional: bool = False  # None is allowed (the default): unset


@dataclass(frozen=True)
class Declared:
    """One declared setting as the generators read it."""

    name: str
    help: str
    default: Any  # MISSING when required
    spec: Spec

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def nested(self) -> type[Settings] | None:
        kind = self.spec.type
        return kind if isinstance(kind, type) and issubclass(kind, Settings) else None


def check_value(label: str, value: Any, kind: type, choices: tuple = (),
                bounds: tuple[float, float] | None = None) -> Any:
    """``value`` checked against a declared type, choices and inclusive bounds (a number with
    bounds must also be finite), or a :class:`SettingsError` naming ``label``. An int stands
    for a float where the float holds it exactly. The one check of settings and op params."""
    if kind is float and type(value) is int and abs(value) <= _EXACT_FLOAT:
        value = float(value)
    if type(value) is not kind:
        raise SettingsError(f"{label} must be {_word(kind)}, got {_shown(value)}")
    if choices and value not in choices:
        raise SettingsError(f"{label} cannot be {value!r:.80}: use one of "
                            f"{', '.join(map(str, choices))}")
    if bounds is not None and isinstance(value, (int, float)) and \
            not (math.isfinite(value) and bounds[0] <= value <= bounds[1]):
        raise SettingsError(f"{label} must be between {_number(bounds[0])} and "
                            f"{_number(bounds[1])}, got {_number(value)}")
    return value


def _word(kind: type) -> str:
    if isinstance(kind, type) and issubclass(kind, Settings):
        return f"an object of {kind.KIND} settings"
    return _WORDS.get(kind, kind.__name__)


def _shown(value: Any) -> str:
    if value is None or isinstance(value, (str, int, float, bool)):
        return f"{value!r:.80}"
    return _word(type(value))


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_DECLARED: dict[type, tuple[Declared, ...]] = {}


class Settings:
    """Base of the settings dataclasses: type, choice and bound checks on creation
    (subclasses add cross-field checks in ``check``), ``to_dict``/``from_dict``, ``knobs``,
    ``add_flags``/``from_flags``."""

    KIND: ClassVar[str] = ""  # "merge", "extract": names the settings in messages

    def __post_init__(self) -> None:
        for d in self.declared():
            value = getattr(self, d.name)
            if value is None and d.spec.optional:
                continue
            if d.nested is not None and isinstance(value, dict):
                checked = d.nested.from_dict(value)
            else:
                checked = check_value(f"{self.KIND} setting {d.name}", value, d.spec.type,
                                      d.spec.choices, d.spec.bounds)
            if checked is not value:
                object.__setattr__(self, d.name, checked)
        self.check()

    def check(self) -> None:
        """Checks across fields (each field's own were done before); raise SettingsError."""

    @classmethod
    def declared(cls) -> tuple[Declared, ...]:
        """Every field declared with :func:`setting`, in order."""
        found = _DECLARED.get(cls)
        if found is None:
            found = _DECLARED[cls] = tuple(
                Declared(f.name, f.metadata["help"], f.default if f.default is not MISSING
                         else f.default_factory() if f.default_factory is not MISSING
                         else MISSING, f.metadata["spec"])
                for f in fields(cls) if "spec" in f.metadata)  # type: ignore[arg-type]
        return found

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict) -> Self:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"unknown {cls.KIND} settings {', '.join(unknown)}; "
                                f"known: {', '.join(sorted(known))}")
        missing = [d.name for d in cls.declared() if d.required and d.name not in data]
        if missing:
            raise SettingsError(f"{cls.KIND} settings need {', '.join(missing)}")
        return cls(**data)

    @classmethod
    def knobs(cls) -> list[dict]:
        """Every setting as ``{name, type, default, help, choices[, min, max][, required]
        [, path]}`` (a required setting has no default)."""
        out = []
        for d in cls.declared():
            bounds = d.spec.bounds
            out.append({"name": d.name, "type": d.spec.type.__name__,
                        **({"required": True} if d.required else {"default": d.default}),
                        "help": d.help, "choices": list(d.spec.choices),
                        **({"min": bounds[0], "max": bounds[1]} if bounds else {}),
                        **({"path": True} if d.spec.path else {})})
        return out

    def digest(self) -> str:
        """A short stable hash of the settings (written into outputs, to notice changes)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # -- the command line --------------------------------------------------------------------

    @classmethod
    def default_text(cls, name: str, default: Any) -> str:
        """How ``--help`` states a setting's default."""
        if isinstance(default, bool):
            return f"default {'on' if default else 'off'}"
        if default is None or default == "":
            return "default none"
        return f"default {_number(default) if isinstance(default, float) else default}"

    @classmethod
    def add_flags(cls, parser, prefix: str = "", skip: tuple[str, ...] = (),
                  group: str | None = None) -> None:
        """One flag per setting on ``parser`` (a parser or argument group): ``--name`` or its
        declared ``flags``; a bool that defaults on becomes ``--no-name``. Unset flags stay None
        (see :meth:`from_flags`); ``prefix`` goes before each destination name; ``group``: only
        the settings declared in that group."""
        for d in cls.declared():
            spec = d.spec
            if d.name in skip or (group is not None and spec.group != group):
                continue
            names = spec.flags or ("--" + d.name.replace("_", "-"),)
            dest, text = prefix + d.name, d.help.replace("%", "%%")
            if spec.type is bool:
                _add_bool(parser, names, dest, d, text, cls.default_text(d.name, d.default))
                continue
            extra = [] if d.required else [cls.default_text(d.name, d.default)]
            if spec.bounds:
                extra.append(f"{_number(spec.bounds[0])} to {_number(spec.bounds[1])}")
            nested = d.nested
            if nested is not None:
                parser.add_argument(*names, dest=dest, type=nested.parse_pairs,
                                    default=None, metavar="NAME=VALUE,...",
                                    help=f"{text}: {nested.pairs_help()}")
                continue
            parser.add_argument(*names, dest=dest, type=spec.parse or spec.type, default=None,
                                required=d.required, choices=spec.choices or None,
                                metavar=spec.metavar or
                                (None if spec.choices else _METAVAR.get(spec.type, "VALUE")),
                                help=f"{text} ({'; '.join(extra)})" if extra else text)

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

    @classmethod
    def parse_pairs(cls, text: str) -> dict[str, Any]:
        """``NAME=VALUE,...`` of the scalar settings (a nested settings flag's value)."""
        kinds = {d.name: d.spec.type for d in cls.declared()}
        out: dict[str, Any] = {}
        for item in filter(None, text.split(",")):
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep or name not in kinds:
                raise argparse.ArgumentTypeError(
                    f"expected NAME=VALUE with NAME one of {', '.join(sorted(kinds))}, got "
                    f"{item!r}")
            try:
                out[name] = kinds[name](value)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{name}: expected a {kinds[name].__name__}, got {value!r}") from None
        return out

    @classmethod
    def pairs_help(cls) -> str:
        return ", ".join(f"{d.name} ({_number(d.default)})" for d in cls.declared())


def _add_bool(parser, names: tuple[str, ...], dest: str, d: Declared, text: str,
              default_text: str) -> None:
    """A bool's flags: declared ones turn it on, their ``--no-`` forms off; undeclared, the
    one that changes the default."""
    on = [n for n in names if not n.startswith("--no-")] if d.spec.flags else \
        ([] if d.default else list(names))
    off = [n for n in names if n.startswith("--no-")] if d.spec.flags else \
        (["--no-" + names[0][2:]] if d.default else [])
    if on and off:
        parser.add_argument(*on, dest=dest, action=argparse.BooleanOptionalAction,
                            default=None, help=f"{text} ({default_text})")
    elif on:
        parser.add_argument(*on, dest=dest, action="store_const", const=True, default=None,
                            help=text)
    else:
        parser.add_argument(*off, dest=dest, action="store_const", const=False, default=None,
                            help="do not: " + text)
