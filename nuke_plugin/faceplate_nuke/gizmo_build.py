"""Write the four .gizmo files from the registry: ``python -m faceplate_nuke.gizmo_build DIR``.

Inside every gizmo: ``Input1`` feeds a disabled ``input_write`` (the temporary EXR Write that
Process renders the input through) and a ``result_switch`` that shows either the input or the
``cache_read`` of this node's cached result. FaceMerge also has a ``mask`` input with its own
``mask_write``. The ``facemask`` layer is declared so the Read passes its channels on.
"""

from __future__ import annotations

import os
import sys

from faceplate_client.atomic import write_text_atomic
from faceplate_client.layout import nuke_layers

from .registry import COLOURS, KIND_IDS, NODES, NodeSpec

NUKE_VERSION = "13.2 v8"


def quote(value: str) -> str:
    if value == "":
        return '""'
    if any(c in value for c in ' \t\n"{}[]$;\\'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return value


def _user_knob(spec) -> str:
    parts = [str(KIND_IDS[spec.kind]), spec.name, "l", quote(spec.label)]
    if spec.kind == "enum":
        parts += ["M", "{" + " ".join(quote(i) for i in spec.items) + "}"]
    if spec.min_max:
        parts += ["R", *(f"{v:g}" for v in spec.min_max)]
    if spec.kind == "button":
        parts += ["T", quote(spec.script)]
    if spec.kind == "text":
        parts += ["T", quote(spec.default)]
    if spec.tooltip:
        parts += ["t", quote(spec.tooltip)]
    parts += list(spec.flags)
    return " addUserKnob {" + " ".join(parts) + "}"


def _node(cls: str, **knobs: str) -> str:
    body = "\n".join(f"  {k} {v}" for k, v in knobs.items())
    return f" {cls} {{\n{body}\n }}"


def gizmo_text(spec: NodeSpec) -> str:
    lines: list[str] = [
        "#! nuke",
        f"version {NUKE_VERSION}",
        *(f"add_layer {{{name} {' '.join(chans)}}}" for name, chans in nuke_layers().items()),
        "Gizmo {",
        f" inputs {len(spec.inputs)}",
        f" help {quote(spec.help)}",
        f" tile_color {COLOURS[spec.cls]:#010x}",
        f" note_font {quote('Verdana Bold')}",
        f" icon {spec.cls}.png",
    ]
    for knob in spec.knobs:
        lines.append(_user_knob(knob))
        if knob.default and knob.kind not in ("text", "button", "tab"):
            lines.append(f" {knob.name} {quote(knob.default)}")
    lines.append("}")
    lines += [
        _node("Input", inputs="0", name="Input1", label=quote(spec.inputs[0]), xpos="0",
              ypos="-150"),
        " set Ninput [stack 0]",
        _node("Write", file='""', file_type="exr", channels="all", disable="true",
              name="input_write", xpos="150", ypos="-50"),
        _node("Read", inputs="0", file='""', name="cache_read", xpos="-150", ypos="-50"),
        " push $Ninput",
        _node("Switch", inputs="2", which="{{parent.show_result}}", name="result_switch",
              xpos="0", ypos="50"),
        _node("Output", name="Output1", xpos="0", ypos="150"),
    ]
    if len(spec.inputs) > 1:
        lines += [
            _node("Input", inputs="0", name="mask", number="1", xpos="300", ypos="-150"),
            _node("Write", file='""', file_type="exr", channels="all", disable="true",
                  name="mask_write", xpos="300", ypos="-50"),
        ]
    lines.append("end_group")
    return "\n".join(lines) + "\n"


def write_gizmos(folder: str) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    paths = []
    for spec in NODES.values():
        path = os.path.join(folder, spec.cls + ".gizmo")
        write_text_atomic(path, gizmo_text(spec))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_gizmos(sys.argv[1] if len(sys.argv) > 1 else "gizmos"):
        print(p)
