"""Faceplate's toolbar and Nodes menu (GUI only)."""

import nuke

NODES = ("FaceDetect", "FaceAlign", "FaceSwap", "FaceMerge")

for bar in (nuke.menu("Nodes"), nuke.toolbar("Nodes")):
    if bar is None:
        continue
    menu = bar.addMenu("Faceplate", icon="Faceplate.png")
    for cls in NODES:
        menu.addCommand(cls, f"nuke.createNode('{cls}')", icon=f"{cls}.png")
    menu.addSeparator()
    menu.addCommand("Process selected", "import faceplate_nuke.actions as a; "
                    "[a.process(n) for n in nuke.selectedNodes() if n.Class() in "
                    f"{NODES!r}]", icon="Faceplate.png")
