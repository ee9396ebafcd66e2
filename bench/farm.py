"""What a farm task costs besides its frames, and what publish checks cost per frame.

Prints one JSON object:
- engine_start_s / engine_stop_s: the OpenJD session environment (`faceplate farm engine`);
- convert_task_overhead_s: a Convert task whose frames are all done (process start, model load,
  skip checks) against convert_frame_s, the cost of one more frame; chunk_for_10pct_overhead is
  the smallest chunk whose fixed cost stays under a tenth of the task;
- openjd_task_overhead_s: what `openjd run` adds per task around a command that does nothing;
- exr_check_ms vs exr_decode_ms: the publish's stdlib header/chunk check against a full
  OpenImageIO decode of the same 1080p frame, and their ratio.
Compare numbers within one run only: the machine is shared.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from faceplate.farm import engine_host, openjd
from faceplate.farm.job import ShotJob
from faceplate.io.images import is_complete_image, write_image
from faceplate.model.card import ModelCard
from faceplate.model.store import create_model
from faceplate.publish import hostside
from faceplate.samples import make_shot

BIN = os.path.dirname(sys.executable)
read_exr = hostside.exr.read_exr  # the publish's standard-library EXR check


def _timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out: dict[str, object] = {"bench": "farm", "cpu_threads": 1}
    with tempfile.TemporaryDirectory() as root:
        env["XDG_RUNTIME_DIR"] = root
        t = time.perf_counter()
        sock = engine_host.start(os.path.join(root, "bench.sock"))
        out["engine_start_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        engine_host.stop(sock)
        out["engine_stop_s"] = round(time.perf_counter() - t, 3)

        frames = 4
        shot = make_shot("astronaut", os.path.join(root, "plate"), frames=frames,
                         size=(640, 360), face_px=130.0)
        plate = shot.pattern.replace("%04d", "####")
        model = os.path.join(root, "model")
        create_model(model, ModelCard.for_resolution(["A", "B"], 64, consent="bench"))
        faceplate = os.path.join(BIN, "faceplate")
        shot_dir = os.path.join(root, "shot")
        _timed([faceplate, "extract", plate, "-o", shot_dir], env)
        convert = [faceplate, "convert", plate, "--alignments", shot_dir, "-m", model, "--to",
                   "B", "-o", os.path.join(root, "out", "swap.####.exr"), "--no-cache"]
        one = _timed(convert + ["--frames", "1001"], env)
        rest = _timed(convert + ["--frames", f"1001-{1000 + frames}"], env)  # 1001 is done
        skip = _timed(convert + ["--frames", f"1001-{1000 + frames}"], env)  # all done
        per_frame = max((rest - skip) / (frames - 1), 1e-3)
        out["convert_task_overhead_s"] = round(skip, 2)
        out["convert_first_frame_task_s"] = round(one, 2)
        out["convert_frame_s"] = round(per_frame, 3)
        out["chunk_for_10pct_overhead"] = math.ceil(9 * skip / per_frame)

        job = ShotJob(shot_dir, plate, model, "B", os.path.join(root, "o", "x.####.exr"),
                      "1-40", chunk_size=1, faceplate_cmd="true", extract=False)
        template = openjd.write_bundle(job, os.path.join(root, "bundle"))
        tasks = 40
        total = _timed([os.path.join(BIN, "openjd"), "run", template, "-p",
                        f"file://{root}/bundle/{openjd.OPENJD_PARAMS}"], env)
        out["openjd_task_overhead_s"] = round(total / tasks, 4)

        frame = os.path.join(root, "hd.exr")
        channels = ["R", "G", "B", "A", "facemask.face", "facemask.learned", "facemask.hull"]
        write_image(frame, np.random.default_rng(0).random((1080, 1920, 7), np.float32),
                    channels, {"faceplate/model": "bench"})
        reps = 20
        t = time.perf_counter()
        for _ in range(reps):
            assert read_exr(frame).complete
        check = (time.perf_counter() - t) / reps
        t = time.perf_counter()
        for _ in range(reps // 4):
            assert is_complete_image(frame)
        decode = (time.perf_counter() - t) / (reps // 4)
        out["exr_check_ms"] = round(1000 * check, 3)
        out["exr_decode_ms"] = round(1000 * decode, 2)
        out["exr_decode_over_check"] = round(decode / check, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
