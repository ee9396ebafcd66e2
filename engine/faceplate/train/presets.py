"""Training presets: named starting points for :class:`~faceplate.train.trainer.TrainConfig`,
and the rule by which the default, ``auto``, picks one. Standard library only (the CLI reads
the help text without importing torch).
"""

from __future__ import annotations

# Named starting points; any field can still be overridden. Each was chosen by bench/quality.py
# (docs/training.md: what each costs, what it scores). "auto" (the default) picks one of
# fast/standard/high from the device and the time budget: see choose_preset.
_FAST = {"resolution": 64, "encoder_widths": [32, 64, 128, 256], "latent": 128, "bridge": 64,
         "decoder_widths": [64, 32, 16], "batch_size": 4, "learning_rate": 1e-3}
PRESETS: dict[str, dict] = {
    "fast": {**_FAST},
    "standard": {"resolution": 128, "encoder_widths": [32, 64, 128, 256], "latent": 256,
                 "bridge": 64, "decoder_widths": [96, 48, 24], "batch_size": 4,
                 "learning_rate": 5e-4},
    "high": {"resolution": 256, "batch_size": 8},
    # The demo's 3 minutes are CPU time over the threads: wall time on an idle machine, and
    # the same swap (later) on a busy one.
    "demo": {**_FAST, "time_budget_s": 180.0, "clock": "cpu", "preview_every": 100,
             "checkpoint_every": 200, "log_every": 10},
}
PRESET_HELP = {
    "auto": "choose from the device and --time (the default; it says what it chose)",
    "fast": "64 px, 2.4 M; beats the mean face within a CPU minute, held-out SSIM 0.97 after "
            "6 CPU minutes (bench/quality.py)",
    "standard": "128 px, 7.3 M; beats the mean face within 2 CPU minutes, held-out SSIM 0.86 "
                "at 128 px after 6 (4x the cost of fast a step: a GPU, or hours on a CPU)",
    "high": "256 px, 43 M; for a GPU: hours",
    "demo": "fast, for 3 minutes, with frequent previews",
}
CPU_STANDARD_AFTER_S = 4 * 3600.0  # on a CPU, budgets at least this long get 128 px
GPU_HIGH_AFTER_S = 8 * 3600.0


def choose_preset(device_type: str, time_budget_s: float | None) -> tuple[str, str]:
    """The preset "auto" stands for, and why: on a CPU a small 64 px model gives the best face
    for a few hours of training (bench/quality.py), on a GPU 128 px, 256 px for long runs."""
    budget = f"a {time_budget_s / 60:g}-minute budget" if time_budget_s else "no time budget"
    if device_type == "cuda":
        if time_budget_s is None or time_budget_s >= GPU_HIGH_AFTER_S:
            return "high", f"GPU and {budget}"
        return "standard", f"GPU and {budget} (under {GPU_HIGH_AFTER_S / 3600:g} h)"
    if time_budget_s is not None and time_budget_s >= CPU_STANDARD_AFTER_S:
        return "standard", f"CPU and {budget}"
    return "fast", f"CPU and {budget} (under {CPU_STANDARD_AFTER_S / 3600:g} h)"
