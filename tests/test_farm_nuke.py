"""A Nuke render on the farm: `openjd run` runs the bundle's NukeRender step, whose tasks render a
saved comp (Faceplate chain → Write) with the tests' stand-in Nuke behind a `nuke -x -X W -F A-B`
command line. Every task's Faceplate nodes reach the engine the session environment started —
nobody starts a second one — and the frames carry the facemask layer and provenance."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from engine_helpers import face_chain, sample_and_model
from faceplate.farm import openjd
from faceplate.farm.job import ShotJob
from faceplate.io.images import read_image

pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "nuke_standin")
BIN = os.path.dirname(sys.executable)

# `nuke -x -X WRITE -F A-B SCRIPT`, played by the stand-in: open the script, execute the Write,
# then say which engine served it.
NUKE_SHIM = f"""#!{sys.executable}
import sys
sys.path[:0] = [{STANDIN!r}]
from session import start
args = sys.argv[1:]
assert args[0] == "-x", args
first, _, last = args[args.index("-F") + 1].partition("-")
nuke = start()
nuke.scriptOpen(args[-1])
nuke.execute(nuke.toNode(args[args.index("-X") + 1]), int(first), int(last or first))
from faceplate_nuke import engine
print("SERVED BY ENGINE PID", engine.client("").engine_info["pid"])
"""


def _comp(root: str, sample, model: str) -> str:
    """The compositor's script, saved as a farm would get it (engine address left empty)."""
    sys.path[:0] = [STANDIN]
    from session import start

    nuke = start()
    face_chain(nuke, sample, model, os.path.join(root, "cache"), identity="B",
               out=os.path.join(root, "out", "comp.####.exr"))
    script = os.path.join(root, "comp.nk")
    nuke.scriptSaveAs(script)
    return script


def test_nuke_render_step_uses_the_session_engine(tmp_path):
    root = str(tmp_path)
    sample, model = sample_and_model(tmp_path, frames=3, identities=("A", "B"))
    plate = sample.pattern.replace("%04d", "####")
    script = _comp(root, sample, model)
    shim = tmp_path / "nuke"
    shim.write_text(NUKE_SHIM)
    shim.chmod(0o755)
    job = ShotJob(os.path.join(root, "sh010"), plate, model, "B",
                  os.path.join(root, "out", "comp.####.exr"), "1001-1003", chunk_size=2,
                  extract=False, nuke_script=script, nuke_write="Write1",
                  faceplate_cmd=os.path.join(BIN, "faceplate"), nuke_cmd=str(shim))
    template = openjd.write_bundle(job, os.path.join(root, "bundle"))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_RUNTIME_DIR": str(runtime)}
    env.pop("FACEPLATE_SOCKET", None)
    done = subprocess.run([os.path.join(BIN, "openjd"), "run", template, "-p",
                           f"file://{root}/bundle/{openjd.OPENJD_PARAMS}"], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    # Two chunked tasks, both served by the one engine the session environment started.
    served = re.findall(r"SERVED BY ENGINE PID (\d+)", done.stdout)
    logs = [n for n in os.listdir(runtime / "faceplate") if n.endswith(".log")
            and not n.endswith(".serve.log")]
    (log,) = logs  # one engine ran in this session, none was started on the side
    started = re.search(r"\(pid (\d+)\) listening", (runtime / "faceplate" / log).read_text())
    assert len(served) == 2 and set(served) == {started.group(1)}
    for f in (1001, 1002, 1003):
        frame = read_image(os.path.join(root, "out", f"comp.{f}.exr"))
        assert "facemask.hull" in frame.channels
        assert frame.metadata["faceplate/synthetic"] == "1"
