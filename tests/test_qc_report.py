"""The shot QC report on a deliberately broken shot, and its page in a real browser.

The astronaut sample is extracted and converted for real (the CLI, a null swap into the
astronaut's own face set, so every clean frame is a faithful swap), then broken the two ways a
supervisor must catch: frames 1004–1005 get another person's face (Grace Hopper's, merged by
convert), and frames 1009–1011 hold frame 1008's merged picture while the actor moves on (a
frozen swap). ``faceplate report`` must fail the shot on exactly those frames.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from faceplate.convert.output_settings import OutputSettings
from faceplate.convert.pipeline import convert_shot
from faceplate.convert.swap import PassthroughModel
from faceplate.qc.thresholds import CHECKS
from faceplate.samples import make_shot, sample_swap
from faceplate_client import layout

CLEAN = (1001, 1002, 1003, 1007, 1008)
OTHER_FACE = (1004, 1005)
FROZEN = (1009, 1010, 1011)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def _faceplate(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faceplate.cli", *args], capture_output=True,
                          text=True, check=check, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          timeout=300)


class OtherPerson(PassthroughModel):
    """Draws Grace Hopper's face whatever it is given: a face the shot should never hold."""

    def swap(self, crops: np.ndarray, identity: str) -> tuple[np.ndarray, np.ndarray]:
        face, hull = sample_swap("grace_hopper", crops.shape[1])
        mask = hull.astype(np.float32) / max(float(hull.max()), 1.0)
        return (np.repeat(face[None], len(crops), 0).astype(np.float32),
                np.repeat(mask[None], len(crops), 0))


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("qc")
    make_shot("astronaut", str(root / "plate"), frames=12, size=(480, 320), face_px=150.0)
    plate, shot, merged = (str(root / "plate" / "plate.####.exr"), str(root / "shot"),
                           str(root / "comp" / "merged.####.exr"))
    _faceplate("extract", plate, "-o", shot, "--faceset", str(root / "sets" / "astronaut"),
               "--backend", "dlib")
    _faceplate("convert", plate, "--alignments", shot, "--null-swap", "--to", "astronaut",
               "-o", merged)
    convert_shot(plate, shot, OtherPerson(256, identities=["astronaut"]), "astronaut",
                 OutputSettings(merged, overwrite=True), frames=list(OTHER_FACE))
    for frame in FROZEN:
        shutil.copyfile(merged.replace("####", "1008"), merged.replace("####", str(frame)))
    result = _faceplate("report", shot, "--faceset", str(root / "sets" / "astronaut"),
                        check=False)
    return root / "shot", result


def test_report_fails_the_broken_frames_and_only_them(broken):
    shot, result = broken
    assert result.returncode == 1, result.stderr
    report = json.loads((shot / layout.REPORT_DIR / layout.REPORT_JSON).read_text())
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
    assert set(FROZEN) <= failing
    assert set(FROZEN) & _frames(checks["expression"]["fail_frames"])
    assert not set(CLEAN) & set().union(*flagged.values()), flagged
    frames = {f["frame"]: f for f in report["frames"]}
    assert all(frames[f]["expression"] < 0.05 for f in CLEAN)
    assert all(frames[f]["coverage"] is not None for f in CLEAN)
    assert report["frames_with_faces"] == 12
    assert [r["stage"] for r in report["runs"]] == ["extract", "convert"]
    assert report["runs"][-1]["command"].startswith("faceplate convert ")
    assert report["worst_frames"] and report["worst_frames"][0]["frame"] not in CLEAN
    for worst in report["worst_frames"]:
        assert (shot / layout.REPORT_DIR / worst["picture"]).is_file()
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
    page = (shot / layout.REPORT_DIR / layout.REPORT_PAGE).as_uri()
    browser = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
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
    result = _faceplate("report", str(tmp_path / "shot"), check=False)
    assert result.returncode == 2
    assert "no convert is recorded" in result.stderr and "Traceback" not in result.stderr
