"""A small reader and writer for Nuke's script syntax (.nk, .gizmo): TCL words, braces, quotes.

A script is a list of statements. A node is ``Class { knob value ... }``; ``addUserKnob {...}``
lines inside it declare user knobs; ``inputs N`` says how many nodes it takes from the stack
(the top of the stack is input 0); ``set NAME [stack 0]`` / ``push $NAME`` / ``push 0`` move
nodes on the stack; a ``Group``/``Gizmo`` owns every node up to its ``end_group``; ``add_layer``
declares a channel layer.  Used by the stand-in ``nuke`` module and by the gizmo tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Node classes that take no input unless the script says otherwise.
SOURCE_CLASSES = {"Read", "Input", "Constant", "Root", "CheckerBoard2", "ColorBars",
                  "BackdropNode", "StickyNote", "Viewer"}
GROUP_CLASSES = {"Group", "Gizmo", "LiveGroup"}

# addUserKnob type ids (Nuke's numbering).
KNOB_TYPES = {1: "String_Knob", 2: "File_Knob", 3: "Int_Knob", 4: "Enumeration_Knob",
              6: "Boolean_Knob", 7: "Double_Knob", 12: "XY_Knob", 20: "Tab_Knob",
              22: "PyScript_Knob", 26: "Text_Knob", 41: "Link_Knob"}


class ScriptSyntaxError(ValueError):
    pass


@dataclass
class UserKnob:
    type_id: int
    name: str
    label: str = ""
    tooltip: str = ""
    script: str = ""  # T: the Python of a button, or a Text knob's text
    items: list[str] = field(default_factory=list)  # M: enumeration items
    flags: list[str] = field(default_factory=list)
    slider: tuple[float, float] | None = None  # R: a number knob's slider range

    @property
    def knob_class(self) -> str:
        return KNOB_TYPES.get(self.type_id, "Knob")


@dataclass
class NodeDef:
    cls: str
    knobs: dict[str, str] = field(default_factory=dict)  # knob name -> raw script value
    user_knobs: list[UserKnob] = field(default_factory=list)
    inputs: list[NodeDef | None] = field(default_factory=list)
    children: list[NodeDef] = field(default_factory=list)  # for Group / Gizmo
    layers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.knobs.get("name", "")

    def child(self, name: str) -> NodeDef | None:
        return next((c for c in self.children if c.name == name), None)


@dataclass
class Script:
    nodes: list[NodeDef]
    layers: dict[str, list[str]]
    version: str = ""


# ---------------------------------------------------------------- tokens

def _tokens(text: str, newlines: bool):
    """Yield ``(kind, value)``: word, brace (inner text), quote (unescaped), nl."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            if newlines:
                yield "nl", "\n"
            i += 1
        elif c in " \t\r;":
            i += 1
        elif c == "#" and (i == 0 or text[i - 1] in "\n \t"):
            while i < n and text[i] != "\n":
                i += 1
        elif c == "{":
            depth, j = 1, i + 1
            while j < n and depth:
                if text[j] == "\\":
                    j += 2
                    continue
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            if depth:
                raise ScriptSyntaxError(f"unbalanced '{{' at offset {i}")
            yield "brace", text[i + 1:j - 1]
            i = j
        elif c == "}":
            raise ScriptSyntaxError(f"unexpected '}}' at offset {i}")
        elif c == '"':
            out, j = [], i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    out.append({"n": "\n", "t": "\t"}.get(text[j + 1], text[j + 1]))
                    j += 2
                else:
                    out.append(text[j])
                    j += 1
            if j >= n:
                raise ScriptSyntaxError(f"unterminated string at offset {i}")
            yield "quote", "".join(out)
            i = j + 1
        else:
            j, depth = i, 0
            while j < n and (depth or text[j] not in " \t\r\n;{}\""):
                depth += {"[": 1, "]": -1}.get(text[j], 0)
                j += 1
            yield "word", text[i:j]
            i = j


def words(text: str) -> list[str]:
    """A TCL list as Python strings (braces and quotes removed one level)."""
    return [v for _, v in _tokens(text, newlines=False)]


# ---------------------------------------------------------------- reading

def parse_user_knob(body: str) -> UserKnob:
    w = words(body)
    if len(w) < 2 or not w[0].isdigit():
        raise ScriptSyntaxError(f"addUserKnob needs 'TYPE NAME ...', got {{{body}}}")
    knob = UserKnob(int(w[0]), w[1])
    i = 2
    while i < len(w):
        key = w[i]
        if key.startswith(("+", "-")):
            knob.flags.append(key)
            i += 1
            continue
        if i + 1 >= len(w):
            raise ScriptSyntaxError(f"addUserKnob {knob.name}: '{key}' has no value")
        value = w[i + 1]
        if key == "R":  # two values: the slider's low and high ends
            if i + 2 >= len(w):
                raise ScriptSyntaxError(f"addUserKnob {knob.name}: 'R' needs two values")
            knob.slider = (float(w[i + 1]), float(w[i + 2]))
            i += 3
            continue
        if key == "l":
            knob.label = value
        elif key == "t":
            knob.tooltip = value
        elif key == "T":
            knob.script = value
        elif key == "M":
            knob.items = words(value)
        # other keys (n, etc.) are kept by Nuke; we need none of them
        i += 2
    return knob


def parse_node_body(cls: str, body: str) -> NodeDef:
    node = NodeDef(cls)
    toks = list(_tokens(body, newlines=False))
    i = 0
    while i < len(toks):
        kind, key = toks[i]
        if kind != "word":
            raise ScriptSyntaxError(f"{cls}: expected a knob name, got {key!r}")
        if i + 1 >= len(toks):
            raise ScriptSyntaxError(f"{cls}: knob {key!r} has no value")
        value = toks[i + 1][1]
        if key == "addUserKnob":
            node.user_knobs.append(parse_user_knob(value))
        else:
            node.knobs[key] = value
        i += 2
    return node


def parse(text: str, gizmo: bool = False) -> Script:
    """Parse a .nk or .gizmo file into nodes with their inputs wired from the stack.

    In a .gizmo (``gizmo=True``) the top-level Gizmo defines a node class: its inputs come from
    wherever the class is used, not from the file's stack.
    """
    toks = list(_tokens(text, newlines=True))
    layers: dict[str, list[str]] = {}
    version = ""
    top: list[NodeDef] = []
    # (owner node or None, its children list, its stack)
    frames: list[tuple[NodeDef | None, list[NodeDef], list[NodeDef | None]]] = [(None, top, [])]
    variables: dict[str, NodeDef | None] = {}
    i = 0

    def line(start: int) -> tuple[list[str], int]:
        out, j = [], start
        while j < len(toks) and toks[j][0] != "nl":
            out.append(toks[j][1])
            j += 1
        return out, j

    while i < len(toks):
        kind, value = toks[i]
        if kind == "nl":
            i += 1
            continue
        if kind != "word":
            raise ScriptSyntaxError(f"expected a command, got {{{value[:40]}}}")
        owner, children, stack = frames[-1]
        if value == "version":
            args, i = line(i + 1)
            version = " ".join(args)
        elif value == "set":
            args, i = line(i + 1)
            if len(args) != 2 or args[1] != "[stack 0]":
                raise ScriptSyntaxError(f"unsupported set: {args}")
            variables[args[0]] = stack[-1] if stack else None
        elif value == "push":
            args, i = line(i + 1)
            if len(args) != 1:
                raise ScriptSyntaxError(f"push takes one argument, got {args}")
            if args[0] == "0":
                stack.append(None)
            elif args[0].startswith("$") and args[0][1:] in variables:
                stack.append(variables[args[0][1:]])
            else:
                raise ScriptSyntaxError(f"push of unknown variable {args[0]}")
        elif value == "end_group":
            if owner is None:
                raise ScriptSyntaxError("end_group without a group")
            frames.pop()
            frames[-1][2].append(owner)
            i += 1
        elif value == "add_layer":
            if i + 1 >= len(toks) or toks[i + 1][0] != "brace":
                raise ScriptSyntaxError("add_layer needs {name channel ...}")
            names = words(toks[i + 1][1])
            channels = names[1:]
            if not 1 <= len(channels) <= 4:
                raise ScriptSyntaxError(f"layer {names[0]} needs 1-4 channels, got {channels}")
            (owner.layers if owner else layers)[names[0]] = channels
            layers[names[0]] = channels
            i += 2
        else:
            if i + 1 >= len(toks) or toks[i + 1][0] != "brace":
                raise ScriptSyntaxError(f"{value}: expected '{{' after the node class")
            node = parse_node_body(value, toks[i + 1][1])
            i += 2
            if value == "Root":
                top.append(node)
                continue
            default = 0 if value in SOURCE_CLASSES else 1
            count = int(node.knobs.get("inputs", default))
            if gizmo and owner is None and value in GROUP_CLASSES:
                count = 0
            if count > len(stack):
                raise ScriptSyntaxError(f"{node.name or value} wants {count} inputs, "
                                        f"the stack holds {len(stack)}")
            node.inputs = [stack.pop() for _ in range(count)]
            children.append(node)
            if value in GROUP_CLASSES:
                frames.append((node, node.children, []))
            else:
                stack.append(node)
    if len(frames) != 1:
        raise ScriptSyntaxError("missing end_group")
    return Script(top, layers, version)


# ---------------------------------------------------------------- writing

def quote(value: str) -> str:
    """Quote a knob value as Nuke writes it."""
    if value == "":
        return '""'
    if value.startswith("{") and value.endswith("}"):
        return value
    if any(c in value for c in ' \t\n"{}[]$;\\'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return value


def write(nodes: list[NodeDef], layers: dict[str, list[str]] | None = None,
          version: str = "13.2 v8") -> str:
    """Serialise nodes (inputs already set) with set/push so the graph reads back the same."""
    out = [f"#! nuke\nversion {version}"]
    for name, channels in (layers or {}).items():
        out.append(f"add_layer {{{name} {' '.join(channels)}}}")
    _write_level(nodes, out)
    return "\n".join(out) + "\n"


def _write_level(nodes: list[NodeDef], out: list[str]) -> None:
    names: dict[int, str] = {}
    done: set[int] = set()
    used = {id(i) for n in nodes for i in n.inputs if i is not None}

    def emit(node: NodeDef) -> None:
        if id(node) in done:
            return
        for inp in node.inputs:
            if inp is not None:
                emit(inp)
        for inp in reversed(node.inputs):
            if inp is None:
                out.append("push 0")
            else:
                out.append(f"push ${names[id(inp)]}")
        body = [f" {k} {quote(v)}" for k, v in node.knobs.items() if k != "inputs"]
        body.insert(0, f" inputs {len(node.inputs)}")
        out.append(node.cls + " {\n" + "\n".join(body) + "\n}")
        done.add(id(node))
        if node.cls in GROUP_CLASSES:
            _write_level(node.children, out)
            out.append("end_group")
        if id(node) in used:
            names[id(node)] = f"N{len(names)}"
            out.append(f"set {names[id(node)]} [stack 0]")

    for node in nodes:
        emit(node)
