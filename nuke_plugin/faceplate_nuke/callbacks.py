"""Render callbacks: a render of a script whose cache is empty (a farm render of a fresh
script) asks the engine for each frame before Nuke reads it.

``register()`` (called from init.py, so it also runs under ``nuke -x`` and ``nuke -t``)
adds a before-render callback that points every Faceplate node above the Write at its cache,
and a before-frame-render callback that fills the cache for the frame. Errors abort the
render with a message naming the node and the frame.
"""

from __future__ import annotations

import nuke

from .actions import show
from .errors import NodeError
from .registry import NODE_CLASSES
from .stages import SHOWN_STAGE, Run

SHOWN = ("FaceSwap", "FaceMerge")  # nodes whose output is their cached result


def register() -> None:
    nuke.addBeforeRender(before_render, nodeClass="Write")
    nuke.addBeforeFrameRender(before_frame_render, nodeClass="Write")


def unregister() -> None:
    nuke.removeBeforeRender(before_render, nodeClass="Write")
    nuke.removeBeforeFrameRender(before_frame_render, nodeClass="Write")


def faceplate_above(node: nuke.Node) -> list[nuke.Node]:
    """Faceplate nodes feeding ``node``, nearest last (so upstream chains come first)."""
    found: list[nuke.Node] = []
    seen: set[str] = set()

    def walk(n: nuke.Node | None) -> None:
        if n is None or n.fullName() in seen:
            return
        seen.add(n.fullName())
        for i in range(n.inputs()):
            walk(n.input(i))
        if n.Class() in NODE_CLASSES:
            found.append(n)

    walk(node.input(0))
    return found


def _ours(write: nuke.Node) -> bool:
    """A Faceplate gizmo's own internal Write (rendered by Process itself)."""
    parent = write.parent()
    return parent is not None and parent.Class() in NODE_CLASSES


def before_render() -> None:
    write = nuke.thisNode()
    if _ours(write):
        return
    for node in faceplate_above(write):
        if node.Class() in SHOWN:
            run = _run(node)
            show(node, run, run.cache(_stage(node)))


def before_frame_render() -> None:
    write = nuke.thisNode()
    if _ours(write):
        return
    frame = nuke.frame()
    for node in faceplate_above(write):
        if node.Class() in SHOWN:
            try:
                _run(node).ensure(_stage(node), [frame])
            except NodeError as exc:
                raise NodeError(f"Faceplate {node.name()}, frame {frame}: {exc}") from None


def _stage(node: nuke.Node) -> str:
    return SHOWN_STAGE[node.Class()]


def _run(node: nuke.Node) -> Run:
    try:
        return Run(node, interactive=False)
    except NodeError as exc:
        raise NodeError(f"Faceplate {node.name()}: {exc}") from None

