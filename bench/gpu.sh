#!/usr/bin/env bash
# bench/gpu.sh — the GPU figures of docs/training.md in one prepared run, one JSON line each:
#
#   train      training images/s and peak memory of one real training step (augmentation, loss,
#              Adam: faceplate.train.trainer.Trainer.train_step) at 128, 256 and 512 px (the
#              standard, high and production presets, their own batch), in bf16 and fp32
#   infer      inference faces/s at 256 and 512 px (FaceModel.swap, batches of 16, host copies
#              included), in the precision convert uses (bf16 autocast on CUDA)
#   quality    bench/quality.py --split block after 10 minutes at 256 px (--preset high), where
#              the clip is there (../shared/clips/talking_head_1.mp4 or FACEPLATE_CLIP)
#
# Usage:  bench/gpu.sh [all|train|infer|quality]
# Environment: DEVICE (cuda; cpu runs the same measurements on the CPU), PY (the Python with
# torch and faceplate's requirements: .venv/bin/python when there, else python3), STEPS (timed
# steps, 10), RESOLUTIONS (128 256 512), PRECISIONS (bf16 fp32), BATCH (per identity; the
# preset's when unset), QUALITY_MINUTES (10), THREADS (CPU threads, 8).
# Each measurement runs in its own process (peak memory is per process); synthetic face sets are
# made from the bundled sample photos (no download). Nothing is written outside a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export PYTHONPATH="engine:nuke_plugin${PYTHONPATH:+:$PYTHONPATH}"
export DEVICE=${DEVICE:-cuda}
export STEPS=${STEPS:-10}
export THREADS=${THREADS:-8}
export OMP_NUM_THREADS=$THREADS
RESOLUTIONS=${RESOLUTIONS:-128 256 512}
PRECISIONS=${PRECISIONS:-bf16 fp32}
what=${1:-all}
work=$(mktemp -d "${TMPDIR:-/tmp}/faceplate-gpu-XXXXXX")
trap 'rm -rf "$work"' EXIT

cat > "$work/measure.py" <<'EOF'
"""One measurement (argv: train RES PRECISION | infer RES), one JSON line."""
import json
import os
import resource
import sys
import time

import numpy as np
import torch

PRESET = {128: "standard", 256: "high", 512: "production"}
DEVICE = os.environ.get("DEVICE", "cuda")
STEPS = int(os.environ.get("STEPS", "10"))
torch.set_num_threads(int(os.environ.get("THREADS", "8")))


def facesets(root: str, size: int) -> dict:
    """Two face sets of 16 aligned crops each, from the bundled sample photos."""
    from faceplate.extract.faceset import write_faceset
    from faceplate.face.align import alignment_matrix, crop_matrix, transform_points, warp_to_crop
    from faceplate.samples import source_image, source_landmarks

    out = {}
    for name in ("grace_hopper", "astronaut"):
        photo, marks = source_image(name), source_landmarks(name)
        m = alignment_matrix(marks, "whole_face")
        crop = warp_to_crop(photo, m, size)
        lm = transform_points(marks, crop_matrix(m, size))
        faces = [(np.clip(crop * (0.9 + 0.0125 * i), 0, 1), f"{name}.photo", 1 + i, 0, lm)
                 for i in range(16)]
        out[name] = os.path.join(root, name)
        write_faceset(out[name], "whole_face", size, faces)
    return out


def sync() -> None:
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def peak_mib() -> float:
    if DEVICE.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def train(res: int, precision: str, root: str) -> dict:
    from faceplate.train.config import TrainConfig
    from faceplate.train.distributed import Group
    from faceplate.train.trainer import Trainer

    overrides = {"batch_size": int(os.environ["BATCH"])} if os.environ.get("BATCH") else {}
    config = TrainConfig.from_preset(PRESET[res], facesets=facesets(root, res),
                                     model_dir=os.path.join(root, "model"), consent="bench",
                                     precision=precision, device=DEVICE, holdout=0, **overrides)
    trainer = Trainer(config, Group(), torch.device(DEVICE))
    for _ in range(2):  # warm-up (cuDNN autotune, allocator)
        trainer.train_step(0.5)
    sync()
    if DEVICE.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(STEPS):
        trainer.train_step(0.5)
    sync()
    dt = time.perf_counter() - t0
    images = STEPS * config.batch_size * 2
    params = sum(p.numel() for p in trainer.net.parameters())
    return {"bench": "gpu_train", "device": DEVICE, "resolution": res, "preset": PRESET[res],
            "precision": precision, "batch": f"2x{config.batch_size}", "steps": STEPS,
            "images_per_s": round(images / dt, 2), "s_per_step": round(dt / STEPS, 3),
            "peak_mib": peak_mib(), "params_m": round(params / 1e6, 2)}


def infer(res: int, root: str) -> dict:
    from faceplate.model.store import create_model, load_model
    from faceplate.train.config import TrainConfig

    card = TrainConfig.from_preset(PRESET[res], facesets={"a": "", "b": ""},
                                   model_dir=root, consent="bench").new_card()
    create_model(os.path.join(root, "model"), card)
    model = load_model(os.path.join(root, "model"), device=DEVICE)
    crops = np.random.default_rng(0).random((64, res, res, 3), dtype=np.float32)
    model.swap(crops[:16], 1)  # warm-up
    sync()
    reps = max(1, STEPS // 5)
    t0 = time.perf_counter()
    for _ in range(reps):
        model.swap(crops, 1)
    sync()
    dt = time.perf_counter() - t0
    return {"bench": "gpu_infer", "device": DEVICE, "resolution": res, "preset": PRESET[res],
            "batch": model.batch_size, "faces_per_s": round(reps * len(crops) / dt, 2),
            "peak_mib": peak_mib()}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        if sys.argv[1] == "train":
            line = train(int(sys.argv[2]), sys.argv[3], root)
        else:
            line = infer(int(sys.argv[2]), root)
    print(json.dumps(line), flush=True)
EOF

echo "{\"bench\": \"gpu_env\", \"device\": \"$DEVICE\", \"python\": \"$PY\", \"gpu\": \"$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1 || echo none)\"}"
if [ "$what" = all ] || [ "$what" = train ]; then
  for res in $RESOLUTIONS; do
    for precision in $PRECISIONS; do
      "$PY" "$work/measure.py" train "$res" "$precision" \
        || echo "{\"bench\": \"gpu_train\", \"resolution\": $res, \"precision\": \"$precision\", \"error\": \"failed (out of memory?)\"}"
    done
  done
fi
if [ "$what" = all ] || [ "$what" = infer ]; then
  for res in 256 512; do
    "$PY" "$work/measure.py" infer "$res" \
      || echo "{\"bench\": \"gpu_infer\", \"resolution\": $res, \"error\": \"failed\"}"
  done
fi
if [ "$what" = all ] || [ "$what" = quality ]; then
  clip=${FACEPLATE_CLIP:-../shared/clips/talking_head_1.mp4}
  if [ -f "$clip" ]; then
    "$PY" bench/quality.py --split block --minutes "${QUALITY_MINUTES:-10}" --models high \
      --threads "$THREADS" -o "$work/quality" | grep -v quality_files
  else
    echo "{\"bench\": \"quality\", \"skipped\": \"no clip at $clip (set FACEPLATE_CLIP)\"}"
  fi
fi
