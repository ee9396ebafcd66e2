"""Training presets: named starting points for :class:`~faceplate.train.trainer.TrainConfig`,
and the rule by which the default, ``auto``, picks one. Standard library only (the CLI reads
the help text without importing torch).
"""

from __future__ import annotations

# Named starting points; any field can still be overridden. Each was chosen by bench/quality.py
# (docs/training.md: what each costs, what it scores). "auto" (the default) picks one of
# fast/standard/high/production from the device, the time budget and the faces' size on the
# plate: see choose_preset.
_FAST = {"resolution": 64, "encoder_widths": [32, 64, 128, 256], "latent": 128, "bridge": 64,
         "decoder_widths": [64, 32, 16], "batch_size": 4, "learning_rate": 1e-3}
PRESETS: dict[str, dict] = {
    "fast": {**_FAST},
    "standard": {"resolution": 128, "encoder_widths": [32, 64, 128, 256], "latent": 256,
                 "bridge": 64, "decoder_widths": [96, 48, 24], "batch_size": 4,
                 "learning_rate": 5e-4},
    "high": {"resolution": 256, "batch_size": 8},
    # 512 px: six stride-2 stages down to an 8×8 grid (the dense layers stay ~21 M), narrow
    # decoder stages where the maps are large (docs/training.md: memory and step cost).
    "production": {"resolution": 512, "encoder_widths": [32, 64, 128, 256, 512, 512],
                   "latent": 512, "bridge": 128, "decoder_widths": [256, 128, 64, 32, 16],
                   "batch_size": 4, "learning_rate": 2e-4},
    # The demo's 3 minutes are CPU time over the threads: wall time on an idle machine, and
    # the same swap (later) on a busy one. `faceplate demo` grows it to 128 px (demo.py).
    "demo": {**_FAST, "time_budget_s": 180.0, "clock": "cpu", "preview_every": 100,
             "checkpoint_every": 200, "log_every": 10},
}
PRESET_HELP = {
    "auto": "choose from the device, --time and the faces' size on the plate (--shot, "
            "--face-size or what the face sets recorded; the default; it says what it chose)",
    "fast": "64 px, 2.4 M; beats the mean face within a CPU minute, held-out SSIM 0.97 after "
            "6 CPU minutes (bench/quality.py)",
    "standard": "128 px, 7.3 M; beats the mean face within 2 CPU minutes, held-out SSIM 0.86 "
                "at 128 px after 6 (4x the cost of fast a step)",
    "high": "256 px, 43 M; for a GPU: hours",
    "production": "512 px, 40 M; for a GPU (docs/training.md: memory and step cost)",
    "demo": "fast, for 3 minutes, with frequent previews",
}
# The ladder auto climbs: resolution → preset.
LADDER = {64: "fast", 128: "standard", 256: "high", 512: "production"}
CPU_STANDARD_AFTER_S = 4 * 3600.0  # CPU, face size unknown: budgets this long get 128 px
CPU_MIN_128_S = 5 * 60.0  # CPU, a face of 128 px or more: 128 px from this budget (or none)
CPU_HIGH_AFTER_S = 4 * 3600.0  # CPU: 256 px only for budgets this long
GPU_HIGH_AFTER_S = 8 * 3600.0


def _largest_rung(face_px: float, cap: int) -> int:
    """The largest resolution of the ladder at or under ``face_px`` (at least 64) and ``cap``:
    a model larger than the face draws detail the plate does not hold."""
    fits = [r for r in LADDER if r <= min(face_px, cap)]
    return max(fits) if fits else min(LADDER)


def choose_preset(device_type: str, time_budget_s: float | None,
                  face_px: float | None = None) -> tuple[str, str]:
    """The preset "auto" stands for, and why.

    With the faces' median size on the plate (``face_px``: the side of the aligned crop there,
    from ``--shot`` or ``--face-size``) the model is drawn at the largest size of 64, 128,
    256, 512 px at or under it that the device and budget afford: on a CPU 128 px (from a
    5-minute budget; bench/quality.py: on frames the model never saw, 128 px after 6 CPU minutes
    beats 64 px even scored at 64 px) and 256 px from 4 hours; on a GPU 256 px, 512 px from
    8 hours or with no budget. Without it: on a CPU 64 px under 4 hours, on a GPU 128 px,
    256 px for long runs."""
    budget = f"a {time_budget_s / 60:g}-minute budget" if time_budget_s else "no time budget"
    if face_px is not None and face_px > 0:
        long_run = time_budget_s is None or time_budget_s >= (
            GPU_HIGH_AFTER_S if device_type == "cuda" else CPU_HIGH_AFTER_S)
        if device_type == "cuda":
            cap, afford = (512, "8 hours or more") if long_run else (256, "under 8 hours")
        elif long_run and time_budget_s is not None:
            cap, afford = 256, "4 hours or more"
        elif time_budget_s is not None and time_budget_s < CPU_MIN_128_S:
            cap, afford = 64, f"under {CPU_MIN_128_S / 60:g} minutes"
        else:
            cap, afford = 128, ("no time budget" if time_budget_s is None
                                else f"under {CPU_HIGH_AFTER_S / 3600:g} h")
        size = _largest_rung(face_px, cap)
        device = "GPU" if device_type == "cuda" else "CPU"
        why = (f"faces of {face_px:.0f} px on the plate, {device} and {budget}: {size} px, "
               f"the largest size at or under the face that a {device} affords with {afford} "
               f"(at most {cap} px)")
        if size < face_px / 2:
            why += f"; the face is upscaled {face_px / size:.1f}x onto the plate"
        return LADDER[size], why
    if device_type == "cuda":
        if time_budget_s is None or time_budget_s >= GPU_HIGH_AFTER_S:
            return "high", f"GPU and {budget}; the faces' size is unknown (--shot or --face-size)"
        return "standard", (f"GPU and {budget} (under {GPU_HIGH_AFTER_S / 3600:g} h); the "
                            "faces' size is unknown (--shot or --face-size)")
    if time_budget_s is not None and time_budget_s >= CPU_STANDARD_AFTER_S:
        return "standard", f"CPU and {budget}; the faces' size is unknown (--shot or --face-size)"
    return "fast", (f"CPU and {budget} (under {CPU_STANDARD_AFTER_S / 3600:g} h); the faces' "
                    "size is unknown (--shot or --face-size)")
