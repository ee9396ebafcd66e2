"""A stand-in for Nuke's Python module, for tests only (never on mypy's path).

It keeps a real node graph with knobs (animated, expressions), groups and gizmos read from
``.gizmo`` files on the plug-in path, callbacks, layers, menus, scripts saved and opened in Nuke's
syntax, and an ``execute`` that renders Write nodes to real files through OpenImageIO. Public
names and signatures follow the ``types-nuke`` stubs; tests/test_nuke_standin_drift.py checks it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))
import itertools

import nkscript

GUI = False
INTERACTIVE = False
NUKE_VERSION_MAJOR = 13
NUKE_VERSION_MINOR = 2
NUKE_VERSION_RELEASE = 8
NUKE_VERSION_STRING = "13.2v8"
INVISIBLE = 0x400
STARTLINE = 0x1000
DISABLED = 0x80
READ_ONLY = 0x10000000
NO_ANIMATION = 0x100
INPUTS = 2
TO_SCRIPT = 1
TO_VALUE = 2
WRITE_USER_KNOB_DEFS = 4
WRITE_ALL = 8
WRITE_NON_DEFAULT_ONLY = 16
EXE_PATH = sys.executable


class CancelledError(Exception):
    pass


class GlobalsEnvironment:
    def __init__(self, *args, **kwargs) -> None:
        self._d: dict[str, Any] = {"gui": False, "ExecutablePath": sys.executable,
                                   "NukeVersionMajor": NUKE_VERSION_MAJOR}

    def get(self, *args, **kwargs) -> Any:
        return self._d.get(*args)

    def keys(self, *args, **kwargs) -> Any:
        return list(self._d)

    def __getitem__(self, index) -> Any:
        return self._d[index]

    def __setitem__(self, index, object) -> Any:
        self._d[index] = object

    def __contains__(self, other) -> Any:
        return other in self._d


env = GlobalsEnvironment()


# ---------------------------------------------------------------------------------- knobs

def _number(text: str) -> Any:
    try:
        return int(text, 0)
    except ValueError:
        return float(text)


def _is_number(text: str) -> bool:
    try:
        _number(text)
        return True
    except ValueError:
        return False


class Knob:
    """Values per index, optionally keyed per frame or driven by an expression."""

    _default: Any = 0

    def __init__(self, *args, **kwargs) -> None:
        self._name = args[0] if args else kwargs.get("name", "")
        self._label = args[1] if len(args) > 1 else kwargs.get("label", self._name)
        self._tooltip = ""
        self._values: list[Any] = [self._default]
        self._anim: dict[int, dict[float, Any]] = {}
        self._expr: dict[int, str] = {}
        self._node: Node | None = None
        self._flags = 0
        self._enabled = True
        self._visible = True

    # -- plumbing used by the subclasses
    def _get(self, index: int = 0, frame: float | None = None) -> Any:
        if index in self._expr:
            return _evaluate(self._expr[index], self._node)
        if self._anim.get(index):
            keys = self._anim[index]
            t = _state.frame if frame is None else frame
            times = sorted(keys)
            if t <= times[0]:
                return keys[times[0]]
            if t >= times[-1]:
                return keys[times[-1]]
            for a, b in itertools.pairwise(times):
                if a <= t <= b:
                    w = (t - a) / (b - a)
                    return keys[a] * (1 - w) + keys[b] * w
        return self._values[index] if index < len(self._values) else self._default

    def _set(self, value: Any, index: int = 0) -> None:
        while len(self._values) <= index:
            self._values.append(self._default)
        self._values[index] = value
        self._anim.pop(index, None)
        self._expr.pop(index, None)
        _knob_changed(self)

    def Class(self) -> str:
        return type(self).__name__

    def name(self) -> str:
        return self._name

    def setName(self, name: str) -> None:
        self._name = name

    def label(self) -> str:
        return self._label

    def setLabel(self, label: str) -> None:
        self._label = label

    def tooltip(self) -> str:
        return self._tooltip

    def setTooltip(self, tooltip: str) -> None:
        self._tooltip = tooltip

    def node(self) -> Node:
        if self._node is None:
            raise ValueError(f"knob {self._name} belongs to no node")
        return self._node

    def value(self, index: int = 0) -> Any:
        return self._get(index)

    def getValue(self, channel: int = 0) -> Any:
        return self._get(channel)

    def setValue(self, val: Any, chan: int = 0) -> bool:
        self._set(val, chan)
        return True

    def getValueAt(self, frame: float, index: int = 0, view: str | None = None) -> Any:
        return self._get(index, frame)

    def setValueAt(self, val: Any, time: float, index: int = 0,
                   view: str | None = None) -> bool:
        self._expr.pop(index, None)
        self._anim.setdefault(index, {})[float(time)] = val
        _knob_changed(self)
        return True

    def isAnimated(self, channel: int = 0) -> bool:
        return bool(self._anim.get(channel)) or channel in self._expr

    def setAnimated(self, channel: int = 0) -> bool:
        self._anim.setdefault(channel, {})[float(_state.frame)] = self._get(channel)
        return True

    def getKeyList(self) -> list[int]:
        return sorted(int(t) for keys in self._anim.values() for t in keys)

    def isKeyAt(self, frame: float, index: int = 0, view: str | None = None) -> bool:
        return float(frame) in self._anim.get(index, {})

    def setExpression(self, expression: str, index: int = 0,
                      view: str | None = None) -> bool:
        self._expr[index] = expression
        return True

    def hasExpression(self, index: int = 0) -> bool:
        return index in self._expr

    def setFlag(self, flag: int) -> None:
        self._flags |= flag

    def clearFlag(self, flag: int) -> None:
        self._flags &= ~flag

    def getFlag(self, flag: int) -> bool:
        return bool(self._flags & flag)

    def setEnabled(self, enabled: bool) -> None:
        self._enabled = enabled

    def enabled(self) -> bool:
        return self._enabled

    def setVisible(self, visible: bool) -> None:
        self._visible = visible

    def visible(self) -> bool:
        return self._visible

    def toScript(self, quote: bool = False, context: Any = None) -> str:
        items = []
        count = max([len(self._values)] + [i + 1 for i in list(self._anim) + list(self._expr)])
        for i in range(count):
            if i in self._expr:
                items.append("{" + self._expr[i] + "}")
            elif self._anim.get(i):
                keys = " ".join(f"x{t:g} {v:g}" for t, v in sorted(self._anim[i].items()))
                items.append("{curve " + keys + "}")
            else:
                v = self._values[i] if i < len(self._values) else self._default
                items.append(_format_value(v))
        if len(items) == 1 and not items[0].startswith("{"):
            return items[0]
        return "{" + " ".join(items) + "}"

    def fromScript(self, script: str) -> None:
        for i, item in enumerate(nkscript.words(script) or [""]):
            if item.startswith("curve"):
                parts = item.split()[1:]
                keys, t = {}, None
                for p in parts:
                    if p.startswith("x"):
                        t = float(p[1:])
                    elif t is not None:
                        keys[t] = _number(p)
                        t += 1
                self._anim[i] = keys
            elif _is_number(item):
                self._set(_number(item), i)
            elif item in ("true", "false"):
                self._set(item == "true", i)
            else:
                self._expr[i] = item


def _format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class Array_Knob(Knob):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)

    def value(self, *args, **kwargs) -> Any:
        return self._get(*args)

    def setValue(self, *args, **kwargs) -> Any:
        value, index = args[0], (args[1] if len(args) > 1 else 0)
        if isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                self._set(v, i)
        else:
            self._set(value, index)
        return True

    def setValueAt(self, *args, **kwargs) -> Any:
        return Knob.setValueAt(self, *args, **kwargs)

    def getValueAt(self, *args, **kwargs) -> Any:
        return Knob.getValueAt(self, *args, **kwargs)

    def arraySize(self, *args, **kwargs) -> Any:
        return max([len(self._values)] + [i + 1 for i in self._anim])

    def fromScript(self, *args, **kwargs) -> Any:
        Knob.fromScript(self, *args)

    def toScript(self, *args, **kwargs) -> Any:
        return Knob.toScript(self)


class Int_Knob(Array_Knob):
    def value(self) -> int:
        return int(self._get())

    def setValue(self, val) -> bool:
        self._set(int(val))
        return True


class Double_Knob(Array_Knob):
    _default = 0.0


class Boolean_Knob(Array_Knob):
    _default = False

    def value(self) -> bool:
        return bool(self._get())

    def setValue(self, b) -> bool:
        self._set(bool(b))
        return True


class XY_Knob(Array_Knob):
    _default = 0.0

    def value(self, n, oc=None) -> float:
        return float(self._get(n))

    def x(self, oc=None) -> float:
        return float(self._get(0))

    def y(self, oc=None) -> float:
        return float(self._get(1))


class String_Knob(Knob):
    _default = ""

    def value(self, oc=None) -> str:
        return str(self._get())

    def getValue(self, *args, **kwargs) -> Any:
        return str(self._get())

    def setValue(self, val, view=None) -> None:
        self._set(str(val))

    def toScript(self, quote: bool = False, context: Any = None) -> str:
        return str(self._values[0])

    def fromScript(self, script: str) -> None:
        self._set(script)


class EvalString_Knob(String_Knob):
    def evaluate(self, *args, **kwargs) -> Any:
        return _expand_frame(self.value(), args[0] if args else _state.frame)


class File_Knob(EvalString_Knob):
    def value(self, *args, **kwargs) -> Any:
        return str(self._get())

    def getValue(self, *args, **kwargs) -> Any:
        return str(self._get())

    def setValue(self, *args, **kwargs) -> Any:
        self._set(str(args[0]))

    def fromScript(self, *args, **kwargs) -> Any:
        self._set(args[0])

    def getEvaluatedValue(self, *args, **kwargs) -> Any:
        return self.evaluate(*args)


class Script_Knob(String_Knob):
    def command(self) -> str:
        return str(self._values[0])

    def setCommand(self, cmd) -> None:
        self._values[0] = cmd

    def value(self) -> str:
        return str(self._values[0])

    def setValue(self, cmd) -> None:
        self._values[0] = cmd

    def execute(self) -> None:
        """Run the button's Python as Nuke does: on a group, with that group current."""
        node = self._node
        if isinstance(node, Group):
            node.begin()
        try:
            self._run()
        finally:
            if isinstance(node, Group):
                node.end()

    def _run(self) -> None:
        node = self._node
        with _context(node, self):
            code = self.command()
            if callable(getattr(self, "_action", None)):
                self._action()
            elif code:
                exec(code, {"nuke": sys.modules[__name__]})  # noqa: S102 - a button runs its Python, as in Nuke


class PyScript_Knob(Script_Knob):
    pass


class Text_Knob(Knob):
    _default = ""

    def value(self, *args, **kwargs) -> Any:
        return str(self._values[0])

    def setValue(self, *args, **kwargs) -> Any:
        self._values[0] = str(args[0])

    def toScript(self, quote: bool = False, context: Any = None) -> str:
        return str(self._values[0])

    def fromScript(self, script: str) -> None:
        self._values[0] = script


class Tab_Knob(Knob):
    def value(self, *args, **kwargs) -> Any:
        return ""

    def setValue(self, *args, **kwargs) -> Any:
        return None


class Enumeration_Knob(Knob):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args[:2], **kwargs)
        self._items: list[str] = list(args[2]) if len(args) > 2 else []

    def values(self) -> Any:
        return list(self._items)

    def setValues(self, *args, **kwargs) -> Any:
        self._items = list(args[0])

    def numValues(self) -> int:
        return len(self._items)

    def enumName(self, n: int) -> str:
        return self._items[n]

    def value(self) -> Any:
        i = int(self._get())
        return self._items[i] if 0 <= i < len(self._items) else ""

    def setValue(self, *args, **kwargs) -> Any:
        v = args[0]
        if isinstance(v, str):
            if v not in self._items:
                raise ValueError(f"{self._name}: {v!r} is not one of {self._items}")
            v = self._items.index(v)
        self._set(int(v))

    def toScript(self, quote: bool = False, context: Any = None) -> str:
        return self.value()

    def fromScript(self, script: str) -> None:
        self.setValue(_number(script) if _is_number(script) else script)


class Link_Knob(Knob):
    pass


_KNOB_CLASSES = {c.__name__: c for c in (
    Knob, Array_Knob, Int_Knob, Double_Knob, Boolean_Knob, XY_Knob, String_Knob,
    EvalString_Knob, File_Knob, Script_Knob, PyScript_Knob, Text_Knob, Tab_Knob,
    Enumeration_Knob, Link_Knob)}


def _expand_frame(path: str, frame: float) -> str:
    f = round(frame)
    path = re.sub(r"%0(\d)d", lambda m: f"{f:0{int(m.group(1))}d}", path)
    return re.sub(r"#+", lambda m: f"{f:0{len(m.group(0))}d}", path)


def _evaluate(expr: str, node: Node | None) -> Any:
    """Enough of Nuke's expressions for links: numbers, ``parent.knob``, ``Node.knob``."""
    if _is_number(expr):
        return _number(expr)
    owner, _, knob_name = expr.rpartition(".")
    if node is None:
        raise ValueError(f"expression {expr!r} outside a node")
    if owner == "parent":
        target: Node | None = node._parent if node._parent is not _state.root else None
    elif owner:
        target = (node._parent or _state.root).node(owner)
    else:
        target = node
    if target is None or target.knob(knob_name) is None:
        raise ValueError(f"{node.name()}: expression {expr!r} names a missing knob")
    return target[knob_name].getValue()


# ---------------------------------------------------------------------------------- nodes

class Format:
    def __init__(self, *args, **kwargs) -> None:
        self._w, self._h = (int(args[0]), int(args[1])) if len(args) >= 2 else (1920, 1080)
        self._name = args[2] if len(args) > 2 else ""

    def width(self) -> int:
        return self._w

    def height(self) -> int:
        return self._h

    def name(self) -> str:
        return self._name

    def pixelAspect(self) -> float:
        return 1.0


class FrameRange:
    def __init__(self, *args, **kwargs) -> None:
        self._first, self._last = int(args[0]), int(args[1])

    def first(self) -> int:
        return self._first

    def last(self) -> int:
        return self._last

    def frames(self) -> int:
        return self._last - self._first + 1

    def __iter__(self) -> Any:
        return iter(range(self._first, self._last + 1))


class Layer:
    def __init__(self, *args, **kwargs) -> None:
        name, channels = args[0], list(args[1]) if len(args) > 1 else []
        if len(channels) > 4:
            raise ValueError(f"layer {name}: at most 4 channels, got {len(channels)}")
        for c in channels:
            if c.split(".")[0] != name:
                raise ValueError(f"channel {c} does not belong to layer {name}")
        if name in ("rgba", "rgb", "alpha", "depth", "mask") and name not in _state.layers:
            raise ValueError(f"cannot add channels to the built-in layer {name}")
        self._name = name
        _state.layers[name] = channels

    def name(self) -> str:
        return self._name

    def channels(self, *args, **kwargs) -> Any:
        return list(_state.layers[self._name])

    def visible(self) -> bool:
        return True


# Knobs every node of a built-in class has: name -> (knob class, default).
_BUILTIN_KNOBS: dict[str, dict[str, tuple[str, Any]]] = {
    "Read": {"file": ("File_Knob", ""), "first": ("Int_Knob", 1), "last": ("Int_Knob", 1),
             "on_error": ("Enumeration_Knob", "error"), "colorspace": ("String_Knob", "default"),
             "raw": ("Boolean_Knob", False)},
    "Write": {"file": ("File_Knob", ""), "file_type": ("String_Knob", "exr"),
              "channels": ("String_Knob", "rgb"), "colorspace": ("String_Knob", "default"),
              "raw": ("Boolean_Knob", False), "disable": ("Boolean_Knob", False),
              "metadata": ("String_Knob", "default metadata"),
              "create_directories": ("Boolean_Knob", False)},
    "Switch": {"which": ("Double_Knob", 0.0)},
    "Input": {"number": ("Int_Knob", 0)},
    "Output": {}, "Dot": {}, "NoOp": {},
    "Roto": {"curves": ("CurveKnob", ""), "output": ("String_Knob", "alpha")},
    "Tracker4": {"tracks": ("Array_Knob", 0.0), "add_track": ("PyScript_Knob", ""),
                 "reference_frame": ("Int_Knob", 1)},
    "CornerPin2D": dict([(f"to{i}", ("XY_Knob", 0.0)) for i in range(1, 5)]
                        + [(f"from{i}", ("XY_Knob", 0.0)) for i in range(1, 5)]),
    "Group": {}, "Gizmo": {},
    # Image nodes the stabilised workflow builds (RotoPaint without strokes passes its input).
    "RotoPaint": {}, "Premult": {},
    "STMap": {"uv": ("String_Knob", "none"), "channels": ("String_Knob", "all")},
    "Merge2": {"operation": ("String_Knob", "over")},
}
_ENUM_ITEMS = {("Read", "on_error"): ["error", "black", "checkerboard", "nearest frame"]}
_COMMON_KNOBS = {"name": ("String_Knob", ""), "label": ("String_Knob", ""),
                 "xpos": ("Int_Knob", 0), "ypos": ("Int_Knob", 0),
                 "tile_color": ("Int_Knob", 0), "help": ("String_Knob", ""),
                 "disable": ("Boolean_Knob", False)}


class Node:
    def __init__(self, *args, **kwargs) -> None:
        self._class = args[0] if args else "NoOp"
        self._knobs: dict[str, Knob] = {}
        self._inputs: list[Node | None] = []
        self._parent: Group | None = None
        self._gizmo_file = ""
        self._user_knobs: list[str] = []
        for name, (kcls, default) in {**_COMMON_KNOBS,
                                      **_BUILTIN_KNOBS.get(self._class, {})}.items():
            self._make_knob(kcls, name, default)
        if self._class == "Tracker4":
            self._track_count = 0
            add = self._knobs["add_track"]
            add._action = self._add_track  # type: ignore[attr-defined]

    def _make_knob(self, kcls: str, name: str, default: Any, items=None) -> Knob:
        if kcls == "CurveKnob":
            from . import rotopaint
            knob: Knob = rotopaint.CurveKnob(name)
        elif kcls == "Enumeration_Knob":
            knob = Enumeration_Knob(name, name, items or _ENUM_ITEMS.get((self._class, name), []))
        else:
            knob = _KNOB_CLASSES[kcls](name)
        knob._node = self
        self._knobs[name] = knob
        if default not in ("", None):
            if isinstance(knob, (Enumeration_Knob,)):
                knob.setValue(default)
            elif kcls not in ("CurveKnob", "PyScript_Knob", "Tab_Knob"):
                knob._values[0] = default
        return knob

    def _add_track(self) -> None:
        self._track_count += 1

    # -- identity
    def Class(self) -> str:
        return self._class

    def name(self) -> str:
        return str(self._knobs["name"].value())

    def setName(self, name: str, uncollide: bool = True, updateExpressions: bool = False) -> None:
        group = self._parent or _state.root
        base, n = name, 1
        while uncollide and any(o is not self and o.name() == name for o in group._children):
            n += 1
            name = f"{re.sub(r'[0-9]+$', '', base)}{n}"
        self._knobs["name"]._values[0] = name

    def fullName(self) -> str:
        if self._parent is None or self._parent is _state.root:
            return self.name()
        return self._parent.fullName() + "." + self.name()

    def parent(self) -> Group:
        return self._parent or _state.root

    # -- knobs
    def knob(self, p: str | int, follow_link: bool = False) -> Knob | None:
        if isinstance(p, int):
            return list(self._knobs.values())[p]
        return self._knobs.get(p)

    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def allKnobs(self) -> list[Knob]:
        return list(self._knobs.values())

    def addKnob(self, knob: Knob) -> None:
        knob._node = self
        self._knobs[knob.name()] = knob
        self._user_knobs.append(knob.name())

    def removeKnob(self, knob: Knob) -> None:
        self._knobs.pop(knob.name(), None)

    def numKnobs(self) -> int:
        return len(self._knobs)

    def __getitem__(self, name: str) -> Knob:
        knob = self._knobs.get(name)
        if knob is None:
            raise NameError(f"{self.name()} ({self._class}) has no knob named {name}")
        return knob

    def writeKnobs(self, flags: int = 0) -> str:
        """Knob names only, unless TO_SCRIPT/TO_VALUE ask for names and values (as Nuke)."""
        knobs = {n: k for n, k in self._knobs.items()
                 if n not in ("xpos", "ypos") and not isinstance(k, (Script_Knob, Tab_Knob,
                                                                      Text_Knob))}
        if not flags & (TO_SCRIPT | TO_VALUE):
            return " ".join(knobs)
        return " ".join(f"{n} {nkscript.quote(k.toScript())}" for n, k in knobs.items())

    def readKnobs(self, s: str) -> None:
        body = nkscript.parse_node_body(self._class, s)
        for name, value in body.knobs.items():
            if name in self._knobs:
                self._knobs[name].fromScript(value)

    # -- graph
    def input(self, index: int) -> Node | None:
        return self._inputs[index] if index < len(self._inputs) else None

    def inputs(self) -> int:
        return len(self._inputs)

    def maxInputs(self) -> int:
        return {"Read": 0, "Input": 0, "Constant": 0, "Roto": 1}.get(self._class, 2)

    def setInput(self, i: int, node: Node | None) -> bool:
        while len(self._inputs) <= i:
            self._inputs.append(None)
        self._inputs[i] = node
        while self._inputs and self._inputs[-1] is None:
            self._inputs.pop()
        return True

    def connectInput(self, i: int, node: Node | None) -> bool:
        return self.setInput(i, node)

    def dependent(self, mask: int, forceEvaluate: bool = True) -> list[Node]:
        group = self._parent or _state.root
        return [n for n in group._children if self in n._inputs]

    def dependencies(self, mask: int) -> list[Node]:
        return [n for n in self._inputs if n is not None]

    def xpos(self) -> int:
        return int(self._knobs["xpos"].value())

    def ypos(self) -> int:
        return int(self._knobs["ypos"].value())

    def setXYpos(self, x: int, y: int) -> None:
        self._knobs["xpos"]._values[0], self._knobs["ypos"]._values[0] = x, y

    def setXpos(self, x: int) -> None:
        self._knobs["xpos"]._values[0] = x

    def setYpos(self, y: int) -> None:
        self._knobs["ypos"]._values[0] = y

    def setSelected(self, selected: bool) -> None:
        self._selected = selected

    def isSelected(self) -> bool:
        return bool(getattr(self, "_selected", False))

    # -- time and format
    def frameRange(self) -> FrameRange:
        return FrameRange(self.firstFrame(), self.lastFrame())

    def firstFrame(self) -> int:
        if self._class == "Read":
            return int(self["first"].value())
        src = self._source()
        return src.firstFrame() if src is not None else _state.root.firstFrame()

    def lastFrame(self) -> int:
        if self._class == "Read":
            return int(self["last"].value())
        src = self._source()
        return src.lastFrame() if src is not None else _state.root.lastFrame()

    def _source(self) -> Node | None:
        if self._class == "Input" and self._parent is not None:
            return self._parent.input(int(self["number"].value()))
        if isinstance(self, Group) and not isinstance(self, Root):
            out = next((c for c in self._children if c._class == "Output"), None)
            return out
        if self._class == "Switch":
            return self.input(int(self["which"].getValue()))
        return self.input(0)

    def format(self) -> Format:
        if self._class == "Read" and self["file"].value():
            try:
                img = self._render(max(self.firstFrame(), min(self.lastFrame(), _state.frame)))
                return Format(img[0].shape[1], img[0].shape[0])
            except RuntimeError:
                pass
        src = self._source()
        return src.format() if src is not None else _state.root.format()

    def width(self) -> int:
        return self.format().width()

    def height(self) -> int:
        return self.format().height()

    def metadata(self, *args, **kwargs) -> Any:
        frame = kwargs.get("time", _state.frame)
        meta = self._render(frame)[2]
        return meta.get(args[0]) if args else dict(meta)

    def channels(self) -> list[str]:
        return list(self._render(_state.frame)[1])

    def error(self) -> bool:
        return bool(getattr(self, "_error", ""))

    def hasError(self) -> bool:
        return self.error()

    # -- pixels (stand-in only): (H×W×C float32, channel names, metadata)
    def _render(self, frame: float) -> tuple:
        cls = self._class
        if self["disable"].value() and cls not in ("Write",) and self.input(0) is not None:
            return self.input(0)._render(frame)  # type: ignore[union-attr]
        if cls == "Read":
            return _read(self, frame)
        if cls == "Roto":
            from . import rotopaint
            return rotopaint._rasterise(self, frame)
        if cls in ("STMap", "Premult", "Merge2"):
            return _IMAGE_OPS[cls](self, frame)
        src = self._source()
        if src is None:
            raise RuntimeError(f"{self.fullName()}: input is not connected")
        return src._render(frame)


class Group(Node):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args or ("Group",), **kwargs)
        self._children: list[Node] = []

    def begin(self) -> Group:
        _state.groups.append(self)
        return self

    def end(self) -> None:
        if len(_state.groups) > 1:
            _state.groups.pop()

    def __enter__(self) -> Group:  # noqa: PYI034 - as the stubs declare
        return self.begin()

    def __exit__(self, type, value, traceback) -> Any:
        self.end()

    def node(self, s: str) -> Node | None:
        name, _, rest = s.partition(".")
        for child in self._children:
            if child.name() == name:
                if rest:
                    return child.node(rest) if isinstance(child, Group) else None
                return child
        return None

    def nodes(self) -> list[Node]:
        return list(self._children)

    def numNodes(self) -> int:
        return len(self._children)

    def output(self, *args, **kwargs) -> Any:
        return next((c for c in self._children if c._class == "Output"), None)


class Gizmo(Group):
    def filename(self) -> str:
        return self._gizmo_file

    def command(self) -> str:
        return self._class

    def makeGroup(self) -> Group:
        raise NotImplementedError("the stand-in does not convert gizmos to groups")


class Root(Group):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__("Root")
        self._make_knob("Int_Knob", "first_frame", 1)
        self._make_knob("Int_Knob", "last_frame", 100)
        self._make_knob("String_Knob", "name", "")
        self._make_knob("String_Knob", "format", "1920 1080 0 0 1920 1080 1 HD_1080")
        self._knobs["name"]._values[0] = ""
        self._modified = False

    def firstFrame(self) -> int:
        return int(self["first_frame"].value())

    def lastFrame(self) -> int:
        return int(self["last_frame"].value())

    def format(self) -> Format:
        w, h = str(self["format"].value()).split()[:2]
        return Format(int(w), int(h))

    def fps(self) -> int:
        return 24

    def modified(self) -> bool:
        return self._modified

    def setModified(self, modified: bool) -> None:
        self._modified = modified


def _read(node: Node, frame: float) -> tuple:
    from faceplate.io.images import ImageError, read_image

    f = round(frame)
    first, last = node.firstFrame(), node.lastFrame()
    on_error = node["on_error"].value()
    path = _expand_frame(str(node["file"].value()), f)
    if not first <= f <= last or not os.path.isfile(path):
        if on_error == "black" and node._cached_shape is not None:  # type: ignore[attr-defined]
            import numpy as np
            h, w, chans = node._cached_shape  # type: ignore[attr-defined]
            return np.zeros((h, w, len(chans)), np.float32), chans, {}
        raise RuntimeError(f"{node.fullName()}: Read error: {path}: No such file or directory"
                           if first <= f <= last else
                           f"{node.fullName()}: frame {f} is outside {first}-{last}")
    try:
        img = read_image(path, display_window=True)  # zero outside the data window
    except ImageError as exc:
        raise RuntimeError(f"{node.fullName()}: Read error: {exc}") from None
    chans = [_nuke_channel(c) for c in img.channels]
    node._cached_shape = (img.height, img.width, chans)  # type: ignore[attr-defined]
    return img.pixels, chans, dict(img.metadata)


def _inputs_rendered(node: Node, frame: float, count: int) -> list[tuple]:
    found = [node.input(i) for i in range(count)]
    if any(n is None for n in found):
        raise RuntimeError(f"{node.fullName()}: input is not connected")
    return [n._render(frame) for n in found]  # type: ignore[union-attr]


def _stmap(node: Node, frame: float) -> tuple:
    """Input 0 (src) sampled where input 1's uv channels say (s, t from the bottom-left)."""
    from faceplate.face.stmap import apply_stmap

    (src, src_chans, meta), (uvmap, map_chans, _) = _inputs_rendered(node, frame, 2)
    uv = str(node["uv"].value())
    names = {"rgb": _state.layers["rgba"], "rgba": _state.layers["rgba"]}.get(
        uv, _state.layers.get(uv, []))[:2]
    if len(names) < 2 or not all(c in map_chans for c in names):
        raise RuntimeError(f"{node.fullName()}: uv channels {uv!r} are not in the stmap input")
    st = uvmap[..., [map_chans.index(c) for c in names]]
    wanted = str(node["channels"].value())
    keep = [i for i, c in enumerate(src_chans)
            if wanted == "all" or c in _state.layers.get(wanted, [])]
    return apply_stmap(src[..., keep], st), [src_chans[i] for i in keep], meta


def _premult(node: Node, frame: float) -> tuple:
    """rgb × alpha (no alpha: alpha is 0, as in Nuke)."""
    import numpy as np

    pixels, chans, meta = _inputs_rendered(node, frame, 1)[0]
    alpha = pixels[..., chans.index("rgba.alpha")] if "rgba.alpha" in chans \
        else np.zeros(pixels.shape[:2], np.float32)
    out = pixels.copy()
    for c in ("rgba.red", "rgba.green", "rgba.blue"):
        if c in chans:
            out[..., chans.index(c)] *= alpha
    return out, chans, meta


def _merge(node: Node, frame: float) -> tuple:
    """Merge2 'over' only: input 1 (A) over input 0 (B), B's format and other channels."""
    import numpy as np

    if str(node["operation"].value()) != "over":
        raise RuntimeError(f"{node.fullName()}: the stand-in merges 'over' only")
    (b, b_chans, meta), (a, a_chans, _) = _inputs_rendered(node, frame, 2)
    if a.shape[:2] != b.shape[:2]:
        raise RuntimeError(f"{node.fullName()}: the stand-in merges same-format inputs only")
    zero = np.zeros(b.shape[:2], np.float32)
    a_alpha = a[..., a_chans.index("rgba.alpha")] if "rgba.alpha" in a_chans else zero
    chans = list(b_chans) + [c for c in _state.layers["rgba"] if c in a_chans
                             and c not in b_chans]
    planes = []
    for c in chans:
        bc = b[..., b_chans.index(c)] if c in b_chans else zero
        if c in _state.layers["rgba"]:
            ac = a[..., a_chans.index(c)] if c in a_chans else zero
            bc = ac + bc * (1.0 - a_alpha)
        planes.append(bc)
    return np.stack(planes, axis=-1).astype(np.float32), chans, meta


_IMAGE_OPS = {"STMap": _stmap, "Premult": _premult, "Merge2": _merge}


def _nuke_channel(name: str) -> str:
    return {"R": "rgba.red", "G": "rgba.green", "B": "rgba.blue", "A": "rgba.alpha"}.get(name,
                                                                                        name)


def _file_channel(name: str) -> str:
    return {"rgba.red": "R", "rgba.green": "G", "rgba.blue": "B", "rgba.alpha": "A"}.get(name,
                                                                                        name)


# ---------------------------------------------------------------------------------- state

class _State:
    def __init__(self) -> None:
        self.root = Root()
        self.groups: list[Group] = [self.root]
        self.frame = 1.0
        self.this_node: list[Node | None] = []
        self.this_knob: list[Knob | None] = []
        self.callbacks: dict[str, list[tuple[Callable, tuple, dict, str]]] = {}
        self.layers: dict[str, list[str]] = {
            "rgba": ["rgba.red", "rgba.green", "rgba.blue", "rgba.alpha"]}
        self.plugin_path: list[str] = []
        self.messages: list[str] = []  # what nuke.message/alert showed (tests read it)
        self.menus: dict[str, Menu] = {}
        self.executing = False
        self.progress_tasks: list[ProgressTask] = []  # every progress bar shown (tests read it)


_state = _State()


class _context:
    def __init__(self, node: Node | None, knob: Knob | None = None):
        self.node, self.knob = node, knob

    def __enter__(self):
        _state.this_node.append(self.node)
        _state.this_knob.append(self.knob)

    def __exit__(self, *exc):
        _state.this_node.pop()
        _state.this_knob.pop()


def _knob_changed(knob: Knob) -> None:
    node = knob._node
    if node is None or not _state.callbacks.get("knobChanged"):
        return
    with _context(node, knob):
        _run_callbacks("knobChanged", node)


def _run_callbacks(kind: str, node: Node | None) -> None:
    for call, args, kwargs, node_class in list(_state.callbacks.get(kind, [])):
        if node_class in ("*", "") or (node is not None and node.Class() == node_class):
            call(*args, **kwargs)


def _add(kind: str, call, args, kwargs, nodeClass) -> None:
    if not isinstance(args, tuple):
        args = (args,)
    _state.callbacks.setdefault(kind, []).append((call, args, kwargs or {}, nodeClass))


def _remove(kind: str, call, args, kwargs, nodeClass) -> None:
    if not isinstance(args, tuple):
        args = (args,)
    entries = _state.callbacks.get(kind, [])
    entries[:] = [e for e in entries if e[:2] != (call, args) or e[3] != nodeClass]


def addBeforeRender(call, args=(), kwargs=None, nodeClass: str = "Write") -> None:
    _add("beforeRender", call, args, kwargs, nodeClass)


def removeBeforeRender(call, args=(), kwargs=None, nodeClass: str = "Write") -> None:
    _remove("beforeRender", call, args, kwargs, nodeClass)


def addBeforeFrameRender(call, args=(), kwargs=None, nodeClass: str = "Write") -> None:
    _add("beforeFrameRender", call, args, kwargs, nodeClass)


def removeBeforeFrameRender(call, args=(), kwargs=None, nodeClass: str = "Write") -> None:
    _remove("beforeFrameRender", call, args, kwargs, nodeClass)


def addAfterFrameRender(call, args=(), kwargs=None, nodeClass: str = "Write") -> None:
    _add("afterFrameRender", call, args, kwargs, nodeClass)


def removeAfterFrameRender(call, args=(), kwargs=None, nodeClass: str = "Write") -> None:
    _remove("afterFrameRender", call, args, kwargs, nodeClass)


def addAfterRender(call, args=(), kwargs=None, nodeClass: str = "Write") -> None:
    _add("afterRender", call, args, kwargs, nodeClass)


def removeAfterRender(call, args=(), kwargs=None, nodeClass: str = "Write") -> None:
    _remove("afterRender", call, args, kwargs, nodeClass)


def addKnobChanged(call, args=(), kwargs=None, nodeClass: str = "*", node: Any = None) -> None:
    _add("knobChanged", call, args, kwargs, nodeClass)


def removeKnobChanged(call, args=(), kwargs=None, nodeClass: str = "*", node: Any = None) -> None:
    _remove("knobChanged", call, args, kwargs, nodeClass)


def addOnCreate(call, args=(), kwargs=None, nodeClass: str = "*") -> None:
    _add("onCreate", call, args, kwargs, nodeClass)


def removeOnCreate(call, args=(), kwargs=None, nodeClass: str = "*") -> None:
    _remove("onCreate", call, args, kwargs, nodeClass)


def addOnScriptLoad(call, args=(), kwargs=None, nodeClass: str = "Root") -> None:
    _add("onScriptLoad", call, args, kwargs, nodeClass)


def removeOnScriptLoad(call, args=(), kwargs=None, nodeClass: str = "Root") -> None:
    _remove("onScriptLoad", call, args, kwargs, nodeClass)


# ---------------------------------------------------------------------------------- functions

def root() -> Root:
    return _state.root


def thisNode() -> Node:
    node = _state.this_node[-1] if _state.this_node else None
    if node is None:
        raise ValueError("no current node (nuke.thisNode() outside a callback)")
    return node


def thisKnob() -> Knob:
    knob = _state.this_knob[-1] if _state.this_knob else None
    if knob is None:
        raise ValueError("no current knob")
    return knob


def thisGroup() -> Group:
    return _state.groups[-1]


def thisParent() -> Group | None:
    node = _state.this_node[-1] if _state.this_node else None
    return node._parent if node is not None else None


def frame(f: int = -1) -> int:
    if f != -1:
        _state.frame = float(f)
    return int(_state.frame)


def views() -> list[str]:
    return ["main"]


def executing(f: float | None = None) -> bool:
    return _state.executing


def toNode(s: str) -> Node | None:
    if s == "root":
        return _state.root
    return _state.groups[-1].node(s) or _state.root.node(s)


def allNodes(*args, **kwargs) -> list[Node]:
    cls = kwargs.get("filter", args[0] if args else None)
    group = kwargs.get("group", args[1] if len(args) > 1 else _state.groups[-1])
    recurse = kwargs.get("recurseGroups", False)
    out: list[Node] = []

    def walk(g: Group) -> None:
        for n in g._children:
            if cls is None or n.Class() == cls:
                out.append(n)
            if recurse and isinstance(n, Group):
                walk(n)

    walk(group)
    return out


def delete(n: Node | None) -> None:
    if n is None:
        return
    group = n._parent or _state.root
    group._children.remove(n)
    for other in group._children:
        other._inputs = [None if i is n else i for i in other._inputs]


def pluginAddPath(args, addToSysPath: bool = True) -> None:
    for p in [args] if isinstance(args, str) else list(args):
        if p not in _state.plugin_path:
            _state.plugin_path.insert(0, p)
        if addToSysPath and p not in sys.path:
            sys.path.insert(0, p)


def pluginAppendPath(args, addToSysPath: bool = True) -> None:
    for p in [args] if isinstance(args, str) else list(args):
        if p not in _state.plugin_path:
            _state.plugin_path.append(p)
        if addToSysPath and p not in sys.path:
            sys.path.append(p)


def pluginPath() -> list[str]:
    return list(_state.plugin_path)


def createNode(typ: str, knobs: str = "", inpanel: bool = True) -> Node:
    node = _instantiate(typ)
    group = _state.groups[-1]
    _attach(node, group)
    node.setName(f"{typ}1")
    if knobs:
        node.readKnobs(knobs)
    with _context(node):
        _run_callbacks("onCreate", node)
    return node


def _attach(node: Node, group: Group) -> None:
    node._parent = group
    group._children.append(node)


def _instantiate(typ: str) -> Node:
    path = _find_gizmo(typ)
    if path:
        return _gizmo_from_file(typ, path)
    if typ in ("Group",):
        return Group(typ)
    if typ not in _BUILTIN_KNOBS:
        raise RuntimeError(f"unknown command: {typ}")
    return Node(typ)


def _find_gizmo(typ: str) -> str:
    for folder in _state.plugin_path:
        path = os.path.join(folder, typ + ".gizmo")
        if os.path.isfile(path):
            return path
    return ""


def _gizmo_from_file(typ: str, path: str) -> Gizmo:
    with open(path) as fh:
        script = nkscript.parse(fh.read(), gizmo=True)
    _state.layers.update(script.layers)
    definition = script.nodes[0]
    gizmo = Gizmo(typ)
    gizmo._gizmo_file = path
    for uk in definition.user_knobs:
        knob = gizmo._make_knob(uk.knob_class, uk.name, None, items=uk.items)
        knob.setLabel(uk.label)
        knob.setTooltip(uk.tooltip)
        if uk.knob_class in ("PyScript_Knob", "Text_Knob"):
            knob._values[0] = uk.script
        if "+INVISIBLE" in uk.flags:
            knob.setFlag(INVISIBLE)
        gizmo._user_knobs.append(uk.name)
    for name, value in definition.knobs.items():
        if name in gizmo._knobs and name != "name":
            gizmo._knobs[name].fromScript(value)
    _build_children(gizmo, definition.children)
    return gizmo


def _build_children(group: Group, defs: list[nkscript.NodeDef]) -> dict[int, Node]:
    made: dict[int, Node] = {}
    for d in defs:
        node = _instantiate(d.cls) if d.cls not in nkscript.GROUP_CLASSES else Group(d.cls)
        _attach(node, group)
        for name, value in d.knobs.items():
            if name == "inputs":
                continue
            if name not in node._knobs:
                node._make_knob("String_Knob", name, "")
            node._knobs[name].fromScript(value)
        made[id(d)] = node
    for d in defs:
        for i, inp in enumerate(d.inputs):
            if inp is not None:
                made[id(d)].setInput(i, made[id(inp)])
    return made


def layers(node: Node | None = None) -> list[str]:
    return list(_state.layers)


def message(prompt: str) -> None:
    _state.messages.append(prompt)


def alert(prompt: str) -> None:
    _state.messages.append(prompt)


def error(message: str) -> None:
    _state.messages.append("ERROR: " + message)


def warning(message: str) -> None:
    _state.messages.append("WARNING: " + message)


def critical(message: str) -> None:
    _state.messages.append("CRITICAL: " + message)


def debug(message: str) -> None:
    pass


def tprint(*args: Any, sep: str = " ", end: str = "\n", file: Any = None) -> None:
    print(*args, sep=sep, end=end, file=file or sys.stdout)


def ask(prompt: str) -> bool:
    _state.messages.append("ASK: " + prompt)
    return True


class ProgressTask:
    """Records progress; tests read ``_history``."""

    def __init__(self, *args, **kwargs) -> None:
        self._title = args[0] if args else ""
        self._history: list[tuple[int, str]] = []
        self._message = ""
        _state.progress_tasks.append(self)

    def setProgress(self, *args, **kwargs) -> Any:
        self._history.append((int(args[0]), self._message))

    def setMessage(self, *args, **kwargs) -> Any:
        self._message = str(args[0])

    def isCancelled(self, *args, **kwargs) -> Any:
        return False


def execute(nameOrNode: Node | str, start: int, end: int, incr: int = 1,
            views: list[str] | None = None, continueOnError: bool = False) -> None:
    """Render a Write node: callbacks as Nuke runs them, then real files via OpenImageIO."""
    node = toNode(nameOrNode) if isinstance(nameOrNode, str) else nameOrNode
    if node is None:
        raise ValueError(f"no node named {nameOrNode}")
    if node.Class() != "Write":
        raise RuntimeError(f"{node.name()} cannot be executed")
    if node["disable"].value():
        raise RuntimeError(f"{node.fullName()} is disabled")
    _state.executing = True
    try:
        with _context(node):
            _guard(_run_callbacks, "beforeRender", node)
            for f in range(int(start), int(end) + 1, int(incr)):
                _state.frame = float(f)
                _guard(_run_callbacks, "beforeFrameRender", node)
                _write_frame(node, f)
                _guard(_run_callbacks, "afterFrameRender", node)
            _guard(_run_callbacks, "afterRender", node)
    finally:
        _state.executing = False


def _guard(fn, *args) -> None:
    """Nuke turns an exception in a render callback into a failed render (RuntimeError)."""
    try:
        fn(*args)
    except RuntimeError:
        raise
    except Exception as exc:
        raise RuntimeError(str(exc)) from exc


def _write_frame(node: Node, f: int) -> None:
    from faceplate.io.images import write_image

    pixels, chans, meta = node._render(f)
    wanted = str(node["channels"].value())
    if wanted != "all":
        layer = {"rgb": ["rgba.red", "rgba.green", "rgba.blue"], "alpha": ["rgba.alpha"],
                 "rgba": _state.layers["rgba"]}.get(wanted, _state.layers.get(wanted, []))
        keep = [chans.index(c) for c in layer if c in chans]
        pixels, chans = pixels[..., keep], [chans[i] for i in keep]
    path = _expand_frame(str(node["file"].value()), f)
    if not path:
        raise RuntimeError(f"{node.fullName()}: no file name")
    if not os.path.isdir(os.path.dirname(path)) and not node["create_directories"].value():
        raise RuntimeError(f"{node.fullName()}: cannot write {path}: no such folder")
    metadata = ({k: v for k, v in meta.items() if not k.startswith("oiio:")}
                if node["metadata"].value() == "all metadata" else {})
    write_image(path, pixels, [_file_channel(c) for c in chans], metadata,
                pixel_type="float" if node["file_type"].value() == "exr" else None)


# ---------------------------------------------------------------------------------- scripts

def scriptName() -> str:
    name = str(_state.root["name"].value())
    if not name:
        raise RuntimeError("script has not been saved")
    return name


def scriptClear(*args, **kwargs) -> Any:
    _state.root._children.clear()
    _state.root["name"]._values[0] = ""
    _state.groups[:] = [_state.root]


def scriptSaveAs(filename: str | None = None, overwrite: int | bool = -1) -> None:
    if filename is None:
        filename = scriptName()
    defs: dict[int, nkscript.NodeDef] = {}
    for node in _state.root._children:
        d = nkscript.NodeDef(node.Class())
        for name, knob in node._knobs.items():
            if isinstance(knob, (Script_Knob, Tab_Knob, Text_Knob)):
                continue
            d.knobs[name] = knob.toScript()
        defs[id(node)] = d
    for node in _state.root._children:
        defs[id(node)].inputs = [defs[id(i)] if i is not None else None for i in node._inputs]
    root_def = nkscript.NodeDef("Root", {
        "name": filename, "first_frame": str(_state.root.firstFrame()),
        "last_frame": str(_state.root.lastFrame()),
        "format": str(_state.root["format"].value())})
    text = nkscript.write([root_def] + list(defs.values()), {
        k: v for k, v in _state.layers.items() if k != "rgba"})
    tmp = filename + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, filename)
    _state.root["name"]._values[0] = filename


def scriptOpen(filename: str | None = None) -> None:
    """Read a .nk: gizmo instances are rebuilt from their .gizmo files, as Nuke does."""
    if filename is None or not os.path.isfile(filename):
        raise RuntimeError(f"{filename}: no such script")
    with open(filename) as fh:
        script = nkscript.parse(fh.read())
    scriptClear()
    _state.layers.update(script.layers)
    made: dict[int, Node] = {}
    for d in script.nodes:
        if d.cls == "Root":
            for name in ("first_frame", "last_frame", "format"):
                if name in d.knobs:
                    _state.root[name].fromScript(d.knobs[name])
            continue
        node = _instantiate(d.cls)
        _attach(node, _state.root)
        for name, value in d.knobs.items():
            if name != "inputs" and name in node._knobs:
                node._knobs[name].fromScript(value)
        made[id(d)] = node
    for d in script.nodes:
        for i, inp in enumerate(d.inputs):
            if inp is not None and id(d) in made:
                made[id(d)].setInput(i, made[id(inp)])
    _state.root["name"]._values[0] = filename
    with _context(_state.root):
        _run_callbacks("onScriptLoad", _state.root)


# ---------------------------------------------------------------------------------- menus

class MenuItem:
    def __init__(self, *args, **kwargs) -> None:
        self._name = args[0] if args else ""
        self._script: Any = args[1] if len(args) > 1 else ""
        self._icon = kwargs.get("icon", "")

    def name(self) -> str:
        return self._name

    def icon(self) -> str:
        return self._icon

    def script(self) -> str:
        return self._script if isinstance(self._script, str) else repr(self._script)

    def invoke(self) -> None:
        if callable(self._script):
            self._script()
        else:
            exec(self._script, {"nuke": sys.modules[__name__]})  # noqa: S102 - a button runs its Python, as in Nuke


class _Items:
    """What menus and toolbars share: a tree of items addressed by "a/b/c" paths."""

    _items: list[MenuItem]

    def addMenu(self, *args, **kwargs) -> Any:
        name = args[0]
        head, _, rest = name.partition("/")
        sub = self.findItem(head)
        if not isinstance(sub, _Items):
            sub = Menu(head, icon=kwargs.get("icon", ""))
            self._items.append(sub)
        return sub.addMenu(rest, **kwargs) if rest else sub

    def addCommand(self, *args, **kwargs) -> Any:
        name = args[0]
        head, _, leaf = name.rpartition("/")
        menu = self.addMenu(head) if head else self
        item = MenuItem(leaf, args[1] if len(args) > 1 else kwargs.get("command", ""),
                        icon=kwargs.get("icon", ""))
        menu._items.append(item)
        return item

    def addSeparator(self, *args, **kwargs) -> Any:
        self._items.append(MenuItem(""))

    def findItem(self, name) -> Menu | None:
        head, _, rest = name.partition("/")
        item = next((i for i in self._items if i.name() == head), None)
        if rest and isinstance(item, _Items):
            return item.findItem(rest)
        return item  # type: ignore[return-value]

    def items(self) -> Any:
        return list(self._items)

    def menu(self, name) -> Menu | None:
        item = self.findItem(name)
        return item if isinstance(item, Menu) else None


class Menu(MenuItem, _Items):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._items = []


class ToolBar(_Items):
    def __init__(self, *args, **kwargs) -> None:
        self._name = args[0] if args else ""
        self._items = []

    def name(self) -> str:
        return self._name


def menu(name: str) -> Menu:
    if name not in _state.menus:
        _state.menus[name] = Menu(name)
    return _state.menus[name]


def toolbar(name: str, create: bool = True) -> ToolBar | None:
    if name not in _state.menus and create:
        _state.menus[name] = ToolBar(name)
    found = _state.menus.get(name)
    return found if isinstance(found, ToolBar) else None


def _reset() -> None:
    """Start a fresh session (tests call this between cases)."""
    global _state
    _state = _State()

