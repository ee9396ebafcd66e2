"""FaceMerge's QC Report: the engine's ``qc_report`` over the node's processed range.

The node's range is processed first (cached frames are reused); the report then reads the
node's own cache — the alignments FaceAlign made, the plate FaceDetect rendered, the merged
frames — with FaceSwap's model and identity, and writes index.html and report.json to the
folder knob (default: ``report`` beside the node's cache). The Process is entered in the run
log beside those alignments (the script and the node chain), as a command line would be. The verdict goes on the node's
status; in the GUI the page opens in the browser.
"""

from __future__ import annotations

import os
import webbrowser
from typing import Any, Callable

import nuke
from faceplate_client.layout import REPORT_DIR
from faceplate_client.shot_runs import record_run

from . import engine, graph
from .errors import NodeError
from .registry import NODE_CLASSES
from .stages import Run, model_and_identity
from .training import forward_progress

Progress = Callable[[str, int, int], None]


def qc_report(node: nuke.Node, progress: Progress) -> dict[str, Any]:
    if node.Class() != "FaceMerge":
        raise NodeError(f"{node.name()}: the QC report belongs to a FaceMerge node")
    run = Run(node, interactive=True, progress=progress)
    merged = run.process()
    shot_dir = os.path.dirname(run.write_alignments(run.cache("align")))
    model, identity = model_and_identity(run.nodes["FaceSwap"], run.bounds[0])
    script = str(nuke.root()["name"].value()) or "(an unsaved script)"
    chain = " → ".join(run.nodes[cls].name() for cls in NODE_CLASSES)
    record_run(shot_dir, "convert", f"nuke {script}: {chain}, Process {run.bounds[0]}-"
               f"{run.bounds[-1]}", plate=run.cache("plate").pattern(), out=merged.pattern(),
               model=model, identity=identity)
    folder = str(graph.value(node, "qc_folder")) or \
        os.path.join(os.path.dirname(merged.folder), REPORT_DIR)
    reply = engine.call(run.address, "qc_report", {
        "shot_dir": shot_dir, "output": os.path.abspath(folder), "merged": merged.pattern(),
        "plate": run.cache("plate").pattern(), "model": model, "identity": identity},
        on_progress=forward_progress(progress))
    result = dict(reply.params)
    failing = ", ".join(result["failing"]) or "none"
    node["node_status"].setValue(f"QC {result['verdict']} (failing: {failing}): "
                                 f"{result['page']}")
    if nuke.GUI:
        webbrowser.open("file://" + result["page"])
    return result
