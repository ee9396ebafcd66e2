"""A TD turns a shot into farm jobs: an OpenJD bundle that `openjd check` accepts and `openjd run`
runs, an OpenCue spec, and the worker-side engine that lives for one farm session."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml
from faceplate.cli import main
from faceplate.errors import FaceplateError
from faceplate.farm import engine_host, opencue, openjd
from faceplate.farm.job import JOB_FILE, ShotJob
from faceplate.io.images import read_image
from faceplate.io.sequence import parse_frame_range

BIN = os.path.dirname(sys.executable)
OPENJD = os.path.join(BIN, "openjd")


def _job(tmp_path, **kw) -> ShotJob:
    base = {"shot_dir": str(tmp_path / "sh010"), "plate": str(tmp_path / "plate" / "plate.####.exr"),
                "model_dir": str(tmp_path / "model"), "identity": "B",
                "output": str(tmp_path / "out" / "swap.####.exr"), "frames": "1001-1010", "chunk_size": 4}
    base.update(kw)
    return ShotJob(**base)


def _openjd(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([OPENJD, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, check=False)


@pytest.mark.parametrize("variant", ["convert", "train+nuke", "occlusion"])
def test_bundle_passes_openjd_check(tmp_path, variant):
    extra = {"occlusion": True, "merge_settings": {"mask": "occlusion"}, "qc": True} \
        if variant == "occlusion" else {} if variant == "convert" else {
        "facesets": {"A": str(tmp_path / "fa"), "B": str(tmp_path / "fb")}, "consent": "both agreed",
        "train_steps": 50, "nuke_script": str(tmp_path / "comp.nk"), "nuke_write": "Write1",
        "torch_home": str(tmp_path / "weights"), "ocio": str(tmp_path / "config.ocio"),
        "gpus": 1}
    job = _job(tmp_path, **extra)
    template = openjd.write_bundle(job, str(tmp_path / "bundle"))
    checked = _openjd("check", template)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "passes validation" in checked.stdout

    doc = yaml.safe_load(Path(template).read_text())
    assert doc["extensions"] == ["TASK_CHUNKING"]
    steps = {s["name"]: s for s in doc["steps"]}
    render = "NukeRender" if variant == "train+nuke" else "Convert"
    assert list(steps) == {"convert": ["Extract", "Convert"],
                           "train+nuke": ["Extract", "Train", "NukeRender"],
                           "occlusion": ["Extract", "OcclusionPredict", "Convert",
                                         "QCReport"]}[variant]
    chunk = steps[render]["parameterSpace"]["taskParameterDefinitions"][0]
    assert chunk["type"] == "CHUNK[INT]" and chunk["chunks"]["rangeConstraint"] == "CONTIGUOUS"
    assert "parameterSpace" not in steps["Extract"]  # tracking needs the whole shot in one task
    deps = [d["dependsOn"] for d in steps[render]["dependencies"]]
    assert deps == {"convert": ["Extract"], "train+nuke": ["Extract", "Train"],
                    "occlusion": ["Extract", "OcclusionPredict"]}[variant]
    gpu = {"amounts": [{"name": "amount.worker.gpu", "min": 1}]}
    assert all(s.get("hostRequirements") == (gpu if variant == "train+nuke" else None)
               for s in doc["steps"])
    model_flow = next(p for p in doc["parameterDefinitions"] if p["name"] == "ModelDir")
    assert model_flow["dataFlow"] == ("INOUT" if variant == "train+nuke" else "IN")
    envs = {e["name"]: e for e in doc["jobEnvironments"]}
    engine = envs["FaceplateEngine"]["script"]["actions"]
    assert engine["onEnter"]["args"] == ["farm", "engine", "start"]
    assert engine["onExit"]["args"] == ["farm", "engine", "stop"]
    if variant == "occlusion":
        predict = steps["OcclusionPredict"]
        assert predict["script"]["actions"]["onRun"]["args"][:3] == [
            "occlusion", "predict", "{{Param.ShotDir}}"]
        assert [d["dependsOn"] for d in predict["dependencies"]] == ["Extract"]
        qc = steps["QCReport"]  # one task over the whole shot, after every frame is rendered
        assert "parameterSpace" not in qc
        assert [d["dependsOn"] for d in qc["dependencies"]] == ["Convert"]
        assert qc["script"]["actions"]["onRun"]["args"][:4] == [
            "report", "{{Param.ShotDir}}", "--merged", "{{Param.Output}}"]
    if variant == "train+nuke":
        assert envs["FaceplateSettings"]["variables"] == {"TORCH_HOME": "{{Param.TorchHome}}",
                                                          "OCIO": "{{Param.OcioConfig}}"}
        nuke = steps["NukeRender"]["script"]["actions"]["onRun"]
        assert nuke["args"][:4] == ["-x", "-X", "{{Param.NukeWrite}}", "-F"]

    # Every parameter without a default has a value, in both value files, and nothing extra.
    names = {p["name"] for p in doc["parameterDefinitions"]}
    flat = json.loads((tmp_path / "bundle" / openjd.OPENJD_PARAMS).read_text())
    deadline = yaml.safe_load((tmp_path / "bundle" / "parameter_values.yaml").read_text())
    assert set(flat) == names
    assert {p["name"]: p["value"] for p in deadline["parameterValues"]} == flat
    for name in os.listdir(tmp_path / "bundle"):  # readable by the farm's job user
        assert os.stat(tmp_path / "bundle" / name).st_mode & 0o044 == 0o044
    refs = yaml.safe_load((tmp_path / "bundle" / "asset_references.yaml").read_text())["assetReferences"]
    assert str(tmp_path / "out") in refs["outputs"]["directories"]


def test_openjd_run_chunks_frames_and_shares_the_session_engine(tmp_path):
    """`openjd run` on the real bundle with a recording stand-in for the worker's `faceplate`:
    each chunk gets its contiguous frames, and every task sees the socket the engine
    environment exported. (The real-commands run is test_farm_e2e.py.)"""
    log = tmp_path / "calls.jsonl"
    recorder = tmp_path / "faceplate"
    recorder.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps([sys.argv[1:], "
        "os.environ.get('FACEPLATE_SOCKET'), os.environ.get('TORCH_HOME')]) + '\\n')\n"
        "if sys.argv[1:4] == ['farm', 'engine', 'start']:\n"
        "    print('openjd_env: FACEPLATE_SOCKET=/tmp/fp-test.sock')\n")
    recorder.chmod(0o755)
    job = _job(tmp_path, faceplate_cmd=str(recorder), torch_home=str(tmp_path / "weights"))
    template = openjd.write_bundle(job, str(tmp_path / "bundle"))
    params = f"file://{tmp_path / 'bundle' / openjd.OPENJD_PARAMS}"
    ran = _openjd("run", template, "-p", params, cwd=str(tmp_path))
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    argvs = [c[0] for c in calls]
    assert argvs[0] == ["farm", "engine", "start"] and argvs[-1] == ["farm", "engine", "stop"]
    assert argvs[1][:6] == ["farm", "step", "--ok", "0,1", "--", job.faceplate_cmd]
    assert argvs[1][6:8] == ["extract", job.plate]
    assert argvs[1][-2:] == ["--frames", "1001-1010"]
    chunks = [a[a.index("--frames") + 1] for a in argvs if a[0] == "convert"]
    covered = [parse_frame_range(c) for c in chunks]  # OpenJD balances chunk sizes
    assert [f for c in covered for f in c] == list(range(1001, 1011)) and max(map(len, covered)) <= 4
    assert all(c == list(range(c[0], c[-1] + 1)) for c in covered) and len(chunks) == 3
    assert all(sock == "/tmp/fp-test.sock" for _, sock, _ in calls[1:])
    assert all(th == str(tmp_path / "weights") for *_, th in calls)


def test_opencue_spec_serialises_same_steps(tmp_path):
    job = _job(tmp_path, facesets={"A": "/sets/a", "B": "/sets/b"}, gpus=1,
               consent="actor B consented, contract 12", torch_home="/studio/weights",
               merge_settings={"colour": "histogram", "blur": 4.0})
    xml = opencue.serialize(job, show="demo", shot="sh010")
    root = ET.fromstring(xml.split("?>", 1)[1].split(">", 1)[1])  # past <?xml?> and DOCTYPE
    assert root.findtext("show") == "demo" and root.findtext("shot") == "sh010"
    jobel = root.find("job")
    assert jobel.get("name") == job.name
    assert {k.get("name"): k.text for k in jobel.find("env")} == {"TORCH_HOME": "/studio/weights"}
    layers = {layer.get("name"): layer for layer in jobel.find("layers")}
    assert list(layers) == ["Extract", "Train", "Convert"]
    convert = layers["Convert"]
    assert convert.findtext("range") == "1001-1010" and convert.findtext("chunk") == "4"
    assert all(layer.findtext("gpus") == "1" for layer in layers.values())
    argv = shlex.split(convert.findtext("cmd"))
    assert argv[argv.index("--frames") + 1] == "#FRAME_START#-#FRAME_END#"
    assert argv[-2:] == ["--settings", f"{job.shot_dir}/merge_settings.json"]
    train = shlex.split(layers["Train"].findtext("cmd"))
    assert train[train.index("--consent") + 1] == "actor B consented, contract 12"
    assert layers["Extract"].findtext("range") == "1001"  # one task for the whole shot
    depends = {(d.findtext("deplayer"), d.findtext("onlayer")) for d in root.find("depends")}
    assert depends == {("Convert", "Extract"), ("Convert", "Train")}


def test_nuke_layer_runs_with_an_engine_on_opencue(tmp_path):
    job = _job(tmp_path, nuke_script="/shots/comp.nk", nuke_write="Write1", extract=False)
    xml = opencue.serialize(job)
    cmd = shlex.split(ET.fromstring(xml.split("?>", 1)[1].split(">", 1)[1])
                      .find("job/layers/layer/cmd").text)
    assert cmd[:5] == ["faceplate", "farm", "engine", "run", "--"]
    assert cmd[5:] == ["nuke", "-x", "-X", "Write1", "-F", "#FRAME_START#-#FRAME_END#",
                       "/shots/comp.nk"]


def test_cli_writes_bundle_and_rebundles_from_job_file(tmp_path, capsys):
    shot = tmp_path / "sh010"
    argv = ["farm", "bundle", str(shot), "--plate", str(tmp_path / "plate.####.exr"),
            "-m", str(tmp_path / "model"), "--to", "B", "--output", str(tmp_path / "o.####.exr"),
            "--frames", "1001-1020", "--chunk", "5"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "deadline bundle submit" in out
    assert "Convert: 4 task(s) 1001-1005, 1006-1010, 1011-1015, 1016-1020" in out
    picture = read_image(str(shot / "farm" / "openjd" / "job.png"))
    rgb = (picture.rgb() * 255).round()
    green = (np.abs(rgb - [84, 162, 75]).max(axis=-1) < 30)  # the Convert row's boxes
    rows = np.flatnonzero(green.any(axis=1))
    runs = np.diff(green[rows[-1] - 4].astype(int))  # a row below the labels
    assert (runs == 1).sum() == 4  # four separate task boxes along the frames
    saved = ShotJob.load(str(shot))
    assert saved.frames == "1001-1020" and saved.chunk_size == 5
    # Re-bundle with only the change: the rest comes from faceplate_job.json.
    settings = tmp_path / "look.json"
    settings.write_text(json.dumps({"colour": "histogram", "blur": 3.0}))
    assert main(["farm", "bundle", str(shot), "--chunk", "8", "--settings", str(settings)]) == 0
    assert json.loads((shot / "merge_settings.json").read_text())["colour"] == "histogram"
    values = json.loads((shot / "farm" / "openjd" / openjd.OPENJD_PARAMS).read_text())
    assert values["ChunkSize"] == 8 and values["Identity"] == "B"
    assert main(["farm", "opencue", str(shot)]) == 0
    assert (shot / "farm" / "opencue.xml").read_text().startswith("<?xml")
    assert (shot / JOB_FILE).is_file()


@pytest.mark.parametrize("change, message", [
    ({"frames": "1010-1001"}, "backwards"),
    ({"output": "/out/swap.exr"}, "frame number pattern"),
    ({"chunk_size": 0}, "chunk size"),
    ({"nuke_script": "/comp.nk"}, "Write node"),
    ({"facesets": {"A": "/a", "B": "/b"}}, "consent"),
    ({"facesets": {"A": "/a", "C": "/c"}, "consent": "ok"}, "no face set"),
])
def test_bad_jobs_are_refused_with_what_to_do(tmp_path, change, message):
    with pytest.raises(FaceplateError, match=message):
        _job(tmp_path, **change).validate()


def test_cli_refuses_an_identity_the_model_lacks_and_warns_of_missing_paths(tmp_path, capsys):
    from faceplate.model.card import ModelCard

    model = tmp_path / "model"
    ModelCard.for_resolution(["A", "B"], 64).save(str(model / "card.json"))
    argv = ["farm", "bundle", str(tmp_path / "sh"), "--plate", str(tmp_path / "p.####.exr"),
            "-m", str(model), "--output", str(tmp_path / "o.####.exr"), "--frames", "1-4"]
    assert main([*argv, "--to", "C"]) == 2
    assert "has no identity 'C'" in capsys.readouterr().err
    assert main([*argv, "--to", "B"]) == 0
    assert "warning: no plate frames" in capsys.readouterr().err


def test_cli_says_which_flags_are_missing(tmp_path, capsys):
    assert main(["farm", "bundle", str(tmp_path / "new"), "--plate", "p.####.exr"]) == 2
    err = capsys.readouterr().err
    assert "--model" in err and "--to" in err and "Traceback" not in err


STAND_IN_SERVER = """
import os, signal, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(os.environ["FACEPLATE_SOCKET"]); s.listen(4)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    s.accept()[0].close()
"""


def test_engine_host_starts_in_background_and_stops(tmp_path):
    """Process management on a worker: the engine outlives `start`, `stop` ends exactly it.
    (A stand-in listener keeps this test fast; test_farm_e2e.py starts the real engine.)"""
    sock = str(tmp_path / "e.sock")
    engine_host.start(sock, timeout_s=30, command=[sys.executable, "-c", STAND_IN_SERVER])
    pid = int(Path(sock + ".pid").read_text())
    os.kill(pid, 0)  # running
    assert engine_host.stop(sock) is True
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not os.path.exists(sock + ".pid")
    assert engine_host.stop(sock) is False  # nothing of ours left to stop


def test_engine_that_dies_at_start_says_where_its_log_is(tmp_path):
    with pytest.raises(FaceplateError, match=r"exited with code 3.*log"):
        engine_host.start(str(tmp_path / "e.sock"), timeout_s=30,
                          command=[sys.executable, "-c", "raise SystemExit(3)"])


def test_step_commands_parse_with_the_real_subcommands(tmp_path):
    """Every command a farm task runs is accepted by that faceplate subcommand's own parser, so
    a renamed flag breaks this test, not a farm."""
    from faceplate.cli import build_parser
    from faceplate.farm.steps import literal_values, plan

    job = _job(tmp_path, facesets={"A": "/sets/a", "B": "/sets/b"}, consent="ok",
               train_steps=100, colourspace="ACEScg", merge_settings={"colour": "none"},
               occlusion=True, qc=True)
    steps = plan(job, literal_values(job), "1001-1004")
    assert [s.name for s in steps][-1] == "QCReport" and steps[-1].depends_on == ("Convert",)
    for step in steps:
        argv = list(step.argv)
        if argv[1:3] == ["farm", "step"]:  # the exit-code wrapper, then the real command
            wrapper = build_parser(only="farm").parse_args(argv[1:argv.index("--")])
            assert wrapper.ok == "0,1"
            argv = argv[argv.index("--") + 1:]
        assert argv[0] == "faceplate"
        args = build_parser(only=argv[1]).parse_args(argv[1:])
        assert args.command == argv[1]


def test_engine_run_wraps_a_command_with_a_live_engine(tmp_path):
    """OpenCue's form (no session environments): start the real engine, run, shut it down."""
    probe = ("import os; from faceplate_client.client import EngineClient; "
             "c = EngineClient(autostart=False); print('VERSION', c.hello()['version'])")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run([os.path.join(BIN, "faceplate"), "farm", "engine", "run", "--",
                           sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "VERSION 0." in done.stdout
    leftovers = os.listdir(tmp_path / "faceplate")
    assert not [n for n in leftovers if n.endswith((".sock", ".pid", ".token"))], leftovers
