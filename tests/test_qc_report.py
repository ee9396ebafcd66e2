"""The shot QC report on a deliberately broken shot, and its page in a real browser.

The shot (faceplate.samples.make_faulty_shot) is the astronaut sample extracted and converted
through the CLI as a faithful null swap, then broken the two ways a supervisor must catch:
another person's face on frames 1004–1005, and a frozen swap on 1009–1011 (frame 1008's merged
picture held while the actor moves on). ``faceplate report`` must fail the shot on exactly
those frames.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from faceplate.qc.page import HEADLESS_CHROMIUM
from faceplate.qc.thresholds import CHECKS
from faceplate.samples import make_faulty_shot, make_shot
from faceplate_client import layout


def _faceplate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faceplate.cli", *args], check=False,
                          capture_output=True,
                          text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    shot = make_faulty_shot(str(tmp_path_factory.mktemp("qc")))
    return shot, _faceplate("report", shot.shot_dir, "--faceset", shot.faceset)


def test_report_fails_the_broken_frames_and_only_them(broken):
    shot, result = broken
    assert result.returncode == 1, result.stderr
    folder = os.path.join(shot.shot_dir, layout.REPORT_DIR)
    with open(os.path.join(folder, layout.REPORT_JSON)) as fh:
        report = json.load(fh)
    assert report["verdict"] == "fail"
    checks = {c["check"]: c for c in report["checks"]}
    assert set(checks) == {"delivered", *(c.name for c in CHECKS)}
    assert checks["delivered"]["status"] == "pass"
    # Another person's face: the swap's identity leaves the shot's own, on those frames only.
    assert checks["consistency"]["fail_frames"] == "1004-1005"
    flagged: dict[str, set[int]] = {}
    for c in checks.values():
        for kind in ("fail_frames", "warn_frames"):
            for frame in _frames(c[kind]):
                flagged.setdefault(c["check"], set()).add(frame)
    failing = {frame for c in checks.values() for frame in _frames(c["fail_frames"])}
    # The frozen swap: it stops following the actor (flicker, and the landmarks drift off).
    assert set(shot.frozen) <= failing
    assert set(shot.frozen) & _frames(checks["expression"]["fail_frames"])
    assert not set(shot.clean) & set().union(*flagged.values()), flagged
    frames = {f["frame"]: f for f in report["frames"]}
    assert all(frames[f]["expression"] < 0.05 for f in shot.clean)
    assert all(frames[f]["coverage"] is not None for f in shot.clean)
    assert report["frames_with_faces"] == 12
    assert [r["stage"] for r in report["runs"]] == ["extract", "convert"]
    assert report["runs"][-1]["command"].startswith("faceplate convert ")
    assert report["worst_frames"] and report["worst_frames"][0]["frame"] not in shot.clean
    for worst in report["worst_frames"]:
        assert os.path.isfile(os.path.join(folder, worst["picture"]))
    assert "failing frames 1004-1005" in result.stdout


def _frames(text: str) -> set[int]:
    from faceplate_client.frames import parse_frame_range

    return set(parse_frame_range(text)) if text else set()


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (.ci/run does)")
        pytest.skip("no chromium on this machine (apt install chromium)")
    return found


def test_page_in_headless_chromium(broken, tmp_path):
    shot, _ = broken
    page = "file://" + os.path.join(shot.shot_dir, layout.REPORT_DIR, layout.REPORT_PAGE)
    browser = [_chromium(), *HEADLESS_CHROMIUM, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*browser, "--dump-dom", page], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    table = dom[dom.index('id="verdicts"'):]
    table = table[:table.index("</table>")]
    titles = re.findall(r"<td><b>([^<]+)</b>", table)
    assert titles == ["Delivered", *(c.title for c in CHECKS)]
    assert table.count(">FAIL<") >= 3
    shot_png = tmp_path / "page.png"
    subprocess.run([*browser, "--window-size=1200,4000", f"--screenshot={shot_png}", page],
                   capture_output=True, timeout=120, check=True)
    from faceplate.io.images import read_image

    pixels = read_image(str(shot_png)).rgb()
    assert pixels.shape[:2] == (4000, 1200)
    assert pixels.std() > 0.1  # text, tables and pictures, not a blank page
    # The pictures beside the page loaded (a missing one leaves an empty box): the curves'
    # blue lines, and the worst frames' strips with their black borders and labels.
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    assert ((b > 0.6) & (r < 0.2) & (g < 0.5)).sum() > 2000
    assert (pixels.max(-1) < 0.05).mean() > 0.01


def test_report_needs_a_convert(tmp_path):
    from faceplate.samples import write_true_alignments

    sample = make_shot("astronaut", str(tmp_path / "plate"), frames=2, size=(320, 240),
                       face_px=110.0)
    write_true_alignments(sample, str(tmp_path / "shot"))
    result = _faceplate("report", str(tmp_path / "shot"))
    assert result.returncode == 2
    assert "no convert is recorded" in result.stderr and "Traceback" not in result.stderr


def test_farm_chunks_recording_at_once_lose_no_entry(tmp_path):
    """Chunks of one convert run in parallel on a farm; each adds to the shot's run log."""
    code = ("import sys; from faceplate_client.shot_runs import record_run\n"
            "for i in range(25): record_run(sys.argv[1], 'convert', f'chunk {sys.argv[2]} {i}')")
    workers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(n)])
               for n in range(4)]
    assert all(w.wait(timeout=120) == 0 for w in workers)
    from faceplate.shot_log import runs

    found = runs(str(tmp_path))
    assert sorted(r["command"] for r in found) == sorted(
        f"chunk {n} {i}" for n in range(4) for i in range(25))


def test_a_damaged_frame_and_nan_pixels_are_findings_not_a_crash(broken, tmp_path):
    """The plate's NaNs under the face (frame 1002) and a truncated merged frame (1003): the
    report still measures every other frame, the damaged one fails Delivered."""
    from faceplate.io.images import read_image, write_image

    shot, _ = broken
    root = os.path.dirname(shot.shot_dir)
    comp, plate = tmp_path / "comp", tmp_path / "plate"
    shutil.copytree(os.path.join(root, "comp"), comp)
    shutil.copytree(os.path.join(root, "plate"), plate)
    frame = read_image(str(plate / "plate.1002.exr"))
    pixels = frame.pixels.copy()
    pixels[100:200, 180:300] = np.nan  # across the face
    write_image(str(plate / "plate.1002.exr"), pixels, frame.channels, pixel_type="half")
    damaged = comp / "merged.1003.exr"
    damaged.write_bytes(damaged.read_bytes()[:2000])
    result = _faceplate("report", shot.shot_dir, "--merged", str(comp / "merged.####.exr"),
                        "--plate", str(plate / "plate.####.exr"), "--faceset", shot.faceset,
                        "-o", str(tmp_path / "report"))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    report = json.loads((tmp_path / "report" / layout.REPORT_JSON).read_text())
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["delivered"]["fail_frames"] == "1003"
    frames = {f["frame"]: f for f in report["frames"]}
    assert frames[1003]["status"].startswith("unreadable: ")
    assert all(frames[1002][name] is not None and np.isfinite(frames[1002][name])
               for name in ("confidence", "identity", "expression", "consistency"))


def test_a_run_log_from_a_newer_faceplate_is_left_alone_and_fails_no_stage(tmp_path, caplog):
    from faceplate.shot_log import record

    log = tmp_path / layout.RUNS_FILE
    newer = json.dumps({"schema": layout.RUNS_SCHEMA, "version": layout.RUNS_VERSION + 1,
                        "runs": []})
    log.write_text(newer)
    record(str(tmp_path), "convert", "faceplate convert ...")
    assert log.read_text() == newer
    assert "could not add to the run log" in caplog.text
