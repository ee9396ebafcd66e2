"""FaceMerge's Learn Occlusion: the frames painted into the mask input teach the engine what
covers the face; its predicted matte sequence then feeds the 'occlusion' mask source.

The mask input is rendered on the painted frames only (the labels), the shot's alignments are
written from FaceAlign's cache, and the engine's ``occlusion_train`` and ``occlusion_predict``
ops run with progress on the node. The occlusion model lives beside those alignments, one
version per run (a new run starts from the last).
"""

from __future__ import annotations

import os

import nuke
from faceplate_client.frames import format_frame_range, parse_frame_range

from . import engine, graph
from .errors import NodeError
from .stages import Run
from .training import Progress, forward_progress


def learn(node: nuke.Node, progress: Progress) -> str:
    """Train on the painted frames, predict the node's range; returns the matte pattern."""
    if node.Class() != "FaceMerge":
        raise NodeError(f"{node.name()}: Learn Occlusion is a FaceMerge button")
    if node.input(1) is None:
        raise NodeError(f"{node.name()}: connect the mask input: paint what covers the face "
                        "(white) on a few frames, e.g. with a Roto")
    text = str(graph.value(node, "occlusion_frames")).strip()
    if not text:
        raise NodeError(f"{node.name()}: list the frames you painted in 'painted frames'")
    try:
        painted = parse_frame_range(text)
    except ValueError as exc:
        raise NodeError(f"{node.name()}: painted frames: {exc}") from None
    run = Run(node, interactive=True, progress=progress)
    frames = graph.frame_range(node)
    outside = [f for f in painted if f not in frames]
    if outside:
        raise NodeError(f"{node.name()}: painted frames {format_frame_range(outside)} are "
                        f"outside the node's range {frames[0]}-{frames[-1]}")
    shot_dir = os.path.dirname(run.write_alignments(run.ensure("align", frames)))
    labels = run.ensure("mask", painted)
    plate = run.cache("plate").pattern()
    engine.call(run.address, "occlusion_train", {
        "plate": plate, "shot_dir": shot_dir, "labels": labels.pattern(),
        "label_frames": format_frame_range(painted),
        "label_channel": str(graph.value(node, "mask_channel")),
        "steps": int(graph.value(node, "occlusion_steps"))},
        on_progress=forward_progress(progress))
    reply = engine.call(run.address, "occlusion_predict", {
        "plate": plate, "shot_dir": shot_dir, "frames": f"{frames[0]}-{frames[-1]}"},
        on_progress=forward_progress(progress))
    pattern = str(reply.params["pattern"])
    node["occlusion_matte"].setValue(pattern)
    node["mask_source"].setValue("occlusion")
    return pattern
