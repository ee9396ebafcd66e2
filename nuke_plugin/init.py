"""Faceplate for Nuke, run in every mode (GUI, ``nuke -t``, ``nuke -x``): paths, the Faceplate
layers and the render callbacks. No UI here (menu.py holds it)."""

import os
import sys

import nuke

_HERE = os.path.dirname(os.path.abspath(__file__))


def _gizmo_folder() -> str:
    """$FACEPLATE_GIZMOS, else gizmos/ beside this folder (the repository layout)."""
    for folder in (os.environ.get("FACEPLATE_GIZMOS", ""), os.path.join(_HERE, "gizmos"),
                   os.path.join(os.path.dirname(_HERE), "gizmos")):
        if folder and os.path.isfile(os.path.join(folder, "FaceMerge.gizmo")):
            return folder
    raise RuntimeError(f"Faceplate: no gizmos found beside {_HERE}; set FACEPLATE_GIZMOS")


nuke.pluginAddPath(_gizmo_folder())
nuke.pluginAddPath(os.path.join(_HERE, "icons"))
if _HERE not in sys.path:  # (not pluginAddPath: that would run this init.py again)
    sys.path.insert(0, _HERE)  # faceplate_nuke and faceplate_client become importable

# importable once the path is set:
from faceplate_client.layout import nuke_layers
from faceplate_nuke import callbacks

for _layer, _channels in nuke_layers().items():  # facemask, faceregion, faceraw, facest
    nuke.Layer(_layer, _channels)
callbacks.register()
