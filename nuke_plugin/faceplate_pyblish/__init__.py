"""Faceplate's pyblish-base plugins, standard library only (Python 3.9+), for Nuke and the shell.

In Nuke (``init.py`` or a studio's pipeline setup)::

    import faceplate_pyblish
    faceplate_pyblish.register("nuke")

Headless, the engine's ``faceplate publish`` registers the ``shell`` host with these plugins
plus the engine-side ones that need OpenImageIO or render (:mod:`faceplate.publish`).
"""

from __future__ import annotations


def plugins_for(host: str) -> list:
    """The plugin classes that apply on ``host`` (pyblish filters by host again on its own)."""
    from .plugins import PLUGINS

    return [p for p in PLUGINS if "*" in p.hosts or host in p.hosts]


def register(host: str) -> list:
    """Register ``host`` and this package's plugins with pyblish; return the plugins."""
    import pyblish.api  # type: ignore[import-untyped]

    pyblish.api.register_host(host)
    if host == "nuke":
        from .nuke_collect import CollectNukeWrites

        pyblish.api.register_plugin(CollectNukeWrites)
    chosen = plugins_for(host)
    for plugin in chosen:
        pyblish.api.register_plugin(plugin)
    return chosen
