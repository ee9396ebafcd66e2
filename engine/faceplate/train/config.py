"""What a user can choose about training, declared once: :class:`TrainConfig` and the two
settings inside it, :class:`Augment` and :class:`LossWeights`.

``faceplate train``'s flags (help, defaults, spellings) are generated from these declarations and
the ``train`` op's ``overrides`` are read with them. Standard library only, so the CLI builds its
parser without importing torch.
"""

from __future__ import annotations

import argparse
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..settings import Settings, SettingsError, setting
from .presets import PRESETS, choose_preset

if TYPE_CHECKING:
    from ..model.card import ModelCard

log = logging.getLogger(__name__)

HOLDOUT = 0.1  # default: every 10th face is held out of training for evaluation


def parse_duration(text: str) -> float:
    """Seconds from 90, 90s, 45m, 2h or 1h30m."""
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?",
                         text.strip())
    if not text.strip() or parts is None:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 45m or 2h, got {text!r}")
    h, m, s = (float(p or 0) for p in parts.groups())
    return h * 3600 + m * 60 + s


def parse_widths(text: str) -> list[int]:
    try:
        return [int(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def parse_holdout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0 or (value >= 1 and value != int(value)):
        raise argparse.ArgumentTypeError(f"expected a share below 1 (0.1) or a whole count of "
                                         f"faces (20), got {text!r}")
    return value


def _facesets_face_px(facesets: dict) -> float | None:
    """The faces' median size on their plates as the face sets recorded it (None when they
    did not, or one cannot be read: training then says so itself)."""
    from ..convert.face_size import facesets_face_px
    from ..errors import FaceplateError

    try:
        return facesets_face_px(facesets.values())
    except FaceplateError:
        return None


@dataclass
class Augment(Settings):
    """Spreads of each augmentation (0: off).

    The default is the random warp alone. Jitter applied to the target too (affine, flip,
    lighting) makes the decoder learn to draw every jittered variant: on bench/quality.py's
    real clip, 2 CPU minutes, held-out SSIM was 0.919 with the warp alone, 0.888 with light
    jitter (3°, 2 %, no flip) and 0.772 with the field's usual spreads (``augment.CLASSIC``).
    Turn them on for small or one-sided face sets (a flip covers the other profile)."""

    KIND = "augment"

    rotation_deg: float = setting(0.0, "rotation spread in degrees (input and target)")
    scale: float = setting(0.0, "scale spread (input and target)")
    shift: float = setting(0.0, "shift spread, a fraction of the crop (input and target)")
    flip: float = setting(0.0, "chance of a left-right flip (input and target)")
    brightness: float = setting(0.0, "multiplicative gain spread")
    colour: float = setting(0.0, "per-channel gain spread")
    contrast: float = setting(0.0, "contrast spread about the face's mean")
    warp: float = setting(0.025, "grid-warp amplitude as a fraction of the crop (input only)")
    warp_grid: int = setting(5, "grid-warp control points per side")


@dataclass
class LossWeights(Settings):
    """Weights of the training loss's terms (``train.loss.face_loss``)."""

    KIND = "loss"

    dssim: float = setting(1.0, "structural dissimilarity inside the face mask")
    l1: float = setting(1.0, "absolute pixel difference inside the face mask")
    mask: float = setting(0.5, "the learned mask against the face mask")
    eyes_mouth: float = setting(3.0, "pixel weight in the eyes and mouth, relative to the rest "
                                "of the face")
    outside: float = setting(0.05, "pixel weight outside the face mask (keeps the border sane)")


@dataclass
class TrainConfig(Settings):
    """One training run: the face sets, the model folder and how to train (``preset``: the
    preset the values started from; :meth:`from_dict` puts the given values over it)."""

    KIND = "training"

    facesets: dict[str, str] = setting(  # noqa: RUF009 (setting is the field specifier)
        help_text="identity name → face set folder (two or more)", type=dict)
    model_dir: str = setting(help_text="model folder (created, or resumed when it holds "
                             "checkpoints)", type=str, path=True, flags=("-m", "--model"),
                             metavar="MODELDIR")
    resolution: int = setting(128, "crop size, 64-512 in steps of 32", group="network")
    encoder_widths: list[int] | None = setting(  # noqa: RUF009
        None, "encoder channels per level (none: the defaults for the resolution)", type=list,
        parse=parse_widths, metavar="W,W,...", group="network")
    latent: int | None = setting(None, "latent vector size (none: the default for the "
                                 "resolution)", type=int, group="network")
    bridge: int | None = setting(None, "channels of the encoder's bridge to the decoders "
                                 "(none: the default for the resolution)", type=int,
                                 group="network")
    decoder_widths: list[int] | None = setting(  # noqa: RUF009
        None, "decoder channels per upscale (none: the defaults for the resolution)",
        type=list, parse=parse_widths, metavar="W,W,...", group="network")
    decoder_blocks: int = setting(0, "residual blocks after each decoder upscale",
                                  group="network")
    face_size: float | None = setting(
        None, "the faces' median size on the plate, px (the aligned crop's side there): "
        "--preset auto draws them at the largest size at or under it that the device and "
        "budget afford; read from --shot, or from the face sets, when not given", type=float,
        metavar="PX", group="network")
    face_prior: bool = setting(True, "decoders start from their identity's mean face "
                               "(model/network.py) and learn what differs (new models)",
                               flags=("--face-prior", "--no-face-prior"), group="network")
    batch_size: int = setting(16, "faces per identity per step (per process)",
                              group="training")
    learning_rate: float = setting(1e-4, "Adam learning rate", flags=("--lr",),
                                   group="training")
    warmup_steps: int = setting(20, "the rate rises linearly over the model's first N steps",
                                group="training")
    schedule: str = setting("cosine", "cosine: the rate falls to --min-lr of itself by the "
                            "end of --time/--steps; or constant", ("cosine", "constant"),
                            group="training")
    min_lr: float = setting(0.1, "where the cosine schedule ends, a share of the rate",
                            metavar="SHARE", group="training")
    grad_clip: float = setting(1.0, "gradient norm limit, 0 = off", metavar="NORM",
                               group="training")
    ema: float = setting(0.999, "the saved weights are an average with this decay (what "
                         "inference uses), 0 = the raw weights", metavar="DECAY",
                         group="training")
    holdout: float = setting(HOLDOUT, "faces of each set kept out of training for evaluation: "
                             "a share below 1 (0.1: every 10th) or a count; 0 = none",
                             parse=parse_holdout, metavar="SHARE|COUNT", group="training")
    max_steps: int | None = setting(None, "total training steps", type=int, flags=("--steps",),
                                    group="stop")
    time_budget_s: float | None = setting(
        None, "time budget for this run, e.g. 45m or 2h",
        type=float, flags=("--time",), parse=parse_duration, metavar="DURATION", group="stop")
    clock: str = setting("wall", "what --time counts: wall time, or this process's CPU time "
                         "over its threads (the same on an idle machine, steady on a busy one)",
                         ("wall", "cpu"), group="stop")
    loss_target: float | None = setting(None, "stop when every identity's recent loss is below "
                                        "this", type=float, group="stop")
    seed: int = setting(0, "random seed", group="training")
    consent: str = setting("", "consent note for these faces (required for a new model; in "
                           "its card)")
    preview_every: int = setting(250, "write preview.png every N steps", metavar="STEPS",
                                 group="watching")
    checkpoint_every: int = setting(500, "checkpoint every N steps", metavar="STEPS",
                                    group="watching")
    checkpoint_every_s: float = setting(
        0.0, "also checkpoint after this much training, e.g. 20m (0: off)", flags=("--checkpoint-every-time",), parse=parse_duration,
        metavar="DURATION", group="watching")
    keep_checkpoints: int = setting(3, "checkpoints kept", flags=("--keep",),
                                    group="watching")
    log_every: int = setting(10, "steps averaged into each loss.csv row", metavar="STEPS",
                             group="watching")
    precision: str = setting("auto", "auto: bf16/fp16 on CUDA; on a CPU, fp32 or bf16, "
                             "whichever a few timed steps show faster (measured once per "
                             "machine and model shape)", ("auto", "fp32", "bf16", "fp16"),
                             group="training")
    channels_last: bool = setting(False, "channels-last memory layout", group="training")
    compile: bool = setting(False, "torch.compile the network", group="training")
    device: str = setting("auto", "auto, cpu or cuda[:N]", group="training")
    colour_match: str | None = setting(None, "move the other face sets' colour toward this "
                                       "identity's", type=str, metavar="IDENTITY",
                                       group="training")
    augment: Augment = setting(  # noqa: RUF009
        Augment(), "augmentation, over the preset's", group="training")
    loss: LossWeights = setting(  # noqa: RUF009
        LossWeights(), "loss weights, over the preset's", group="training")
    grow_to: int | None = setting(
        None, "grow the model to PX (twice its size, or 4x, 8x: up to 512), one rung at a "
        "time, each rung trained for --steps or --time (a new model first trains at its own "
        "size for as long); the same command resumes",
        bounds=(64, 512), type=int, metavar="PX", group="grow")
    fade_steps: int = setting(100, "a grown rung fades in over this many steps",
                              bounds=(0, 1_000_000), group="grow")
    preset: str = setting("", "the preset the settings started from (faceplate.train.presets; "
                          "auto: chosen from the device and the time budget)")

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """``data``'s fields over those of its ``preset`` ("auto": see :func:`choose_preset`;
        none: the declared defaults); an ``augment`` or ``loss`` dict over the preset's."""
        name = data.get("preset", "")
        if name and name != "auto" and name not in PRESETS:
            raise SettingsError(f"unknown preset {name!r}: use auto or one of "
                                f"{', '.join(PRESETS)}")
        known = {d.name for d in cls.declared()}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"unknown training option(s) {', '.join(unknown)}: use "
                                f"{', '.join(sorted(known))}")
        if name == "auto":
            from ..model.store import resolve_device

            device = resolve_device(data.get("device", "auto"))
            face_size = data.get("face_size") or _facesets_face_px(data.get("facesets") or {})
            name, why = choose_preset(device.type, data.get("time_budget_s"), face_size)
            log.info("preset auto: %s (%s); --preset chooses another", name, why)
        preset: dict[str, Any] = PRESETS.get(name, {})
        chosen = {**preset, **data, "preset": name}
        for key in ("augment", "loss"):
            given = data.get(key)
            if given is None or isinstance(given, dict):
                chosen[key] = {**preset.get(key, {}), **(given or {})}
        return super().from_dict(chosen)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> TrainConfig:
        """Settings of preset ``name`` ("auto": see :func:`choose_preset`) under ``overrides``."""
        return cls.from_dict({**overrides, "preset": name})

    @classmethod
    def default_text(cls, name: str, default: Any) -> str:
        """The default, and which presets set the setting instead."""
        setters = [p for p, values in PRESETS.items() if name in values]
        if len(setters) == len(PRESETS):
            return "set by the preset"
        text = super().default_text(name, default)
        return f"{text}; the {', '.join(setters)} preset{'s' if len(setters) > 1 else ''} " \
               f"set{'' if len(setters) > 1 else 's'} it" if setters else text

    def new_card(self) -> ModelCard:
        """The model card a new model trained with these settings starts with (checked)."""
        from ..model.card import ModelCard

        widths = {k: v for k, v in (("encoder_widths", self.encoder_widths),
                                    ("latent", self.latent), ("bridge", self.bridge),
                                    ("decoder_widths", self.decoder_widths)) if v is not None}
        return ModelCard.for_resolution(list(self.facesets), self.resolution, consent=self.consent,
                                        preset=self.preset, decoder_blocks=self.decoder_blocks,
                                        face_prior=self.face_prior,
                                        **widths).validate()
