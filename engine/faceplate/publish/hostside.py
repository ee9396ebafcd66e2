"""The standard-library publish plugins, imported from ``nuke_plugin/faceplate_pyblish``.

They live beside the Nuke plugin because Nuke imports them; the engine reaches them on
``sys.path`` when installed, else from the source checkout the installer works in.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def _package():
    try:
        return importlib.import_module("faceplate_pyblish")
    except ImportError:
        sys.path.append(str(Path(__file__).resolve().parents[3] / "nuke_plugin"))
        return importlib.import_module("faceplate_pyblish")


package = _package()
plugins = importlib.import_module("faceplate_pyblish.plugins")
shot = importlib.import_module("faceplate_pyblish.shot")
exr = importlib.import_module("faceplate_pyblish.exr")
