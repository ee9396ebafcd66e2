"""Training as real processes: `faceplate train` stopped by SIGTERM, a save killed midway,
and two-process data-parallel training through torchrun with gloo."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from faceplate.train.checkpoint import latest_checkpoint
from safetensors.torch import load_file
from test_train_data import sample_facesets

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TINY_ARGS = ["--preset", "demo", "--resolution", "64", "--encoder-widths", "16,32,64,128",
             "--latent", "128", "--bridge", "32", "--decoder-widths", "32,16,16",
             "--consent", "Public sample photos.", "--preview-every", "0", "--json"]


def facesets_args() -> list[str]:
    return [a for name, folder in sample_facesets().items()
            for a in ("--faceset", f"{name}={folder}")]


def test_sigterm_saves_a_checkpoint_before_exit(tmp_path):
    model = tmp_path / "m"
    proc = subprocess.Popen(
        [sys.executable, "-m", "faceplate.cli", "train", *facesets_args(), "-m", str(model),
         *TINY_ARGS, "--time", "10m", "--checkpoint-every", "1", "--batch-size", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 120
    while not (model / "checkpoints").is_dir() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["stopped_by"] == "signal" and result["steps"] >= 1
    assert latest_checkpoint(str(model / "checkpoints")).step == result["steps"]
    assert "saving a checkpoint before exit" in err


def test_bad_cli_input_is_a_message_not_a_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "faceplate.cli", "train", "--faceset", f"a={tmp_path}",
         "--faceset", f"b={tmp_path}", "-m", str(tmp_path / "m"), "--consent", "x"],
        check=False, capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2
    assert "faceplate train: error: face set a=" in proc.stderr and "Traceback" not in proc.stderr


SAVER = """
import sys, torch
from faceplate.train.checkpoint import save_checkpoint
step = 0
while True:
    step += 1
    save_checkpoint(sys.argv[1], step, {"w": torch.full((2_000_000,), float(step))},
                    {"note": "kill test"}, keep=2)
    print(step, flush=True)
"""


@pytest.mark.parametrize("delay", [0.9, 1.3, 1.7])
def test_a_process_killed_while_saving_leaves_a_loadable_checkpoint(tmp_path, delay):
    folder = tmp_path / "checkpoints"
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(folder)], stdout=subprocess.PIPE,
                            text=True, env=ENV)
    first = proc.stdout.readline()  # one save done: from here on it is mostly saving
    assert first.strip() == "1"
    time.sleep(delay)
    proc.kill()
    proc.wait()
    found = latest_checkpoint(str(folder))
    assert found is not None and found.step >= 1
    assert torch.all(found.tensors["w"] == float(found.step))


def _weights(model) -> dict:
    return load_file(os.path.join(model, "model.safetensors"))


def test_two_process_data_parallel_training_with_gloo(tmp_path):
    common = [*facesets_args(), *TINY_ARGS, "--steps", "3", "--checkpoint-every", "0",
              "--lr", "1e-4"]
    cli = ["-m", "faceplate.cli", "train"]
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         *cli, *common, "-m", str(tmp_path / "ddp"), "--batch-size", "2"],
        check=False, capture_output=True, text=True, env=ENV, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    # One result, from rank 0 alone (rank 1 prints nothing at all): not two lines that
    # may interleave.
    assert len(ddp.stdout.strip().splitlines()) == 1, ddp.stdout
    result = json.loads(ddp.stdout)
    assert result["world"] == 2 and result["rank"] == 0 and result["steps"] == 3
    assert result["images_per_s"] > 0
    single = subprocess.run(
        [sys.executable, *cli, *common, "-m", str(tmp_path / "one"), "--batch-size", "4"],
        check=False, capture_output=True, text=True, env=ENV, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    other = subprocess.run(
        [sys.executable, *cli, *common, "-m", str(tmp_path / "seed"), "--batch-size", "4",
         "--seed", "7"], check=False, capture_output=True, text=True, env=ENV, timeout=300)
    assert other.returncode == 0
    a, b, c = (_weights(tmp_path / n) for n in ("ddp", "one", "seed"))
    # Two shards of 2 with averaged gradients ≈ one process with the whole batch of 4.
    # (Adam's first steps move each weight by about ±lr, so compare with another seed's run.)
    near = max((a[k] - b[k]).abs().max().item() for k in a)
    far = max((c[k] - b[k]).abs().max().item() for k in a)
    assert near < far / 100, (near, far)
    assert os.listdir(tmp_path / "ddp" / "checkpoints") == ["step_00000003"]
