"""The Nuke host's collector: one ``faceplate.render`` instance per Write node fed by Faceplate
nodes. Imported only inside Nuke (it needs ``nuke`` and the Faceplate host package)."""

from __future__ import annotations

import os
from typing import ClassVar

import pyblish.api  # type: ignore[import-untyped]

from .shot import FAMILY


def _render_source(write):
    """The FaceMerge (or FaceSwap) nearest above ``write``, or None when it has none."""
    from faceplate_nuke.callbacks import faceplate_above

    found = [n for n in faceplate_above(write) if n.Class() in ("FaceMerge", "FaceSwap")]
    return found[-1] if found else None


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
            source = _render_source(write)
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
