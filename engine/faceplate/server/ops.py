"""Operations as data: each op declares its parameters and arrays, generic code validates them.

A handler module registers its ops with :func:`operation`; the engine validates every request
against the declaration (types, choices, bounds, shapes) in the connection's thread, and
``hello`` sends the declarations to the client (so a new op needs no new client code).

An op is request → stage input → stage → reply: its ``decode`` turns the validated request into
a stage-input dataclass (checks that need more than the declaration answer ``bad_params``
here; settings declared with :mod:`faceplate.settings` become params through
:func:`settings_params` and come back through :func:`settings_from_params`), the handler is the
stage (stage input → :class:`Result`), and the engine encodes the result. An ``isolated``
op's stage runs in a worker process (``.workers``) that is killed and replaced when the request
overruns. Ops without ``decode`` (the service ops, which are about
the engine itself) receive the :class:`~.jobs.Request`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from faceplate_client.protocol import BAD_PARAMS, Array, EngineError

from ..errors import FaceplateError
from ..settings import Settings, SettingsError, check_value
from .arrays import to_numpy

S = TypeVar("S", bound=Settings)

REQUIRED = object()
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list",
               dict: "object"}

# Lanes: where a request runs. "control" in the connection's own thread (never queued behind
# work), "pool" on a small thread pool (CPU and file work), "device" on the single device
# worker (batched across requests), "job" on the long-job threads (whole shots, training).
LANES = ("control", "pool", "device", "job")


# Integers without declared bounds stay within 32 bits (frame numbers, sizes, counts).
INT_BOUND = 2**31 - 1


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: Any = REQUIRED
    help: str = ""
    choices: tuple = ()
    min: float | None = None  # numbers: inclusive bounds
    max: float | None = None
    path: bool = False  # a file or folder: must be absolute (the engine's cwd is not the client's)

    def validate(self, value: Any) -> Any:
        """The value checked as declared (the one check settings use too), or ``bad_params``."""
        try:
            value = check_value(f"parameter {self.name!r}", value, self.type, self.choices,
                                self.bounds() if self.type in (int, float) else None)
        except SettingsError as exc:
            raise EngineError(BAD_PARAMS, str(exc)) from None
        if self.path and value:
            check_absolute(self.name, value)
        return value

    def bounds(self) -> tuple[float, float]:
        wide = INT_BOUND if self.type is int else math.inf
        return (-wide if self.min is None else self.min, wide if self.max is None else self.max)

    def describe(self) -> dict:
        d: dict[str, Any] = {"name": self.name, "type": _JSON_TYPES[self.type], "help": self.help,
                             "required": self.default is REQUIRED}
        if self.default is not REQUIRED:
            d["default"] = self.default
        if self.choices:
            d["choices"] = list(self.choices)
        if self.min is not None:
            d["min"] = self.min
        if self.max is not None:
            d["max"] = self.max
        if self.path:
            d["path"] = True
        return d


def settings_params(settings_cls: type[Settings], names: tuple[str, ...] | None = None,
                    skip: tuple[str, ...] = (), paths: tuple[str, ...] = ()) -> tuple[Param, ...]:
    """A :class:`faceplate.settings.Settings` class's fields as op params, with their defaults,
    help, choices and bounds (all fields, or only ``names``; declared paths, and ``paths``,
    must be absolute). :func:`settings_from_params` reads them back."""
    return tuple(Param(d.name, dict if d.nested else d.spec.type,
                       REQUIRED if d.required else d.default, d.help, d.spec.choices,
                       min=d.spec.bounds[0] if d.spec.bounds else None,
                       max=d.spec.bounds[1] if d.spec.bounds else None,
                       path=d.spec.path or d.name in paths)
                 for d in settings_cls.declared()
                 if (names is None or d.name in names) and d.name not in skip)


def settings_from_params(settings_cls: type[S], params: dict, key: str = "",
                         **given: Any) -> S:
    """The ``settings_cls`` settings of a validated request: its fields found among ``params``
    (the ones :func:`settings_params` declared for the op), or the object in ``params[key]``,
    under ``given``. A bad value answers ``bad_params`` with the settings' own message."""
    if key:
        data = dict(params[key])
    else:
        known = {d.name for d in settings_cls.declared()}
        data = {name: value for name, value in params.items() if name in known}
    data.update(given)
    try:
        return settings_cls.from_dict(data)
    except FaceplateError as exc:  # SettingsError, or a subclass's own check
        raise EngineError(BAD_PARAMS, str(exc)) from None


def check_absolute(name: str, value: str) -> str:
    """``value`` if it is an absolute path, else ``bad_params`` naming the parameter."""
    if "\0" in value or not os.path.isabs(value):
        raise EngineError(BAD_PARAMS, f"parameter {name!r} must be an absolute path, got "
                                      f"{value[:200]!r}: the engine runs in its own folder, so "
                                      "the client resolves paths before sending them")
    return value


# A shape entry: an int (exact), None (any), a str (a size that must agree across the op's
# arrays, e.g. "N" faces), or a tuple of allowed ints (e.g. (3, 4) channels).
Dim = int | str | tuple | None


@dataclass(frozen=True)
class ArraySpec:
    name: str
    dtypes: tuple[str, ...]
    shape: tuple[Dim, ...] | None  # None: any shape
    required: bool = True
    help: str = ""
    # Per-dimension inclusive bounds (None: no bound), checked with the shape.
    min_shape: tuple[int | None, ...] | None = None
    max_shape: tuple[int | None, ...] | None = None
    finite: bool = False  # no NaN or infinity (matrices, landmarks: not plate pixels)

    def describe(self) -> dict:
        d = {"name": self.name, "dtypes": list(self.dtypes), "required": self.required,
             "shape": None if self.shape is None
             else [list(d) if isinstance(d, tuple) else d for d in self.shape],
             "help": self.help}
        if self.min_shape:
            d["min_shape"] = list(self.min_shape)
        if self.max_shape:
            d["max_shape"] = list(self.max_shape)
        return d


@dataclass
class Result:
    params: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


Handler = Callable[[Any], Result]


@dataclass(frozen=True)
class Op:
    name: str
    help: str
    handler: Handler  # the stage: decode's output (or the request) → Result
    params: tuple[Param, ...] = ()
    arrays: tuple[ArraySpec, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()  # exactly one of these params/arrays is given
    lane: str = "pool"
    decode: Callable[[Any], Any] | None = None  # request → stage input (raises bad_params)
    isolated: bool = False  # the stage runs in a worker process that can be killed
    idempotent: bool = True   # safe for a client to resend after an engine restart
    timeout_s: float = 120.0  # default per-request time limit (a request may lower or raise it)
    progress: bool = False    # streams progress messages
    # Device ops that can share one call: requests with equal keys are run by ``batch``.
    batch_key: Callable[[Any], Hashable] | None = None
    batch: Callable[[list], list[Result]] | None = None

    def describe(self) -> dict:
        return {"name": self.name, "help": self.help, "lane": self.lane,
                "idempotent": self.idempotent, "timeout_s": self.timeout_s,
                "progress": self.progress, "params": [p.describe() for p in self.params],
                "arrays": [a.describe() for a in self.arrays],
                "one_of": [list(group) for group in self.one_of]}

    def validate(self, params: dict, arrays: dict[str, Array]) -> tuple[dict, dict]:
        """Checked params (defaults filled in) and arrays as numpy, or ``bad_params``."""
        declared = {p.name for p in self.params} | {"timeout_s"}
        unknown = sorted(set(params) - declared)
        if unknown:
            raise EngineError(BAD_PARAMS, f"{self.name} has no parameter "
                                          f"{', '.join(map(repr, unknown))}")
        clean: dict[str, Any] = {}
        for p in self.params:
            if p.name in params and params[p.name] is not None:
                clean[p.name] = p.validate(params[p.name])
            elif p.default is REQUIRED:
                raise EngineError(BAD_PARAMS, f"{self.name} needs parameter {p.name!r}")
            else:
                clean[p.name] = p.default
        return clean, self._validate_arrays(arrays, params)

    def _validate_arrays(self, arrays: dict[str, Array], params: dict) -> dict[str, np.ndarray]:
        specs = {a.name: a for a in self.arrays}
        unknown = sorted(set(arrays) - set(specs))
        if unknown:
            raise EngineError(BAD_PARAMS, f"{self.name} takes no array "
                                          f"{', '.join(map(repr, unknown))}")
        sizes: dict[str, int] = {}
        out = {}
        for spec in self.arrays:
            if spec.name not in arrays:
                if spec.required:
                    raise EngineError(BAD_PARAMS, f"{self.name} needs array {spec.name!r}")
                continue
            a = arrays[spec.name]
            if a.dtype not in spec.dtypes:
                raise EngineError(BAD_PARAMS, f"array {spec.name!r} must be "
                                              f"{' or '.join(spec.dtypes)}, got {a.dtype}")
            _check_shape(spec, a.shape, sizes)
            out[spec.name] = to_numpy(a)
            if spec.finite and out[spec.name].dtype.kind == "f" \
                    and not np.isfinite(out[spec.name]).all():
                raise EngineError(BAD_PARAMS, f"array {spec.name!r} holds NaN or infinite "
                                              "values")
        for group in self.one_of:
            given = [n for n in group if n in arrays or params.get(n) is not None]
            if len(given) != 1:
                raise EngineError(BAD_PARAMS, f"{self.name} needs exactly one of "
                                              f"{', '.join(group)} (got {len(given)})")
        return out


def _check_shape(spec: ArraySpec, shape: tuple[int, ...], sizes: dict[str, int]) -> None:
    if spec.shape is None:
        return
    wanted = "×".join("?" if d is None else "|".join(map(str, d)) if isinstance(d, tuple)
                      else str(d) for d in spec.shape)
    if len(shape) != len(spec.shape):
        raise EngineError(BAD_PARAMS, f"array {spec.name!r} must have shape {wanted}, got "
                                      f"{'×'.join(map(str, shape))}")
    for dim, size in zip(spec.shape, shape):
        ok = (dim is None or (isinstance(dim, int) and size == dim)
              or (isinstance(dim, tuple) and size in dim)
              or (isinstance(dim, str) and sizes.setdefault(dim, size) == size))
        if not ok or (size == 0 and not isinstance(dim, str)):  # "N" faces may be 0
            raise EngineError(BAD_PARAMS, f"array {spec.name!r} must have shape {wanted}, got "
                                          f"{'×'.join(map(str, shape))}")
    for bounds, small in ((spec.min_shape, True), (spec.max_shape, False)):
        for axis, (limit, size) in enumerate(zip(bounds or (), shape)):
            if limit is not None and (size < limit if small else size > limit):
                raise EngineError(BAD_PARAMS, f"array {spec.name!r} is too "
                                              f"{'small' if small else 'large'}: dimension "
                                              f"{axis} is {size}, the "
                                              f"{'least' if small else 'most'} allowed is "
                                              f"{limit}")


REGISTRY: dict[str, Op] = {}


def operation(name: str, help: str, **declaration) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of op ``name``."""
    def register(handler: Handler) -> Handler:
        if name in REGISTRY:
            raise ValueError(f"op {name!r} registered twice")
        op = Op(name, help, handler, **declaration)
        if op.lane not in LANES:
            raise ValueError(f"op {name!r}: lane must be one of {LANES}")
        REGISTRY[name] = op
        return handler
    return register
