"""Write a ready Nuke script that wires the four Faceplate gizmos over a shot.

Read → FaceDetect → FaceAlign → FaceSwap → FaceMerge → Write, with the engine's own merged
frames in a second Read beside it for comparison. Knob names are those of the gizmos in
``gizmos/`` (``faceplate_nuke.registry``); a test checks that they still exist.
"""

from __future__ import annotations

import os

from faceplate_client.layout import nuke_layers

from .io.atomic import write_text_atomic


def _quote(value: object) -> str:
    text = str(value)
    if text and all(c.isalnum() or c in "._/-#%:" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("[", "\\[") + '"'


def _node(cls: str, knobs: dict[str, object], inputs: int | None = None) -> str:
    lines = [f"{cls} {{"]
    if inputs is not None:
        lines.append(f" inputs {inputs}")
    lines += [f" {k} {_quote(v)}" for k, v in knobs.items()]
    lines.append("}")
    return "\n".join(lines)


def write_demo_script(path: str, *, plate: str, frames: tuple[int, int], size: tuple[int, int],
                      colourspace: str, model: str, identity: str, merged: str, cache: str,
                      detector: str = "dlib") -> str:
    first, last = frames
    w, h = size
    chain = [
        _node("Read", {"file": plate, "first": first, "last": last, "origfirst": first,
                       "origlast": last, "colorspace": "linear", "raw": "true",
                       "name": "Plate", "xpos": 0, "ypos": -300}, inputs=0),
        _node("FaceDetect", {"input_colourspace": colourspace, "detector": detector,
                             "cache_folder": cache, "name": "FaceDetect1", "xpos": 0,
                             "ypos": -200}),
        _node("FaceAlign", {"face_type": "whole_face", "smoothing": 0.5,
                            "cache_folder": cache, "name": "FaceAlign1", "xpos": 0,
                            "ypos": -120}),
        _node("FaceSwap", {"model": model, "identity": identity, "cache_folder": cache,
                           "name": "FaceSwap1", "xpos": 0, "ypos": -40}),
        _node("FaceMerge", {"mask_source": "hull*learned", "erode": 0, "blur": 8,
                            "colour_mode": "reinhard", "cache_folder": cache,
                            "name": "FaceMerge1", "xpos": 0, "ypos": 40}, inputs=1),
        _node("Write", {"file": os.path.join(os.path.dirname(merged), "nuke_merged.####.exr"),
                        "file_type": "exr", "channels": "all", "raw": "true",
                        "name": "WriteMerged", "xpos": 0, "ypos": 140}),
    ]
    text = "\n".join([
        "#! nuke -nx",
        "version 13.2 v8",
        _node("Root", {"first_frame": first, "last_frame": last,
                       "format": f"{w} {h} 0 0 {w} {h} 1 faceplate_demo"}, inputs=0),
        *(f"add_layer {{{name} {' '.join(chans)}}}" for name, chans in nuke_layers().items()),
        *chain,
        _node("Read", {"file": merged, "first": first, "last": last, "raw": "true",
                       "name": "EngineMerged", "label": "faceplate demo output",
                       "xpos": 200, "ypos": 40}, inputs=0),
        _node("Viewer", {"frame_range": f"{first}-{last}", "name": "Viewer1", "xpos": 0,
                         "ypos": 240}),
        "",
    ])
    write_text_atomic(path, text)
    return path
