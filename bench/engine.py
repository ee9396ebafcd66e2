"""Engine benchmark: what the wire costs against what a frame's work costs, on this machine.

Runs a real ``faceplate serve`` on a private socket and prints one JSON object per line:
  {"bench": "engine_latency", "op": "echo"|"status", "median_ms", "p95_ms", "requests"}
  {"bench": "engine_frames", "resolution": "2K"|"4K", "inline_merge_ms", "path_merge_ms"
   (zip EXR out), "path_merge_uncompressed_ms", "inline_fps", "path_fps", "echo_frame_ms", "inline_mb", "merge_compute_ms",
   "protocol_share_of_inline_merge", "protocol_share_of_compute"}
  {"bench": "engine_swap_batching", "clients": 8, "crops_per_s_one_client",
   "crops_per_s_eight_clients", "mean_batch"}
  {"bench": "engine_isolation", "op": "echo"|"merge_inline"|"merge_path", "resolution",
   "in_process_ms", "isolated_ms", "cost"}: the price of running merge (and align) in worker
   processes that can be killed: the same requests against an engine started with
   --no-isolation (before) and a default one (after), alternating, in the same run; ``cost``
   is isolated / in-process - 1.

Frames are the bundled astronaut photo placed in half-float ACEScg EXR plates (faceplate.samples);
faces come from the engine's own detect → align → swap on that plate. ``merge`` is the per-frame
op of the FaceMerge node: inline sends the plate (RGBA float32) and receives RGBA + facemask;
the path form sends two file names and the engine reads and writes the EXRs itself.
``echo_frame_ms`` moves the inline request's and reply's bytes with no work at all, so
``protocol_share_of_inline_merge`` = echo / inline merge. ``merge_compute_ms`` is the stage's
merge_frame called in this process on the same frame. The machine is shared: compare ratios
within one run, not across runs.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

import numpy as np

RESOLUTIONS = {"2K": (2048, 1080), "4K": (4096, 2160)}
if os.environ.get("BENCH_ONLY"):
    RESOLUTIONS = {os.environ["BENCH_ONLY"]: RESOLUTIONS[os.environ["BENCH_ONLY"]]}
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def main() -> int:
    from faceplate.server.arrays import from_numpy, to_numpy
    from faceplate_client.client import EngineClient

    tmp = tempfile.mkdtemp(prefix="fp-bench-")
    os.chmod(tmp, 0o700)
    sock, token = os.path.join(tmp, "engine.sock"), os.path.join(tmp, "engine.token")
    command = [sys.executable, "-m", "faceplate.cli", "serve", "--socket", sock, "--token-file",
               token, "--log", os.path.join(tmp, "engine.log"), "--max-message", "4096"]
    client = EngineClient(sock, token, start_command=command, client_name="bench")
    try:
        client.connect()  # starts the engine
        while client.status()["device"] == "starting":  # torch still importing: it would
            time.sleep(0.1)                              # compete with the measurements
        _latency(client)
        model_dir = _tiny_model(tmp)
        for name, size in RESOLUTIONS.items():
            _frames(client, tmp, name, size, model_dir, from_numpy, to_numpy)
        _swap_batching(client, sock, token, model_dir, from_numpy)
        _isolation_cost(client, tmp, model_dir, from_numpy)
    finally:
        try:
            client.call("shutdown")
        except Exception as exc:  # noqa: BLE001 - best effort; the folder goes anyway
            print(f"engine shutdown: {exc}", file=sys.stderr)
        client.close()
        time.sleep(0.5)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def _timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _latency(client) -> None:
    for op, params in (("echo", {"data": {"frame": 1001}}), ("status", {})):
        for _ in range(20):  # warm up
            client.call(op, params)
        times = sorted(_timed(lambda op=op, params=params: client.call(op, params), 500))
        _emit({"bench": "engine_latency", "op": op, "requests": len(times),
               "median_ms": round(1000 * statistics.median(times), 3),
               "p95_ms": round(1000 * times[int(0.95 * len(times))], 3)})


def _tiny_model(tmp: str) -> str:
    from faceplate.model.card import ModelCard
    from faceplate.model.store import create_model

    card = ModelCard.for_resolution(["a", "b"], 128, consent="benchmark: untrained weights")
    model_dir = os.path.join(tmp, "model")
    create_model(model_dir, card)
    return model_dir


def _frames(client, tmp, name, size, model_dir, from_numpy, to_numpy) -> None:
    from faceplate.convert.merge import SwappedFace
    from faceplate.convert.pipeline import merge_frame
    from faceplate.convert.settings import MergeSettings
    from faceplate.io.colour import ColourSpaces
    from faceplate.io.images import read_image
    from faceplate.samples import make_shot

    shot = make_shot("astronaut", os.path.join(tmp, name), frames=1, size=size,
                     face_px=size[1] * 0.25)
    plate = shot.path(shot.frames[0])
    found = client.call("detect", {"path": plate, "backend": "dlib"})
    landmarks = to_numpy(found.arrays["landmarks"])
    if not len(landmarks):
        _emit({"bench": "engine_frames", "resolution": name, "error": "no face detected"})
        return
    matrices = to_numpy(client.call("align", {}, {"landmarks": found.arrays["landmarks"]}
                                    ).arrays["matrices"])
    swapped = client.call("swap", {"path": plate, "model": model_dir, "identity": "b"},
                          {"matrices": from_numpy(matrices), "landmarks": from_numpy(landmarks)})
    faces = {"faces": swapped.arrays["faces"], "masks": swapped.arrays["masks"],
             "matrices": from_numpy(matrices), "landmarks": from_numpy(landmarks)}
    image = read_image(plate)
    rgba = np.concatenate([image.rgb(), np.ones((*image.pixels.shape[:2], 1), np.float32)],
                          axis=-1)
    common = {"model": model_dir, "identity": "b", "colourspace": "ACEScg"}
    inline = {**faces, "image": from_numpy(rgba)}
    out = os.path.join(tmp, name, "merged.exr")

    def merge_inline():
        reply = client.call("merge", common, inline)
        return reply.arrays["rgba"], reply.arrays["facemask"]

    def merge_path(compression="zip"):
        client.call("merge", {**common, "path": plate, "output": out,
                              "compression": compression}, faces)

    merge_inline(), merge_path()  # warm up: model load, caches
    inline_s = statistics.median(_timed(merge_inline, REPEATS))
    path_s = statistics.median(_timed(merge_path, REPEATS))
    path_raw_s = statistics.median(_timed(lambda: merge_path("none"), REPEATS))

    h, w = size[1], size[0]
    back = {"rgba": from_numpy(np.zeros((h, w, 4), np.float32)),
            "facemask": from_numpy(np.zeros((h, w, 3), np.float32))}
    inline_bytes = rgba.nbytes + sum(a.nbytes for a in faces.values()) \
        + sum(a.nbytes for a in back.values())
    echo_half = from_numpy(np.zeros(inline_bytes // 8, np.float32))  # echo sends it back
    echo_s = statistics.median(_timed(lambda: client.call("echo", {}, {"data": echo_half}),
                                      REPEATS))

    colour = ColourSpaces("ACEScg")
    swaps = [SwappedFace(to_numpy(swapped.arrays["faces"])[i], to_numpy(swapped.arrays["masks"])[i],
                         matrices[i], landmarks[i]) for i in range(len(matrices))]
    compute_s = statistics.median(_timed(
        lambda: merge_frame(image, swaps, colour, MergeSettings()), REPEATS))
    _emit({"bench": "engine_frames", "resolution": name, "width": w, "height": h,
           "faces": len(matrices), "inline_mb": round(inline_bytes / 1e6, 1),
           "inline_merge_ms": round(1000 * inline_s, 1), "path_merge_ms": round(1000 * path_s, 1),
           "path_merge_uncompressed_ms": round(1000 * path_raw_s, 1),
           "inline_fps": round(1 / inline_s, 2), "path_fps": round(1 / path_s, 2),
           "echo_frame_ms": round(1000 * echo_s, 1),
           "merge_compute_ms": round(1000 * compute_s, 1),
           "protocol_share_of_inline_merge": round(echo_s / inline_s, 3),
           "protocol_share_of_compute": round(echo_s / compute_s, 3)})


def _swap_batching(client, sock, token, model_dir, from_numpy) -> None:
    """Crops a second through swap with one client, then with eight at once (batched)."""
    from faceplate_client.client import EngineClient

    rng = np.random.default_rng(0)
    crops = from_numpy(rng.uniform(0, 1, (1, 128, 128, 3)).astype(np.float32))
    params = {"model": model_dir, "identity": "b"}
    per_client = 12
    client.call("swap", params, {"crops": crops})
    one = sum(_timed(lambda: client.call("swap", params, {"crops": crops}), per_client))
    batches: list[int] = []

    def worker():
        with EngineClient(sock, token, autostart=False) as c:
            for _ in range(per_client):
                batches.append(c.call("swap", params, {"crops": crops}).params["batched_with"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eight = time.perf_counter() - start
    _emit({"bench": "engine_swap_batching", "clients": 8, "crop_size": 128,
           "crops_per_s_one_client": round(per_client / one, 2),
           "crops_per_s_eight_clients": round(8 * per_client / eight, 2),
           "mean_batch": round(statistics.mean(batches), 2)})


def _isolation_cost(isolated, tmp, model_dir, from_numpy) -> None:
    """Echo and 2K merge round trips: a --no-isolation engine against the default one."""
    from faceplate.io.images import read_image
    from faceplate_client.client import EngineClient

    folder = os.path.join(tmp, "inproc")
    os.makedirs(folder, mode=0o700)
    sock, token = os.path.join(folder, "engine.sock"), os.path.join(folder, "engine.token")
    command = [sys.executable, "-m", "faceplate.cli", "serve", "--socket", sock, "--token-file",
               token, "--log", os.path.join(folder, "engine.log"), "--max-message", "4096",
               "--no-isolation"]
    plain = EngineClient(sock, token, start_command=command, client_name="bench")
    try:
        plain.connect()
        while plain.status()["device"] == "starting":
            time.sleep(0.1)
        plate = os.path.join(tmp, "2K", "plate.1001.exr")
        if not os.path.exists(plate):
            from faceplate.samples import make_shot

            plate = make_shot("astronaut", os.path.join(tmp, "iso"), frames=1,
                              size=RESOLUTIONS.get("2K", (2048, 1080)),
                              face_px=270).path(1001)
        found = isolated.call("detect", {"path": plate, "backend": "dlib"})
        if not len(found.params["faces"]):
            _emit({"bench": "engine_isolation", "error": "no face detected"})
            return
        landmarks = found.arrays["landmarks"]
        matrices = isolated.call("align", {}, {"landmarks": landmarks}).arrays["matrices"]
        swapped = isolated.call("swap", {"path": plate, "model": model_dir, "identity": "b"},
                                {"matrices": matrices, "landmarks": landmarks})
        faces = {"faces": swapped.arrays["faces"], "masks": swapped.arrays["masks"],
                 "matrices": matrices, "landmarks": landmarks}
        image = read_image(plate)
        rgba = np.concatenate([image.rgb(), np.ones((*image.pixels.shape[:2], 1), np.float32)],
                              axis=-1)
        common = {"model": model_dir, "identity": "b", "colourspace": "ACEScg"}
        out = os.path.join(folder, "merged.exr")
        cases = {
            "echo": (lambda c: c.call("echo", {"data": {"frame": 1001}}), 300),
            "merge_inline": (lambda c: c.call("merge", common, {**faces,
                                                                "image": from_numpy(rgba)}),
                             max(15, REPEATS)),
            "merge_path": (lambda c: c.call("merge", {**common, "path": plate, "output": out,
                                                      "compression": "none"}, faces),
                           max(15, REPEATS)),
        }
        for op, (call, repeats) in cases.items():
            times: dict[str, list[float]] = {"in_process": [], "isolated": []}
            for name, c in (("in_process", plain), ("isolated", isolated)):
                for _ in range(2):  # warm up (model card, caches, the workers' arenas)
                    call(c)
            for _ in range(repeats):  # alternate, so a busy moment hits both alike
                for name, c in (("in_process", plain), ("isolated", isolated)):
                    times[name] += _timed(lambda c=c, call=call: call(c), 1)
            before, after = (statistics.median(times[k]) for k in ("in_process", "isolated"))
            _emit({"bench": "engine_isolation", "op": op, "resolution": "2K",
                   "requests": repeats, "in_process_ms": round(1000 * before, 2),
                   "isolated_ms": round(1000 * after, 2), "cost": round(after / before - 1, 3)})
    finally:
        try:
            plain.call("shutdown")
        except Exception as exc:  # noqa: BLE001 - best effort
            print(f"engine shutdown: {exc}", file=sys.stderr)
        plain.close()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
