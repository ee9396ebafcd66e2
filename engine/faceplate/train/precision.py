"""Which number format training runs in, and for ``auto`` on a CPU, measured rather than guessed.

bf16 on a CPU is fast only with oneDNN's bf16 kernels (AVX512-BF16 / AMX): 1.75× faster than
fp32 on one machine, 19× slower on another. So ``auto`` on a CPU times a few training steps of
the model in each format, once per machine and model shape, and keeps the answer in
``precision.json`` in ``$FACEPLATE_CACHE`` (default ``$XDG_CACHE_HOME/faceplate``, then
``~/.cache/faceplate``). On CUDA ``auto`` is bf16
(fp16 where the GPU has no bf16): tensor cores are always faster than fp32 there.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import time
from collections.abc import Callable

import torch

from ..errors import FaceplateError
from ..io.atomic import write_json_atomic

log = logging.getLogger(__name__)
FORMATS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16,
                                          "fp16": torch.float16}
TIMED_STEPS = 3  # after one warm-up step each
GIVE_UP = 3.0  # a bf16 warm-up step this many times slower than fp32's is not timed further


def cache_path() -> str:
    folder = os.environ.get("FACEPLATE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "faceplate")
    return os.path.join(folder, "precision.json")


def machine_key() -> str:
    """CPU model, thread count and torch version: what bf16 speed depends on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu} | {torch.get_num_threads()} threads | torch {torch.__version__}"


def _read_cache(path: str) -> dict:
    try:
        with open(path) as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def time_step(step: Callable[[torch.dtype | None], None], dtype: torch.dtype | None,
              limit_s: float | None = None) -> float:
    """Seconds per step of ``step(dtype)``: one warm-up, then TIMED_STEPS timed (fewer when the
    warm-up alone took longer than ``limit_s``: then its time is the answer)."""
    t0 = time.process_time()
    step(dtype)
    warm = time.process_time() - t0
    if limit_s is not None and warm > limit_s:
        return warm
    t0 = time.process_time()
    for _ in range(TIMED_STEPS):
        step(dtype)
    return (time.process_time() - t0) / TIMED_STEPS


def measure_cpu(shape_key: str, step: Callable[[torch.dtype | None], None],
                path: str | None = None) -> tuple[str, str]:
    """("fp32" or "bf16", why) for a CPU, from the cache or by timing ``step`` in each.

    Times are process CPU seconds, so other work on the machine does not tilt the choice."""
    path = path or cache_path()
    key = f"{machine_key()} | {shape_key}"
    cached = _read_cache(path).get(key)
    if isinstance(cached, dict) and cached.get("choice") in ("fp32", "bf16"):
        return cached["choice"], (f"auto: {cached['choice']}, measured earlier on this machine "
                                  f"(fp32 {cached['fp32_s']:.3f} s/step, bf16 "
                                  f"{cached['bf16_s']:.3f} s/step; cache {path})")
    fp32 = time_step(step, None)
    bf16 = time_step(step, torch.bfloat16, limit_s=GIVE_UP * fp32)
    choice = "bf16" if bf16 < fp32 else "fp32"
    entries = _read_cache(path)
    entries[key] = {"choice": choice, "fp32_s": round(fp32, 4), "bf16_s": round(bf16, 4),
                    "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        write_json_atomic(path, entries)
    except OSError as exc:  # a read-only home still trains; it measures again next time
        log.warning("cannot keep the precision measurement in %s (%s)", path, exc)
    return choice, (f"auto: {choice}, measured now (fp32 {fp32:.3f} s/step, bf16 "
                    f"{bf16:.3f} s/step; cached in {path})")


def choose(name: str, device: torch.device,
           step: Callable[[torch.dtype | None], None] | None = None,
           shape_key: str = "") -> tuple[torch.dtype | None, str]:
    """(autocast dtype or None for fp32, a line saying what and why)."""
    if name not in ("auto", *FORMATS):
        raise FaceplateError(f"unknown precision {name!r}: use auto, fp32, bf16 or fp16")
    if name == "auto":
        if device.type == "cuda":
            pick = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            return FORMATS[pick], f"auto: {pick} on CUDA"
        if step is None:
            return None, "auto: fp32 (not measured)"
        pick, why = measure_cpu(shape_key, step)
        return FORMATS[pick], why
    if name == "fp16" and device.type != "cuda":
        raise FaceplateError("fp16 needs a CUDA GPU; on CPU use bf16 or fp32")
    if name == "bf16" and device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        log.warning("this CPU has no fast bf16 convolutions (no AVX512-BF16/AMX for oneDNN): "
                    "bf16 training will be many times slower than fp32 here")
    return FORMATS[name], name


def probe_step(joint: torch.nn.Module, resolution: int, batch: int, identities: int,
               device: torch.device) -> Callable[[torch.dtype | None], None]:
    """A throwaway training step of a copy of ``joint`` on random faces: timing it leaves the
    real model, optimiser and random generators untouched."""
    net = copy.deepcopy(joint).to(device)
    optim = torch.optim.Adam(net.parameters(), lr=1e-6)
    x = torch.rand(batch * identities, 3, resolution, resolution, device=device)

    def step(dtype: torch.dtype | None) -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            outputs = net(x, [batch] * identities)
        loss = sum((face.float() - x[:batch]).abs().mean() for face, _ in outputs)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()

    return step
