"""Progress that reads well everywhere: a bar on a terminal, one plain line per 5 % in a log
(never a ``\\r``), and OpenJD's ``openjd_progress``/``openjd_status`` lines under a farm."""

import io
import os
import re
import subprocess
import sys

import pytest
from faceplate import progress as progress_mod
from faceplate.demo import _progress_printer
from faceplate.progress import MODE_ENV, Progress, progress_mode
from faceplate.samples import make_shot, write_true_alignments
from test_train_data import sample_facesets
from test_train_process import TINY_ARGS

# A line: stage, done/total, percent, rate, ETA and elapsed time.
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  (\w+)  (\d+)/(\d+) (\w+)  (\d+)%  "
                  r"[\d.]+ \w+/s  ETA (\d+:\d\d|--)  elapsed \d+:\d\d")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def env(monkeypatch):
    """No progress setting from the calling shell or an OpenJD session."""
    monkeypatch.delenv(MODE_ENV, raising=False)
    monkeypatch.delenv("OPENJD_SESSION_WORKING_DIR", raising=False)
    return monkeypatch


def _lines(text: str) -> list[re.Match]:
    found = [LINE.match(line) for line in text.splitlines()]
    return [m for m in found if m]


def test_the_mode_follows_the_stream_unless_a_td_names_one():
    assert progress_mode(Terminal(), {}) == "bar"
    assert progress_mode(io.StringIO(), {}) == "lines"
    assert progress_mode(io.StringIO(), {"OPENJD_SESSION_WORKING_DIR": "/tmp/s"}) == "openjd"
    for mode in ("bar", "lines", "openjd", "none"):
        assert progress_mode(io.StringIO(), {MODE_ENV: mode.upper()}) == mode
    assert progress_mode(Terminal(), {MODE_ENV: "fancy"}) == "bar"  # unknown: as if unset


def test_a_log_gets_one_line_per_five_percent_and_a_skipped_frame_on_its_own(env):
    stream, events = io.StringIO(), []
    p = Progress("convert", 100, "frames", events.append, stream)
    for i in range(100):
        p.advance(message=f"{1001 + i} swapped")
        if i == 41:
            p.note("frame 1042: skipped (damaged file)")
    text = stream.getvalue()
    assert "\r" not in text and len(events) == 100  # the listener sees every event
    shown = _lines(text)
    assert [int(m[5]) for m in shown] == [1] + list(range(5, 101, 5))  # the first, each 5 %
    assert "100/100 frames  100%" in shown[-1][0] and shown[-1].string.endswith("1100 swapped")
    assert "\nframe 1042: skipped (damaged file)\n" in text
    p.advance()  # after the end: nothing more
    assert len(_lines(stream.getvalue())) == 21


def test_openjd_mode_adds_progress_and_status_lines_on_stdout(env, capsys):
    env.setenv(MODE_ENV, "openjd")
    stream = io.StringIO()
    p = Progress("extract", 40, "frames", stream=stream)
    for _ in range(40):
        p.advance()
    out = capsys.readouterr().out.splitlines()
    progress = [float(line.split(": ")[1]) for line in out if line.startswith("openjd_progress: ")]
    assert progress == [2.5] + [5.0 * k for k in range(1, 21)]
    assert sum(line.startswith("openjd_status: extract ") for line in out) == 21
    assert "openjd_status: extract 40/40 frames, ETA 0:00" in out
    assert len(_lines(stream.getvalue())) == 21  # the plain lines too, on the stream


def test_finish_ends_short_runs_whole_and_unknown_totals_still_get_lines(env):
    stream, events = io.StringIO(), []
    p = Progress("train", 1000, "steps", events.append, stream)
    for _ in range(7):
        p.advance(message="a 0.25")
    p.finish()  # a time budget ran out, or a stop
    assert (events[-1].done, events[-1].total, events[-1].message) == (7, 7, "a 0.25")
    assert "7/7 steps  100%" in _lines(stream.getvalue())[-1][0]

    env.setattr(progress_mod, "QUIET_S", 0.0)  # with no total, a line every QUIET_S
    stream = io.StringIO()
    p = Progress("train", 0, "steps", stream=stream)
    for _ in range(3):
        p.advance()
    assert [line.split("  ")[2] for line in stream.getvalue().splitlines()] == [
        "1 steps", "2 steps", "3 steps"]


def test_a_terminal_gets_a_tqdm_bar_and_none_shows_nothing(env):
    term = Terminal()
    p = Progress("convert", 10, "frames", stream=term)
    for i in range(10):
        p.advance(message=f"{i}")
        if i == 4:
            p.note("frame 5: skipped")
    assert "\r" in term.getvalue() and "10/10" in term.getvalue()
    assert "\rframe 5: skipped\n" in term.getvalue()  # the bar cleared, the note, the bar

    env.setenv(MODE_ENV, "none")
    quiet, events = io.StringIO(), []
    p = Progress("convert", 10, "frames", events.append, quiet)
    p.advance()
    p.note("frame 2: skipped")  # a skipped frame is still said
    assert quiet.getvalue() == "frame 2: skipped\n" and len(events) == 1


def test_the_demo_shows_the_engines_events_as_lines(env, capsys):
    show = _progress_printer("convert")
    for done in range(1, 5):
        show({"stage": "convert", "done": done, "total": 4, "message": f"{1000 + done}"})
    err = capsys.readouterr().err
    assert "\r" not in err and [int(m[2]) for m in _lines(err)] == [1, 2, 3, 4]


def _run_logged(argv: list[str], log) -> str:
    """Run ``faceplate ARGV`` with stderr to the file ``log``, as a farm or `2> log` does."""
    env = {k: v for k, v in os.environ.items()
           if k not in (MODE_ENV, "OPENJD_SESSION_WORKING_DIR")}
    with open(log, "w+", newline="") as fh:
        done = subprocess.run([sys.executable, "-m", "faceplate.cli", *argv], env=env,
                              stdout=subprocess.DEVNULL, stderr=fh, timeout=300, check=False)
        fh.seek(0)
        text = fh.read()
    assert done.returncode == 0, text[-3000:]
    assert "\r" not in text
    return text


def test_training_with_stderr_to_a_file_logs_lines(tmp_path):
    facesets = [a for name, folder in sample_facesets().items()
                for a in ("--faceset", f"{name}={folder}")]
    text = _run_logged(["train", *facesets, "-m", str(tmp_path / "m"), *TINY_ARGS,
                        "--steps", "12", "--batch-size", "2", "--precision", "fp32"],
                       tmp_path / "train.log")
    shown = [m for m in _lines(text) if m[1] == "train"]
    assert [int(m[2]) for m in shown] == list(range(1, 13))  # 12 steps: each is over 5 %
    assert "12/12 steps  100%" in shown[-1][0]
    assert "grace_hopper " in shown[0].string  # the losses ride along
    from faceplate.shot_log import runs  # the model folder's run log has the command

    assert [r["command"].split()[:2] for r in runs(str(tmp_path / "m"))] == [
        ["faceplate", "train"]]


def test_convert_with_stderr_to_a_file_logs_lines(tmp_path):
    sample = make_shot("astronaut", str(tmp_path / "shot"), frames=6, size=(320, 180),
                       face_px=90.0)
    write_true_alignments(sample, str(tmp_path / "shot"))
    text = _run_logged(["convert", sample.pattern.replace("%04d", "####"), "--alignments",
                        str(tmp_path / "shot"), "--null-swap", "--to", "plate", "-o",
                        str(tmp_path / "out" / "o.####.exr"), "--no-cache"],
                       tmp_path / "convert.log")
    shown = [m for m in _lines(text) if m[1] == "convert"]
    assert [int(m[2]) for m in shown][-6:] == [1, 2, 3, 4, 5, 6]
    assert "6/6 frames  100%" in shown[-1][0]
