"""Reading the node graph: the chain of Faceplate nodes, knob values, ranges, cache folders."""

from __future__ import annotations

import os
from typing import Any

import nuke

from .errors import NodeError
from .registry import NODE_CLASSES, NODES

PASS_THROUGH = ("Dot", "NoOp")
# The Python type an engine op parameter gets from each knob kind.
PARAM_TYPES: dict[str, type] = {"string": str, "file": str, "enum": str, "int": int,
                                 "double": float, "bool": bool}


def is_faceplate(node: nuke.Node | None) -> bool:
    return node is not None and node.Class() in NODE_CLASSES


def upstream(node: nuke.Node, index: int = 0) -> nuke.Node | None:
    """The node feeding input ``index``, skipping Dots."""
    found = node.input(index)
    while found is not None and found.Class() in PASS_THROUGH:
        found = found.input(0)
    return found


def chain(node: nuke.Node) -> dict[str, nuke.Node]:
    """The Faceplate nodes from the chain's FaceDetect down to ``node``, by class.

    Each node must sit below the one before it (FaceDetect → FaceAlign → FaceSwap →
    FaceMerge); a missing link is an error the artist can fix by wiring.
    """
    found: dict[str, nuke.Node] = {}
    current: nuke.Node | None = node
    order = list(NODE_CLASSES)
    wanted = order.index(node.Class())
    while current is not None and is_faceplate(current):
        cls = current.Class()
        if cls in found:
            break
        found[cls] = current
        current = upstream(current)
    missing = [c for c in order[:wanted + 1] if c not in found]
    if missing:
        raise NodeError(f"{node.name()}: connect a {missing[-1]} above it (the chain is "
                        f"{' → '.join(order[:wanted + 1])})")
    return found


def value(node: nuke.Node, name: str, frame: int | None = None) -> Any:
    """A knob's value (at ``frame`` when it is animated), in a JSON-able form."""
    knob = node.knob(name)
    if knob is None:
        raise NodeError(f"{node.name()} has no knob {name!r}: update the Faceplate gizmos")
    if frame is not None and isinstance(knob, (nuke.Array_Knob,)) and knob.isAnimated():
        return knob.getValueAt(frame)
    v = knob.value()
    return v if isinstance(v, (int, float, str, bool)) else str(v)


def stage_values(node: nuke.Node, stage: str, frame: int) -> dict[str, Any]:
    """The knobs feeding ``stage``'s cache key at ``frame`` (numbers as floats, so a keyed
    0.0 and a plain 0 hash alike)."""
    values = {k.name: value(node, k.name, frame) for k in NODES[node.Class()].knobs
              if k.stage == stage}
    return {k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
            for k, v in values.items()}


def op_params(node: nuke.Node, frame: int) -> dict[str, Any]:
    """The engine op parameters the node's knobs declare (``KnobSpec.param``), at ``frame``."""
    return {k.param: PARAM_TYPES[k.kind](value(node, k.name, frame))
            for k in NODES[node.Class()].knobs if k.param}


def signature(node: nuke.Node | None, seen: set[str] | None = None) -> list[str]:
    """What makes the pixels of ``node``: its class and knobs and those of everything above.

    Used as the plate stage's key: an edit anywhere upstream re-renders the plate.
    """
    if node is None:
        return []
    seen = set() if seen is None else seen
    name = node.fullName()
    if name in seen:
        return []
    seen.add(name)
    flags = nuke.WRITE_NON_DEFAULT_ONLY | nuke.TO_SCRIPT | nuke.TO_VALUE
    out = [f"{node.Class()} {node.writeKnobs(flags)}"]
    for i in range(node.inputs()):
        out += signature(node.input(i), seen)
    return out


def frame_range(node: nuke.Node) -> list[int]:
    if value(node, "use_input_range"):
        src = node.input(0)
        if src is None:
            raise NodeError(f"{node.name()}: connect an input")
        first, last = src.firstFrame(), src.lastFrame()
    else:
        first, last = int(value(node, "first")), int(value(node, "last"))
    if last < first:
        raise NodeError(f"{node.name()}: last frame {last} is before first frame {first}")
    return list(range(first, last + 1))


def cache_root(node: nuke.Node) -> str:
    """The cache folder knob, else ``$FACEPLATE_CACHE``, else next to the saved script."""
    folder = str(value(node, "cache_folder") or os.environ.get("FACEPLATE_CACHE", ""))
    if not folder:
        try:
            script = nuke.scriptName()
        except RuntimeError:
            raise NodeError(f"{node.name()}: save the script or set the cache folder knob "
                            "(results are cached next to the script)") from None
        folder = os.path.join(os.path.dirname(script), "faceplate_cache")
    return os.path.abspath(os.path.expanduser(folder))


def internal(node: nuke.Node, name: str) -> nuke.Node:
    """A node inside a Faceplate gizmo; a missing one means an outdated gizmo file."""
    found = node.node(name) if isinstance(node, nuke.Group) else None
    if found is None:
        raise NodeError(f"{node.name()} has no internal node {name!r}: update the Faceplate "
                        "gizmos on NUKE_PATH")
    return found
