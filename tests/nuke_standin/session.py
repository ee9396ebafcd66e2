"""Start a stand-in Nuke session the way Nuke does: plug-in path, init.py, optionally menu.py."""

from __future__ import annotations

import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PLUGIN = os.path.join(REPO, "nuke_plugin")


def start(gui: bool = False):
    """A fresh stand-in session with Faceplate's init.py (and menu.py in GUI mode) run."""
    for path in (PLUGIN, HERE):
        if path not in sys.path:
            sys.path.insert(0, path)
    import nuke

    nuke._reset()
    nuke.GUI = gui
    from faceplate_nuke import engine

    engine.close_all()  # clients of an earlier test's engine
    runpy.run_path(os.path.join(PLUGIN, "init.py"), run_name="init")
    if gui:
        runpy.run_path(os.path.join(PLUGIN, "menu.py"), run_name="menu")
    return nuke
