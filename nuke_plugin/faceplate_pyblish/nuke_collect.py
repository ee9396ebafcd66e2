"""The Nuke host's collector: one ``faceplate.render`` instance per Write node fed by Faceplate
nodes. Imported only inside Nuke (it needs ``nuke`` and the Faceplate host package)."""

from __future__ import annotations

import os
from typing import ClassVar

import pyblish.api

from .shot import FAMILY


def faceplate_above(node, max_depth: int = 200):
    """The nearest FaceMerge or FaceSwap up the main input of ``node``, or None."""
    current = node.input(0)
    for _ in range(max_depth):
        if current is None:
            return None
        if current.Class() in ("FaceMerge", "FaceSwap"):
            return current
        current = current.input(0)
    return None


class CollectNukeWrites(pyblish.api.ContextPlugin):
    """Write nodes below a FaceMerge/FaceSwap: their files are what the shot publishes."""

    label = "Collect Faceplate Write nodes"
    order = pyblish.api.CollectorOrder
    hosts: ClassVar[list[str]] = ["nuke"]

    def process(self, context):
        import nuke
        from faceplate_nuke import graph
        from faceplate_nuke.stages import Run

        for write in nuke.allNodes("Write"):
            disable = write.knob("disable")
            source = faceplate_above(write)
            if source is None or (disable is not None and disable.value()):
                continue
            run = Run(source, interactive=False)
            # The alignments of every frame FaceAlign has processed, in the engine's format.
            alignments = run.write_alignments(run.cache("align"))
            swap = run.nodes["FaceSwap"]
            instance = context.create_instance(write.name(), family=FAMILY)
            instance.data.update(
                shotDir=os.path.dirname(alignments), modelDir=str(graph.value(swap, "model")),
                identity=str(graph.value(swap, "identity")), output=write["file"].value(),
                frames=list(run.bounds), writeNode=write.name(),
                resolution=context.data.get("faceplateResolution"),
                render=bool(context.data.get("faceplateRender")))
            self.log.info("collected %s: %s", write.name(), instance.data["output"])
