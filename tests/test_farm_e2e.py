"""The whole farm story on a real sample shot, with no stand-ins: `openjd run` runs the bundle's
real commands (engine environment with `faceplate serve`, extract, chunked convert), each task
reports its progress as OpenJD's openjd_progress lines, the frames
match a direct run (within a half-float step), a lost frame is restored by re-running its
chunk, and the result publishes through pyblish."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from faceplate.convert.settings import MergeSettings
from faceplate.farm import engine_host, openjd
from faceplate.farm.job import ShotJob
from faceplate.io.images import read_image
from faceplate.model.card import ModelCard
from faceplate.model.store import create_model
from faceplate.publish.run import publish
from faceplate.samples import make_shot

pytestmark = pytest.mark.slow

BIN = os.path.dirname(sys.executable)
FACEPLATE = os.path.join(BIN, "faceplate")
FRAMES = "1001-1003"


def _run(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, (cmd, done.stdout[-4000:], done.stderr[-4000:])
    return done


def _frame(path: str):
    img = read_image(path)
    return img.channels, img.pixels, {k: v for k, v in img.metadata.items()
                                      if k.startswith("faceplate/")}


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    root = tmp_path_factory.mktemp("farm")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_RUNTIME_DIR": str(root / "runtime")}
    os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700)
    sample = make_shot("astronaut", str(root / "plate"), frames=3, size=(640, 360),
                       face_px=130.0)
    plate = sample.pattern.replace("%04d", "####")
    model = str(root / "model")
    create_model(model, ModelCard.for_resolution(["A", "B"], 64,
                                                 consent="test faces: public sample images"))
    # No colour match: an untrained model's nearly flat face makes Reinhard's std ratio blow up
    # the float16 swap cache's rounding, and the re-run test below reads that cache.
    look = MergeSettings(colour="none").to_dict()
    (root / "look.json").write_text(json.dumps(look))
    # The direct run a TD would type on a workstation.
    _run([FACEPLATE, "extract", plate, "-o", str(root / "direct"), "--frames", FRAMES], env)
    _run([FACEPLATE, "convert", plate, "--alignments", str(root / "direct"), "-m", model,
          "--to", "B", "-o", str(root / "direct_out" / "swap.####.exr"), "--frames", FRAMES,
          "--settings", str(root / "look.json")], env)
    # The same shot as a farm job, run by OpenJD's own local runner.
    job = ShotJob(str(root / "sh010"), plate, model, "B", str(root / "out" / "swap.####.exr"),
                  FRAMES, name="sh010", chunk_size=2, faceplate_cmd=FACEPLATE,
                  merge_settings=look)
    job.save()
    template = openjd.write_bundle(job, str(root / "bundle"))
    params = f"file://{root / 'bundle' / openjd.OPENJD_PARAMS}"
    log = _run([os.path.join(BIN, "openjd"), "run", template, "-p", params], env).stdout
    return {"root": root, "env": env, "job": job, "template": template, "params": params,
            "log": log}


def test_openjd_run_renders_the_same_frames_as_a_direct_run(farm):
    root = farm["root"]
    assert "Frames(CHUNK[INT]) = 1001-1002" in farm["log"]  # chunked as asked
    assert "Frames(CHUNK[INT]) = 1003" in farm["log"]
    for f in range(1001, 1004):
        channels, pixels, meta = _frame(str(root / "out" / f"swap.{f}.exr"))
        d_channels, d_pixels, d_meta = _frame(str(root / "direct_out" / f"swap.{f}.exr"))
        assert channels == d_channels and "facemask.face" in channels
        # Same frames within one half-float step (two separate processes may round a value
        # near 0.5 either way); the provenance is identical.
        assert np.abs(pixels - d_pixels).max() <= 1e-3
        assert np.abs(pixels - d_pixels).mean() < 1e-5
        assert meta == d_meta and meta["faceplate/synthetic"] == "1"


def test_openjd_run_shows_each_tasks_progress(farm):
    """The bundle sets FACEPLATE_PROGRESS=openjd: each task reports openjd_progress and
    openjd_status (Deadline Cloud's task progress), and the log has plain lines, no \\r."""
    log = farm["log"]
    assert "openjd_progress: 100.0" in log and "\r" not in log
    for status in ("extract 3/3 frames", "convert 2/2 frames", "convert 1/1 frames"):
        assert f"openjd_status: {status}, ETA 0:00" in log


def test_engine_environment_started_and_stopped_the_real_engine(farm):
    log = farm["log"]
    assert "openjd_env: FACEPLATE_SOCKET=" in log and "faceplate engine listening" in log
    assert "stopped" in log.split("Exiting Environment: FaceplateEngine", 1)[1]
    runtime = os.path.join(farm["env"]["XDG_RUNTIME_DIR"], "faceplate")
    assert glob.glob(os.path.join(runtime, "farm-*.serve.log"))  # it ran here...
    assert not glob.glob(os.path.join(runtime, "farm-*.sock"))  # ...and is gone
    assert not glob.glob(os.path.join(runtime, "farm-*.pid"))


def test_rerunning_a_chunk_restores_a_lost_frame_and_skips_good_ones(farm):
    out = farm["root"] / "out"
    kept = (out / "swap.1001.exr").stat().st_mtime_ns
    before = _frame(str(out / "swap.1002.exr"))
    os.remove(out / "swap.1002.exr")  # the task that wrote it "died"
    log = _run([os.path.join(BIN, "openjd"), "run", farm["template"], "-p", farm["params"],
                "--step", "Convert", "--no-run-dependencies", "-tp", "Frames=1001-1002"],
               farm["env"]).stdout
    assert "1 already done" in log
    assert (out / "swap.1001.exr").stat().st_mtime_ns == kept  # untouched
    after = _frame(str(out / "swap.1002.exr"))
    # The re-run takes the face from the swap cache (float16): equal within its rounding.
    assert after[0] == before[0] and after[2] == before[2]
    assert np.abs(after[1] - before[1]).max() < 2e-3


def test_farm_output_publishes(farm):
    report = publish([farm["job"].shot_dir], str(farm["root"] / "publish"))
    assert report.ok, report.failures
    with open(os.path.join(report.published["sh010"], "manifest.json")) as fh:
        manifest = json.load(fh)
    frames = sorted(name for name in manifest["files"] if name.endswith(".exr"))
    assert frames == [f"swap.{f}.exr" for f in (1001, 1002, 1003)]


def test_publish_renders_missing_frames_through_the_engine(farm, monkeypatch):
    """`faceplate publish --render`: the engine's convert_shot job fills the gap, then the
    frame checks pass and the shot publishes."""
    out = farm["root"] / "out"
    before = _frame(str(out / "swap.1003.exr"))
    os.remove(out / "swap.1003.exr")
    sock = engine_host.start(os.path.join(farm["env"]["XDG_RUNTIME_DIR"], "publish.sock"))
    monkeypatch.setenv("FACEPLATE_SOCKET", sock)
    try:
        report = publish([farm["job"].shot_dir], str(farm["root"] / "publish"), render=True)
    finally:
        engine_host.stop(sock)
    assert report.ok, report.failures
    assert any(r.startswith("Render missing frames through the engine") for r in report.ran)
    after = _frame(str(out / "swap.1003.exr"))
    assert after[0] == before[0] and np.abs(after[1] - before[1]).max() <= 2e-3
    assert after[2]["faceplate/model"] == before[2]["faceplate/model"]
