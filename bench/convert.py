"""Convert benchmark: ms per frame by stage at 1080p and 4K on this machine, and re-merge cost.

Prints one JSON object per line on stdout:
  {"bench": "convert", "resolution": "1080p", "ms_per_frame": {"read":…, "swap":…, "merge":…,
   "write":…}, …}                                                 one line per resolution
  {"bench": "convert_remerge", "resolution": "4K", "remerge_ms": …, "remerge_with_io_ms": …}
  {"bench": "convert_colour", "resolution": "4K", "merge_ms": {"none": …, "seamless": …}}
  {"bench": "convert_flicker", "shot": …, "swap": "null"|"frozen", "colour": …, "ratio": …}

``--flicker`` runs only the flicker measurement (faceplate.convert.flicker): the merged face's
frame-to-frame change with the face's motion removed, as a ratio to the plate's own, on the
demo shot (dlib extraction, default smoothing) and on frames of the same-person talking-head
clip when ../shared/clips has it (outputs stay in a temporary folder). Two swaps isolate what
the merge adds: ``null`` returns the plate's own face (so only mask, colour matching and
resampling differ), ``frozen`` returns the first frame's face on every frame (a perfectly
still swap: what is left is mask and colour-match flicker plus the alignment's jitter).
``--flicker --model DIR --to B`` adds the swap of a trained model on the clip only; it must be a
same-person model of that clip (its halves as identities A and B), never another person's.

Each shot has one warm-up frame that is not counted. The shots are the bundled astronaut moved through known transforms (faceplate.samples), written
as half-float ACEScg EXR. Landmarks are dlib's on the source photo moved by each frame's exact
transform (extraction is benchmarked elsewhere). The model is an untrained FaceModel at 256 px
with the default widths: its swap costs what a trained one costs. Compare numbers as ratios
within one run: the machine is shared.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np


def main() -> int:
    if "--flicker" in sys.argv[1:]:
        return flicker_main()
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    from faceplate.convert.cache import SwapCache
    from faceplate.convert.merge import merge_faces
    from faceplate.convert.pipeline import (
        convert_shot,
        file_stamp,
        merge_frame,
        placements,
        plate_rgb,
        swap_frame,
    )
    from faceplate.convert.settings import COLOUR_MODES, MergeSettings
    from faceplate.convert.writer import OutputSettings
    from faceplate.extract import alignments as alignments_io
    from faceplate.io.colour import ColourSpaces
    from faceplate.io.images import read_image
    from faceplate.model.card import ModelCard
    from faceplate.model.store import create_model

    frames = int(os.environ.get("BENCH_FRAMES", "3"))
    with tempfile.TemporaryDirectory() as tmp:
        model = create_model(os.path.join(tmp, "model"),
                             ModelCard.for_resolution(["a", "b"], 256, consent="benchmark"))
        for name, size, face_px in (("1080p", (1920, 1080), 320.0), ("4K", (4096, 2160), 680.0)):
            shot_dir = os.path.join(tmp, name)
            plate = _shot(shot_dir, size, face_px, frames + 1)
            out = os.path.join(tmp, name + "_out", "o.####.exr")
            cache = os.path.join(tmp, name + "_cache")
            first, *timed = sorted(alignments_io.load(shot_dir).frames)
            # Warm-up frame (first torch call, OCIO processors), not counted.
            convert_shot(plate, shot_dir, model, "b", out, frames=[first], cache_dir=cache)
            t0 = time.perf_counter()
            summary = convert_shot(plate, shot_dir, model, "b", out, frames=timed,
                                   cache_dir=cache)
            wall = time.perf_counter() - t0
            per_frame = summary.to_dict()["ms_per_frame"]
            _emit({"bench": "convert", "resolution": name, "size": list(size),
                   "frames": frames, "model": "FaceModel 256 px untrained, CPU",
                   "ms_per_frame": per_frame, "frames_per_s": round(frames / wall, 3)})
            if name != "4K":
                continue
            # Re-merge one 4K frame with new merge settings, its swap coming from the cache.
            shot = alignments_io.load(shot_dir)
            frame = shot.frames[first]
            faces = placements(frame, shot.face_type, model)
            first_path = plate.replace("####", str(first))
            image, stamp = read_image(first_path), file_stamp(first_path)
            colour = ColourSpaces(shot.colourspace)
            swap_cache = SwapCache(cache)
            new = MergeSettings(blur=4.0, erode=3.0, colour="average")
            rgb, layers = image.rgb(), np.zeros((image.height, image.width, 3), np.float32)
            counted = _Counting(model)
            total, cached, faces_only = [], [], []
            for _ in range(3):
                t0 = time.perf_counter()
                swaps = swap_frame(plate_rgb(image), faces, counted, "b", colour,
                                   frame=first, cache=swap_cache, source=stamp)
                t1 = time.perf_counter()
                merge_frame(image, swaps, colour, new)
                total.append(time.perf_counter() - t0)
                cached.append(t1 - t0)
                t0 = time.perf_counter()
                merge_faces(rgb, None, swaps, colour, new, layers=layers)
                faces_only.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            convert_shot(plate, shot_dir, model, "b", OutputSettings(out), frames=[first],
                         settings=new, cache_dir=cache)
            with_io = time.perf_counter() - t0
            _emit({"bench": "convert_remerge", "resolution": name,
                   "remerge_ms": round(1000 * min(total), 1),
                   "cached_swap_ms": round(1000 * min(cached), 1),
                   "model_runs_during_remerge": counted.calls,
                   "merge_faces_ms": round(1000 * min(faces_only), 1),
                   "remerge_with_io_ms": round(1000 * with_io, 1),
                   "swap_ms": per_frame["swap"],
                   "note": "remerge_ms: plate in memory, swap from the disk cache, merged frame "
                           "(7-channel full-frame buffer); merge_faces_ms: the face-box work "
                           "alone; with_io adds reading the plate EXR and writing the frame"})
            merge_ms = {}
            for mode in COLOUR_MODES:
                settings = MergeSettings(colour=mode)
                t0 = time.perf_counter()
                merge_frame(image, swaps, colour, settings)
                merge_ms[mode] = round(1000 * (time.perf_counter() - t0), 1)
            _emit({"bench": "convert_colour", "resolution": name, "merge_ms": merge_ms})
    return 0


class _Counting:
    """The model, counting its swap calls: a re-merge from the cache must make none."""

    def __init__(self, model):
        self.model, self.card, self.calls = model, model.card, 0

    def swap(self, crops, identity):
        self.calls += 1
        return self.model.swap(crops, identity)


def _shot(shot_dir: str, size: tuple[int, int], face_px: float, frames: int) -> str:
    """A sample shot and its alignments from the ground-truth transforms."""
    from faceplate.samples import make_shot, write_true_alignments

    sample = make_shot("astronaut", shot_dir, frames=frames, size=size, face_px=face_px)
    write_true_alignments(sample, shot_dir)
    return sample.pattern.replace("%04d", "####")


CLIP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "clips",
                    "talking_head_1.mp4")


def flicker_main() -> int:
    import argparse

    from faceplate.samples import make_shot

    parser = argparse.ArgumentParser(description="flicker of the merged face")
    parser.add_argument("--flicker", action="store_true")
    parser.add_argument("--model", help="a same-person model of the clip (clip only)")
    parser.add_argument("--to", default="B", help="the model's identity to swap in")
    args = parser.parse_args()

    frames = int(os.environ.get("BENCH_FLICKER_FRAMES", "24"))
    clip = os.environ.get("FACEPLATE_CLIP", CLIP)
    with tempfile.TemporaryDirectory() as tmp:
        demo = make_shot("astronaut", os.path.join(tmp, "demo"), frames=frames,
                         size=(960, 540), face_px=170.0)
        shots = [("demo astronaut (sample)", demo.pattern.replace("%04d", "####"), None, None)]
        if os.path.isfile(clip):
            shots.append(("talking_head_1 (same person)", clip, f"1-{frames}", args.model))
        else:
            print(f"talking_head_1.mp4 not found at {clip}: measuring the demo shot only",
                  file=sys.stderr)
        for i, (name, plate, frame_range, model) in enumerate(shots):
            _flicker_shot(name, plate, frame_range, os.path.join(tmp, f"shot{i}"), model,
                          args.to)
    return 0


def _flicker_shot(name: str, plate: str, frame_range: str | None, shot_dir: str,
                  model_dir: str | None, identity: str) -> None:
    from faceplate.convert.flicker import flicker
    from faceplate.convert.pipeline import convert_shot
    from faceplate.convert.settings import MergeSettings
    from faceplate.convert.swap import PassthroughModel
    from faceplate.extract import alignments as alignments_io
    from faceplate.extract.pipeline import extract_shot
    from faceplate.io.colour import ColourSpaces
    from faceplate.io.images import read_image, read_plate_frame
    from faceplate.io.sequence import open_plate

    extract_shot(plate, shot_dir, frames=frame_range, backend="dlib", preview=False)
    shot = alignments_io.load(shot_dir)
    frames = [f for f in sorted(shot.frames) if len(shot.frames[f]) == 1]
    source = open_plate(plate, frames)
    colour = ColourSpaces(shot.colourspace)
    plates = {f: colour.to_network(read_plate_frame(source, f).rgb()) for f in frames}
    matrices = {f: shot.frames[f][0].matrix for f in frames}
    swaps = ["null", "frozen"] + (["model"] if model_dir else [])
    for swap in swaps:
        for mode in ("reinhard", "none"):
            to = identity if swap == "model" else "same"
            if swap == "model":
                from faceplate.model.store import load_model

                model = load_model(model_dir, device="cpu")
            else:
                model = PassthroughModel(256, shot.face_type, identities=["same"])
            if swap == "frozen":
                model = _Frozen(model)
            out = os.path.join(shot_dir, f"{swap}_{mode}", "m.####.exr")
            t0 = time.perf_counter()
            convert_shot(source, shot_dir, model, to, out, frames=frames,
                         settings=MergeSettings(colour=mode))
            seconds = time.perf_counter() - t0
            merged, mattes = {}, {}
            for f in frames:
                image = read_image(out.replace("####", f"{f:04d}"))
                merged[f], mattes[f] = colour.to_network(image.rgb()), image.channel(
                    "facemask.face")
            record = {"bench": "convert_flicker", "shot": name, "swap": swap, "colour": mode,
                      "frames": len(frames)}
            for key, lowpass in (("", 0.0), ("lowpass_", LOWPASS)):
                parts = [flicker([plates[f] for f in run], [merged[f] for f in run],
                                 [matrices[f] for f in run], [mattes[f] for f in run],
                                 lowpass=lowpass)
                         for run in _consecutive(frames) if len(run) > 1]
                pairs = sum(p.pairs for p in parts)
                m = sum(p.merged * p.pairs for p in parts) / max(pairs, 1)
                pl = sum(p.plate * p.pairs for p in parts) / max(pairs, 1)
                record.update({"pairs": pairs, f"{key}merged_mean_abs_diff": round(m, 6),
                               f"{key}plate_mean_abs_diff": round(pl, 6),
                               f"{key}ratio": round(m / pl, 3) if pl else None})
            _emit({**record, "convert_s": round(seconds, 1),
                   "note": "sRGB-encoded 0-1, inside the eroded face matte, frame t+1 warped "
                           f"onto t by the alignment matrices; lowpass_: both blurred first "
                           f"(sigma {LOWPASS} of the crop side)"})


LOWPASS = 0.03  # flicker's blur, as a fraction of the aligned crop's side


def _consecutive(frames: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for f in frames:
        if runs and f == runs[-1][-1] + 1:
            runs[-1].append(f)
        else:
            runs.append([f])
    return runs


class _Frozen:
    """A perfectly still swap: the first face it is given, returned for every crop."""

    def __init__(self, model):
        self.card, self.model, self.face = model.card, model, None

    def swap(self, crops, identity):
        faces, masks = self.model.swap(crops, identity)
        if self.face is None:
            self.face = faces[0].copy()
        return np.repeat(self.face[None], len(crops), axis=0), masks


def _emit(record: dict) -> None:
    """One JSON line, with the machine's load: the cores are shared, numbers move with it."""
    record["load_avg_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    sys.exit(main())
