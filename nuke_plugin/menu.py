"""Faceplate's toolbar and its Nodes menu entry, with icons (GUI only)."""

import nuke

NODES = ("FaceDetect", "FaceAlign", "FaceSwap", "FaceMerge")
PROCESS_SELECTED = ("import faceplate_nuke.actions as a; [a.process(n) for n in "
                    f"nuke.selectedNodes() if n.Class() in {NODES!r}]")


def _fill(menu) -> None:
    for cls in NODES:
        menu.addCommand(cls, f"nuke.createNode('{cls}')", icon=f"{cls}.png")
    menu.addSeparator()
    menu.addCommand("Process selected", PROCESS_SELECTED, icon="Faceplate.png")


_fill(nuke.menu("Nodes").addMenu("Faceplate", icon="Faceplate.png"))  # also the Tab menu
toolbar = nuke.toolbar("Faceplate")  # a toolbar of its own, docked like Nuke's
if toolbar is not None:
    _fill(toolbar)
