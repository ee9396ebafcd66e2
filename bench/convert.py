"""Convert benchmark: 4K and 1080p throughput of the old code against the new, re-merge cost.

Prints one JSON object per line on stdout:
  {"bench": "convert_throughput", "resolution": "4K", "code": "old (main)"|"new serial
   (--serial)"|"new overlapped"|…, "frames_per_s": …, "busy_ms_per_frame": {"read":…, …}}
  {"bench": "convert_speedup", "resolution": "4K", "ratios": {code: frames/s ÷ the old's}}
  {"bench": "convert_remerge", "resolution": "4K", "merge_faces_ms": …, "remerge_ms": …}
  {"bench": "convert_colour", "resolution": "4K", "merge_ms": {"none": …, "seamless": …}}
  {"bench": "convert_flicker", "shot": …, "swap": "null"|"frozen"|"model", "variant": …,
   "ratio": …, "lowpass_ratio": …}

Throughput: each code runs in its own process on the same shot and model: the old code is
``--baseline REF[,REF…]`` (default ``main``) unpacked with ``git archive``, the new one this checkout,
serial and overlapped, with temporal smoothing off (the old code has none) and on (the
default). Each run warms up on one frame, then renders ``BENCH_FRAMES`` (default 6) frames as
a first render (the model runs on every face). The runs go ``BENCH_ROUNDS`` (default 2) times,
forward then backward, and the speed-up compares each code's best round; ``BENCH_SIZES``
(default ``1080p,4K``) picks the resolutions. ``busy_ms_per_frame`` is each stage's busy time:
overlapped stages add up to more than the wall clock; ``cpu_s_per_frame`` is the process's CPU
time (all threads), which other people's load on the machine changes far less than the wall
clock.

``--match`` runs only the plate match figures (grain, softness and motion blur against the
plate and against a known camera's truth, before and after in one run, and their 4K cost):
see :func:`match_main`.

``--flicker`` runs only the flicker measurement (faceplate.convert.flicker): the merged face's
frame-to-frame change with the face's motion removed, as a ratio to the plate's own, on the
demo shot (dlib extraction, default smoothing) and on frames of the same-person talking-head
clip when ../shared/clips has it (outputs stay in a temporary folder), for per-frame colour
matching (before), temporal smoothing (the default), with a swap blend, and no colour match.
Two swaps isolate what the merge adds: ``null`` returns the plate's own face (so only mask,
colour matching and resampling differ), ``frozen`` returns the first frame's face on every
frame (a perfectly still swap: what is left is mask and colour-match flicker plus the
alignment's jitter). ``--flicker --model DIR --to B`` adds the swap of a trained model on the
clip only; it must be a same-person model of that clip (its halves as identities A and B),
never another person's.

The throughput shots are the bundled astronaut moved through known transforms
(faceplate.samples), written as half-float ACEScg EXR, with landmarks from the exact
transforms. The model is an untrained FaceModel at 256 px with the default widths, each code
making its own (its card version): its swap costs what a trained one costs. Compare numbers as
ratios within one run: the machine is shared."""

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
    if "--match" in sys.argv[1:]:
        return match_main()
    if sys.argv[1:2] == ["--worker"]:
        return _worker(json.loads(sys.argv[2]))
    import argparse

    parser = argparse.ArgumentParser(description="convert throughput, old code against new")
    parser.add_argument("--baseline", default="main", help="git refs of the code to compare "
                        "with, comma-separated, the first being the ratios' base (default "
                        "main; 'none' skips it)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))

    frames = int(os.environ.get("BENCH_FRAMES", "6"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    with tempfile.TemporaryDirectory() as tmp:
        refs = [] if args.baseline == "none" else args.baseline.split(",")
        baselines = [(ref, _baseline_tree(ref, os.path.join(tmp, f"baseline{i}")))
                     for i, ref in enumerate(refs)]
        model_dir = os.path.join(tmp, "model")
        sizes = os.environ.get("BENCH_SIZES", "1080p,4K").split(",")
        for name, size, face_px in (("1080p", (1920, 1080), 320.0), ("4K", (4096, 2160), 680.0)):
            if name not in sizes:
                continue
            shot_dir = os.path.join(tmp, name)
            # one warm-up frame, the timed ones, and room for temporal smoothing's neighbours
            plate = _shot(shot_dir, size, face_px, frames + 8)
            runs = [("new overlapped", None, {"temporal": 0.0}, {}),
                    ("new serial (--serial)", None, {"temporal": 0.0}, {"serial": True}),
                    ("new overlapped, temporal smoothing (default)", None, {}, {})]
            runs[:0] = [(f"old ({ref})", tree, {}, {}) for ref, tree in baselines]
            fps: dict[str, list[float]] = {label: [] for label, *_ in runs}
            for round_ in range(rounds):  # forward, then backward: load drift hits all alike
                order = list(enumerate(runs))
                for index, (label, tree, settings, options) in order[::1 - 2 * (round_ % 2)]:
                    spec = {"plate": plate, "shot_dir": shot_dir,
                            "model": model_dir if tree is None else os.path.join(tree, "model"),
                            "out": os.path.join(tmp, f"{name}_{index}_{round_}", "o.####.exr"),
                            "frames": frames, "settings": settings, "options": options}
                    result = _run_worker(spec, tree)
                    fps[label].append(result["frames_per_s"])
                    _emit({"bench": "convert_throughput", "resolution": name,
                           "size": list(size), "code": label, "round": round_ + 1,
                           "model": "FaceModel 256 px untrained, CPU", **result})
            best = {k: max(v) for k, v in fps.items()}
            first = next(iter(best))
            _emit({"bench": "convert_speedup", "resolution": name, "relative_to": first,
                   "rounds": rounds, "best_frames_per_s": best,
                   "ratios": {k: round(v / best[first], 2) for k, v in best.items()}})
            if name == "4K":
                _remerge(plate, shot_dir, model_dir, tmp)
    return 0


def _baseline_tree(ref: str, tree: str) -> str:
    """The engine and client packages of ``ref``, unpacked (git archive) for the old code's run."""
    import subprocess

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    os.makedirs(tree)
    archive = subprocess.run(["git", "-C", root, "archive", ref, "engine", "nuke_plugin"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    return tree


def _run_worker(spec: dict, tree: str | None) -> dict:
    """One convert in a fresh process, with the code of ``tree`` (None: this checkout's)."""
    import subprocess

    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = os.pathsep.join(os.path.join(tree, p)
                                            for p in ("engine", "nuke_plugin"))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                          json.dumps(spec)], env=env, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"benchmark worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _worker(spec: dict) -> int:
    """Warm up on the shot's first frame, then time ``frames`` frames end to end (a first
    render: every face goes through the model, its cache starts empty)."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    from faceplate.convert.pipeline import convert_shot
    from faceplate.convert.settings import MergeSettings
    from faceplate.extract import alignments as alignments_io
    from faceplate.model.store import load_model

    if not os.path.isdir(spec["model"]):  # each code's own card version
        from faceplate.model.card import ModelCard
        from faceplate.model.store import create_model

        create_model(spec["model"], ModelCard.for_resolution(["a", "b"], 256,
                                                             consent="benchmark"))
    model = load_model(spec["model"], device="cpu")
    settings = MergeSettings(**spec["settings"])
    first, *rest = sorted(alignments_io.load(spec["shot_dir"]).frames)
    timed = rest[:spec["frames"]]
    out, kw = spec["out"], spec["options"]
    convert_shot(spec["plate"], spec["shot_dir"], model, "b", out, frames=[first],
                 settings=settings, cache_dir=out + ".warmcache", **kw)
    t0, cpu0 = time.perf_counter(), time.process_time()
    summary = convert_shot(spec["plate"], spec["shot_dir"], model, "b", out, frames=timed,
                           settings=settings, cache_dir=out + ".cache", **kw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(json.dumps({"frames": len(timed), "wall_s": round(wall, 2),
                      "frames_per_s": round(len(timed) / wall, 3),
                      "cpu_s_per_frame": round(cpu / len(timed), 2),
                      "busy_ms_per_frame": summary.to_dict()["ms_per_frame"],
                      "load_avg_1min": round(os.getloadavg()[0], 2)}))
    return 0


def _remerge(plate: str, shot_dir: str, model_dir: str, tmp: str) -> None:
    """Re-merge one 4K frame with new merge settings, its swap coming from the cache."""
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
    from faceplate.model.store import load_model

    model = load_model(model_dir, device="cpu")
    shot = alignments_io.load(shot_dir)
    first = min(shot.frames)
    out, cache = os.path.join(tmp, "remerge", "o.####.exr"), os.path.join(tmp, "remerge_cache")
    convert_shot(plate, shot_dir, model, "b", out, frames=[first], cache_dir=cache,
                 settings=MergeSettings(temporal=0.0))
    faces = placements(shot.frames[first], shot.face_type, model)
    first_path = plate.replace("####", str(first))
    image, stamp = read_image(first_path, keep_half=True), file_stamp(first_path)
    colour = ColourSpaces(shot.colourspace)
    swap_cache = SwapCache(cache)
    new = MergeSettings(blur=4.0, erode=3.0, colour="average", temporal=0.0)
    rgb = read_image(first_path).rgb()
    counted = _Counting(model)
    total, cached, faces_only = [], [], []
    for _ in range(5):
        t0 = time.perf_counter()
        swaps = swap_frame(plate_rgb(image), faces, counted, "b", colour,
                           frame=first, cache=swap_cache, source=stamp)
        t1 = time.perf_counter()
        merge_frame(image, swaps, colour, new)
        total.append(time.perf_counter() - t0)
        cached.append(t1 - t0)
        plate_copy = rgb.copy()  # merge_faces works in place
        t0 = time.perf_counter()
        merge_faces(plate_copy, None, swaps, colour, new)
        faces_only.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    convert_shot(plate, shot_dir, model, "b", OutputSettings(out), frames=[first],
                 settings=new, cache_dir=cache)
    with_io = time.perf_counter() - t0
    _emit({"bench": "convert_remerge", "resolution": "4K",
           "remerge_ms": round(1000 * min(total), 1),
           "cached_swap_ms": round(1000 * min(cached), 1),
           "model_runs_during_remerge": counted.calls,
           "merge_faces_ms": round(1000 * min(faces_only), 1),
           "remerge_with_io_ms": round(1000 * with_io, 1),
           "note": "best of 5; remerge_ms: half plate in memory, swap from the disk cache, "
                   "merged frame (colour buffer and layers); merge_faces_ms: the face work "
                   "alone (every layer and the blend); with_io adds reading the plate EXR "
                   "and writing the frame"})
    merge_ms = {}
    for mode in COLOUR_MODES:
        t0 = time.perf_counter()
        merge_frame(image, swaps, colour, MergeSettings(colour=mode, temporal=0.0))
        merge_ms[mode] = round(1000 * (time.perf_counter() - t0), 1)
    _emit({"bench": "convert_colour", "resolution": "4K", "merge_ms": merge_ms})


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


def _extracted(plate: str, frame_range: str | None, shot_dir: str):
    """Extract ``plate`` (dlib, default smoothing) into ``shot_dir``: the alignments, the
    frames holding exactly one face, the plate opened on them and their RGB."""
    from faceplate.extract import alignments as alignments_io
    from faceplate.extract.pipeline import extract_shot
    from faceplate.io.images import read_plate_frame
    from faceplate.io.sequence import open_plate

    extract_shot(plate, shot_dir, frames=frame_range, backend="dlib", preview=False)
    shot = alignments_io.load(shot_dir)
    frames = [f for f in sorted(shot.frames) if len(shot.frames[f]) == 1]
    source = open_plate(plate, frames)
    return shot, frames, source, {f: read_plate_frame(source, f).rgb() for f in frames}


def _flicker_shot(name: str, plate: str, frame_range: str | None, shot_dir: str,
                  model_dir: str | None, identity: str) -> None:
    from faceplate.convert.flicker import flicker
    from faceplate.convert.pipeline import convert_shot
    from faceplate.convert.swap import PassthroughModel
    from faceplate.io.colour import ColourSpaces
    from faceplate.io.images import read_image

    shot, frames, source, plates = _extracted(plate, frame_range, shot_dir)
    colour = ColourSpaces(shot.colourspace)
    plates = {f: colour.to_network(rgb) for f, rgb in plates.items()}
    matrices = {f: shot.frames[f][0].matrix for f in frames}
    swaps = ["null", "frozen"] + (["model"] if model_dir else [])
    for swap in swaps:
        for variant, settings in _variants():
            to = identity if swap == "model" else "same"
            if swap == "model":
                from faceplate.model.store import load_model

                model = load_model(model_dir, device="cpu")
            else:
                model = PassthroughModel(256, shot.face_type, identities=["same"])
            if swap == "frozen":
                model = _Frozen(model)
            out = os.path.join(shot_dir, f"{swap}_{variant}", "m.####.exr")
            t0 = time.perf_counter()
            convert_shot(source, shot_dir, model, to, out, frames=frames, settings=settings,
                         cache_dir=os.path.join(shot_dir, f"cache_{swap}"))
            seconds = time.perf_counter() - t0
            merged, mattes = {}, {}
            for f in frames:
                image = read_image(out.replace("####", f"{f:04d}"))
                merged[f], mattes[f] = colour.to_network(image.rgb()), image.channel(
                    "facemask.face")
            record = {"bench": "convert_flicker", "shot": name, "swap": swap,
                      "variant": variant, "colour": settings.colour,
                      "temporal": settings.temporal, "temporal_swap": settings.temporal_swap,
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


def _variants():
    from faceplate.convert.settings import MergeSettings

    return [("per-frame (before)", MergeSettings(temporal=0.0)),
            ("temporal (default)", MergeSettings()),
            ("temporal sigma 4", MergeSettings(temporal=4.0)),
            ("temporal + swap blend 0.5", MergeSettings(temporal_swap=0.5)),
            ("per-frame, colour none", MergeSettings(colour="none", temporal=0.0))]


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


# --- --match: plate match, before and after in one run ---------------------------------------

MATCH_OFF = {"grain": "off", "soften": "off", "shutter": 0.0}  # before: the clean swap


def match_main() -> int:
    """Plate match figures, before (grain, soften and motion blur off) and after (the
    defaults), in one run:

    - ``match_synthetic``: shots a known camera filmed (faceplate.samples.Camera: grain per
      channel rising with exposure, defocus, motion blur over a 180° shutter), merged with
      the perfect swap (the clean face as filmed, a 256 px crop): the merged face's grain
      over the plate's per brightness band and channel (frame to frame), its fine detail over
      the plate's (``sharpness_ratio``) and its edges' spread over the plate's
      (``focus_ratio``), its blur length against the truth;
    - ``match_shot``: the demo shot and ``talking_head_1.mp4`` (same person), each swapped with
      its own face drawn at 128 px (a perfect 128 px model; ``--model DIR --to B``: a trained
      same-person model of the clip): grain and fine detail as above, frame t+1 laid onto t by
      the alignment so the face's motion is not counted as grain;
    - ``match_cost``: 4K convert frames/s with matching against without (the same worker,
      alternating), and the merge stage's ms.
    """
    import argparse

    parser = argparse.ArgumentParser(description="plate match: grain, softness, motion blur")
    parser.add_argument("--match", action="store_true")
    parser.add_argument("--model", help="a same-person model of the clip (clip only)")
    parser.add_argument("--to", default="B", help="the model's identity to swap in")
    parser.add_argument("--parts", default="synthetic,shots,cost")
    args = parser.parse_args()
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        if "synthetic" in parts:
            _match_synthetic(tmp)
        if "shots" in parts:
            _match_shots(tmp, args.model, args.to)
        if "cost" in parts:
            _match_cost(tmp)
    return 0


def _match_synthetic(tmp: str) -> None:
    from faceplate.convert.match_figures import (
        blur_length,
        focus_ratio,
        grain_ratio,
        sharpness_ratio,
    )
    from faceplate.convert.merge import SwappedFace
    from faceplate.convert.motion import FaceMotion
    from faceplate.convert.render import merge_frame
    from faceplate.convert.settings import MergeSettings
    from faceplate.io.colour import ColourSpaces
    from faceplate.io.images import read_image
    from faceplate.samples import Camera, camera_frame, camera_swap, make_camera_shot

    grain = (0.035, 0.045, 0.06)
    cameras = {"grain": Camera(grain=grain, grain_size=0.8),
               "defocus": Camera(defocus=2.0),
               "motion": Camera(velocity=(14.0, 6.0), shutter=180.0),
               "grain+defocus+motion": Camera(velocity=(10.0, 0.0), shutter=180.0,
                                              defocus=1.5, grain=grain, grain_size=0.8)}
    for name, camera in cameras.items():
        sample = make_camera_shot("astronaut", os.path.join(tmp, "camera", name), camera,
                                  frames=6, seed=3)
        colour = ColourSpaces(sample.colourspace)
        frames = sample.frames
        swaps = {f: camera_swap(sample, f, 256) for f in frames}
        record: dict = {"bench": "match_synthetic", "shot": name,
                        "camera": {k: v for k, v in vars(camera).items()}}
        for label, settings in (("before", MATCH_OFF), ("after", {})):
            merged, plates, ms = [], [], []
            for f in frames[1:-1]:
                face, matrix, landmarks = swaps[f]
                motion = FaceMotion(swaps[f - 1][1], swaps[f + 1][1])
                plate = read_image(sample.path(f))
                t0 = time.perf_counter()
                out = merge_frame(plate, [SwappedFace(face, np.ones(face.shape[:2], np.float32),
                                                      matrix, landmarks, 1.0, motion=motion)],
                                  colour, MergeSettings(colour="none", mask="hull",
                                                        temporal=0.0, **settings), frame=f)
                ms.append(1000 * (time.perf_counter() - t0))
                merged.append(out.rgb)
                plates.append(plate.rgb())
            weight = (out.layers.face >= 0.999).astype(np.float32)
            focus = focus_ratio(merged[0], plates[0], weight)
            figures: dict = {"merge_ms": round(float(np.median(ms)), 1),
                             "sharpness_ratio": round(sharpness_ratio(merged[0], plates[0],
                                                                      weight), 3),
                             "focus_ratio": None if focus is None else round(focus, 3)}
            if any(camera.grain) and not any(camera.velocity):
                figures["grain_ratio_band_channel"] = np.round(
                    grain_ratio(merged, plates, weight), 3).tolist()
            if any(camera.velocity):
                # The motion blur alone: the swap blurred over the shutter against the same
                # swap still (no grain, no softening in either).
                f = frames[1]
                face, matrix, landmarks = swaps[f]
                pair = [merge_frame(read_image(sample.path(f)), [SwappedFace(
                    face, np.ones(face.shape[:2], np.float32), matrix, landmarks, 1.0,
                    motion=FaceMotion(swaps[f - 1][1], swaps[f + 1][1]))], colour,
                    MergeSettings(colour="none", mask="hull", temporal=0.0, grain="off",
                                  soften="off", shutter=shutter), frame=f).rgb
                    for shutter in (MergeSettings(**settings).shutter, 0.0)]
                direction = np.asarray(camera.velocity) / np.hypot(*camera.velocity)
                figures["blur_length_px"] = round(blur_length(
                    pair[0], pair[1], tuple(direction), weight), 2)
                clean = camera_frame("astronaut", sample.matrices[frames[1]], sample.size,
                                     Camera(), colour, np.random.default_rng(0))
                figures["plate_blur_length_px"] = round(blur_length(
                    plates[0], clean, tuple(direction), weight), 2)
                figures["true_blur_length_px"] = round(camera.blur_length(), 2)
            record[label] = figures
        _emit(record)


def _match_shots(tmp: str, model_dir: str | None, identity: str) -> None:
    from faceplate.samples import make_shot

    clip = os.environ.get("FACEPLATE_CLIP", CLIP)
    frames = int(os.environ.get("BENCH_MATCH_FRAMES", "12"))
    demo = make_shot("astronaut", os.path.join(tmp, "demo"), frames=frames, size=(960, 540),
                     face_px=170.0)
    shots = [("demo astronaut (sample)", demo.pattern.replace("%04d", "####"), None, None)]
    if os.path.isfile(clip):
        shots.append(("talking_head_1 (same person)", clip, f"1-{frames}", model_dir))
    else:
        print(f"talking_head_1.mp4 not found at {clip}: the demo shot only", file=sys.stderr)
    for i, (name, plate, frame_range, model) in enumerate(shots):
        _match_shot(name, plate, frame_range, os.path.join(tmp, f"match{i}"), model, identity)


def _match_shot(name: str, plate: str, frame_range: str | None, shot_dir: str,
                model_dir: str | None, identity: str) -> None:
    from faceplate.convert.match_figures import focus_ratio, sharpness_ratio, temporal_grain
    from faceplate.convert.pipeline import convert_shot
    from faceplate.convert.settings import MergeSettings
    from faceplate.convert.swap import PassthroughModel
    from faceplate.face.align import invert
    from faceplate.io.images import read_image

    shot, frames, source, plates = _extracted(plate, frame_range, shot_dir)
    if model_dir:
        from faceplate.model.store import load_model

        model, to, swap = load_model(model_dir, device="cpu"), identity, "model"
    else:
        model, to, swap = PassthroughModel(128, shot.face_type, identities=["same"]), "same", \
            "own face at 128 px"
    pairs = [(f, f + 1) for f in frames if f + 1 in plates]
    record: dict = {"bench": "match_shot", "shot": name, "swap": swap, "frames": len(frames)}
    for label, settings in (("before", MATCH_OFF), ("after", {})):
        out = os.path.join(shot_dir, label, "m.####.exr")
        summary = convert_shot(source, shot_dir, model, to, out, frames=frames,
                               settings=MergeSettings(**settings),
                               cache_dir=os.path.join(shot_dir, "cache"))
        merged, mattes = {}, {}
        for f in frames:
            image = read_image(out.replace("####", f"{f:04d}"))
            merged[f], mattes[f] = image.rgb(), image.channel("facemask.face")
        grain_m, grain_p, sharp, focus = [], [], [], []
        for f, g in pairs:
            # frame g laid onto f by the alignment: the face's motion is not grain
            onto = (np.vstack([invert(shot.frames[g][0].matrix), [0, 0, 1]])
                    @ np.vstack([shot.frames[f][0].matrix, [0, 0, 1]]))[:2]
            weight = (mattes[f] >= 0.999).astype(np.float32)
            # High-passed first: what the alignment leaves unaligned (a mouth, a blink) is
            # smooth; grain is not.
            edges, p = temporal_grain([_fine(plates[f]), _fine(_laid(plates[g], onto))], weight,
                                      banding=plates[f])
            _, m = temporal_grain([_fine(merged[f]), _fine(_laid(merged[g], onto))], weight,
                                  edges=edges, banding=plates[f])
            grain_p.append(p)
            grain_m.append(m)
            sharp.append(sharpness_ratio(merged[f], plates[f], weight))
            focus.append(focus_ratio(merged[f], plates[f], weight))
        rms_m = np.sqrt(np.mean(np.square(grain_m), axis=0))
        rms_p = np.sqrt(np.mean(np.square(grain_p), axis=0))
        record[label] = {"grain_ratio_band_channel": np.round(rms_m / np.maximum(rms_p, 1e-12),
                                                              3).tolist(),
                         "sharpness_ratio": round(float(np.median(sharp)), 3),
                         "focus_ratio": _median([v for v in focus if v is not None]),
                         "merge_ms_per_frame": summary.to_dict()["ms_per_frame"]["merge"]}
    _emit(record)


def _fine(image: np.ndarray) -> np.ndarray:
    """The image less its Gaussian low-pass (σ 2 px)."""
    import cv2

    return image - cv2.GaussianBlur(image, (0, 0), 2.0)


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 3) if values else None


def _laid(image: np.ndarray, onto: np.ndarray) -> np.ndarray:
    """``image`` (another frame) resampled onto this frame's pixels by ``onto`` (this frame's
    pixels → that frame's)."""
    import cv2

    h, w = image.shape[:2]
    return cv2.warpAffine(image, onto, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def _match_cost(tmp: str) -> None:
    """4K convert frames/s, matching on (the default) against off, same worker, alternating."""
    frames = int(os.environ.get("BENCH_FRAMES", "6"))
    shot_dir = os.path.join(tmp, "4K")
    plate = _shot(shot_dir, (4096, 2160), 680.0, frames + 8)
    model_dir = os.path.join(tmp, "model")
    fps: dict[str, list[float]] = {"off": [], "on (default)": []}
    merge_ms: dict[str, list[float]] = {"off": [], "on (default)": []}
    for round_ in range(int(os.environ.get("BENCH_ROUNDS", "2"))):
        runs = [("off", dict(MATCH_OFF, temporal=0.0)), ("on (default)", {"temporal": 0.0})]
        for label, settings in runs[::1 - 2 * (round_ % 2)]:
            result = _run_worker({"plate": plate, "shot_dir": shot_dir, "model": model_dir,
                                  "out": os.path.join(tmp, f"cost_{label[:3]}_{round_}",
                                                      "o.####.exr"),
                                  "frames": frames, "settings": settings, "options": {}}, None)
            fps[label].append(result["frames_per_s"])
            merge_ms[label].append(result["busy_ms_per_frame"]["merge"])
    best = {k: max(v) for k, v in fps.items()}
    _emit({"bench": "match_cost", "resolution": "4K", "best_frames_per_s": best,
           "cost": round(1.0 - best["on (default)"] / best["off"], 3),
           "merge_ms_per_frame": {k: min(v) for k, v in merge_ms.items()},
           "note": "cost: the share of 4K convert throughput matching takes (goal <= 0.15); "
                   "moving sample face, untrained 256 px model, temporal smoothing off"})


def _emit(record: dict) -> None:
    """One JSON line, with the machine's load: the cores are shared, numbers move with it."""
    record["load_avg_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    sys.exit(main())
