"""A newcomer's story: one command runs the whole product on the bundled sample shot.

The shortened demo (a few frames, seconds of training) goes through a real engine process on a
real socket, and leaves everything the README promises: merged EXRs with the facemask layer and
provenance, a contact sheet, the training preview and loss plot, alignments and a Nuke script.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from faceplate.convert.writer import OUTPUT_CHANNELS
from faceplate.io.images import read_image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "nuke_plugin"))
from faceplate_nuke.registry import NODES


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-m", "faceplate.cli", "demo", "-o", str(out),
                           "--frames", "6", "--minutes", "0.25"],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_demo_writes_merged_exrs_with_mask_layer_and_provenance(demo):
    out, _ = demo
    merged = sorted((out / "comp").glob("merged.*.exr"))
    assert [p.name for p in merged] == [f"merged.{f}.exr" for f in range(1001, 1007)]
    plate = read_image(str(out / "plate" / "astronaut.1003.exr"))
    img = read_image(str(merged[2]))
    # The sample plate is RGB: the plate's channels, facemask, faceregion, faceraw, facest.
    assert set(OUTPUT_CHANNELS) - {"A"} == set(img.channels)
    assert 0 < float(img.metadata["faceplate/confidence"]) <= 1
    assert img.metadata["faceplate/synthetic"] == "1"
    assert "B" in img.metadata["faceplate/identities"]
    face = img.channel("facemask.face")
    assert 0.01 < (face > 0.5).mean() < 0.5  # a face-sized matte, not empty, not the frame
    changed = np.abs(img.rgb() - plate.rgb()).max(axis=-1) > 1e-3
    assert changed[face > 0.5].mean() > 0.5  # the face was replaced ...
    assert not changed[face == 0].any()  # ... and nothing else was touched


def test_demo_leaves_pictures_and_a_summary(demo):
    out, proc = demo
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["timings_s"]) >= {"sample", "extract", "train", "convert", "report",
                                         "review"}
    report = json.loads((out / "shot" / "report" / "report.json").read_text())
    assert report["verdict"] == summary["results"]["report"]["verdict"]
    assert report["model"]["target face set"].endswith("facesets/B")  # from the model card
    assert all(f["identity"] is not None for f in report["frames"] if f["faces"])
    assert summary["outputs"]["qc_report"].endswith("index.html")
    # The commands that made the shot, through the engine: the shot's and the model's logs.
    assert [r["stage"] for r in report["runs"]] == ["extract", "train", "convert"]
    assert all(r["command"].startswith("engine op ") for r in report["runs"])
    for key in ("contact_sheet", "training_preview", "loss_plot"):
        picture = read_image(summary["outputs"][key])
        assert picture.width >= 200 and picture.rgb().std() > 0.02  # real content, not blank
    assert "contact_sheet.png" in proc.stdout and "Stage times" in proc.stdout
    assert (out / "shot" / "alignments.json").is_file()


def test_demo_nuke_script_uses_the_gizmos_real_knobs(demo):
    out, _ = demo
    text = (out / "demo.nk").read_text()
    for cls in ("FaceDetect", "FaceAlign", "FaceSwap", "FaceMerge"):
        block = text.split(f"\n{cls} {{\n", 1)[1].split("\n}", 1)[0]
        knobs = {line.split()[0] for line in block.splitlines() if line.strip()}
        known = {k.name for k in NODES[cls].knobs} | {"name", "xpos", "ypos", "inputs"}
        assert knobs <= known, f"{cls} knobs {knobs - known} do not exist on the gizmo"
