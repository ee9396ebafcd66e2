"""Nuke Process benchmark: what the keyed cache saves, through the stand-in Nuke and a real engine.

Prints one JSON object per line:
  {"bench": "nuke_process", "frames", "size", "cold_s", "cold_ms_per_frame", "cold_stage_s",
   "warm_s",
   "merge_only_s", "one_frame_s", "warm_over_cold", "merge_only_over_cold",
   "one_frame_over_cold"}

cold: Process of a fresh FaceMerge chain, stage by stage (``cold_stage_s``: plate render,
detect, align, swap, merge; the first engine call of a stage includes loading its detector or
model);
warm: Process again with nothing changed (key checks only); merge_only: after a blur change
(merge stage only); one_frame: after keying erode on one frame. The model is untrained (its
swap costs what a trained one of its size costs); dlib detects. Compare the ratios: the
machine is shared.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(REPO, "tests"), os.path.join(REPO, "tests", "nuke_standin")]

FRAMES, SIZE = 8, (640, 360)


def main() -> int:
    from pathlib import Path

    from engine_helpers import running_engine
    from faceplate.model.card import ModelCard
    from faceplate.model.store import create_model
    from faceplate.samples import make_shot
    from session import start

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sample = make_shot("astronaut", str(root / "plate"), frames=FRAMES, size=SIZE,
                           face_px=160.0)
        card = ModelCard.for_resolution(["astronaut", "other"], 128,
                                        consent="benchmark: public-domain NASA photo")
        create_model(str(root / "model"), card)
        with running_engine(root):
            nuke = start()
            from faceplate_nuke import actions

            read = nuke.createNode("Read")
            read["file"].setValue(sample.pattern.replace("%04d", "####"))
            read["first"].setValue(sample.frames[0])
            read["last"].setValue(sample.frames[-1])
            previous = read
            for cls in ("FaceDetect", "FaceAlign", "FaceSwap", "FaceMerge"):
                node = nuke.createNode(cls)
                node.setInput(0, previous)
                node["engine_address"].setValue(str(root / "engine" / "engine.sock"))
                node["cache_folder"].setValue(str(root / "cache"))
                previous = node
            nuke.toNode("FaceDetect1")["detector"].setValue("dlib")
            nuke.toNode("FaceSwap1")["model"].setValue(str(root / "model"))
            nuke.toNode("FaceSwap1")["identity"].setValue("other")
            merge = nuke.toNode("FaceMerge1")

            def timed() -> float:
                t0 = time.perf_counter()
                actions.process(merge)
                return time.perf_counter() - t0

            from faceplate_nuke.stages import Run

            run = Run(merge)
            stage_s = {}
            for stage in ("plate", "detect", "align", "swap", "merge"):
                t0 = time.perf_counter()
                run.ensure(stage, sample.frames)
                stage_s[stage] = round(time.perf_counter() - t0, 3)
            cold = sum(stage_s.values())
            warm = timed()
            merge["blur"].setValue(4.0)
            merge_only = timed()
            merge["erode"].setValueAt(0.0, sample.frames[0])
            merge["erode"].setValueAt(2.0, sample.frames[1])
            merge["erode"].setValueAt(0.0, sample.frames[2])
            one = timed()
    print(json.dumps({"bench": "nuke_process", "frames": FRAMES, "size": list(SIZE),
                      "cold_s": round(cold, 3), "cold_ms_per_frame": round(1000 * cold / FRAMES),
                      "cold_stage_s": stage_s,
                      "warm_s": round(warm, 3), "merge_only_s": round(merge_only, 3),
                      "one_frame_s": round(one, 3),
                      "warm_over_cold": round(warm / cold, 4),
                      "merge_only_over_cold": round(merge_only / cold, 3),
                      "one_frame_over_cold": round(one / cold, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
