"""Growing a model to the next size: ``faceplate train --grow-to SIZE``.

One rung at a time (64 → 128 → 256 → 512): :func:`grow_once` adds a rung to the weights the
model serves (``model.network.grow``: the new paths start at zero, so the grown model begins as
the smaller one upscaled), writes them as a checkpoint at the same step (a fresh optimiser) and
as the model folder, and the trainer resumes it like any checkpoint. Each rung trains for the
command's ``--steps`` (counted from the rung's first step) or ``--time`` (summed over the runs
of that rung, from the checkpoints' ``rung_clock_s``), so a killed run, started again with the
same command, finishes the rung it was in and climbs on. A new model made with ``--grow-to``
first trains at its own size for the same budget (its card's ladder holds that size alone).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import torch

from ..errors import FaceplateError
from ..extract.faceset import load_faceset as load_index
from ..model.card import MAX_RESOLUTION, ModelCard
from ..model.network import AutoEncoder, grow
from ..model.store import WEIGHTS, load_weights, save_model
from . import checkpoint as ckpt
from .config import TrainConfig

log = logging.getLogger(__name__)


def check(config: TrainConfig, card: ModelCard | None) -> None:
    """Refuse, before anything is written, what cannot grow: no budget, a size off the
    model's ladder (a new model's: from ``--resolution``), other identities or face sets of
    another face type."""
    size, have = config.grow_to or 0, card.resolution if card else config.resolution
    if not (config.max_steps or config.time_budget_s):
        raise FaceplateError("--grow-to trains each size for --steps or --time: give one")
    if size < have:
        raise FaceplateError(f"model {config.model_dir} is {have} px: a model only grows "
                             f"(--grow-to {have * 2} or more), it cannot shrink to {size} px")
    ladder = [have * 2 ** k for k in range(4) if have * 2 ** k <= MAX_RESOLUTION]
    if size not in ladder:
        raise FaceplateError(f"{size} px is not on the ladder of {config.model_dir}: each rung "
                             f"doubles the size, so from {have} px it grows to "
                             f"{', '.join(f'{r}' for r in ladder[1:]) or 'nothing'} px")
    if card is None:  # a new model: the trainer checks its sets
        return
    if size == have and not card.ladder:
        raise FaceplateError(f"model {config.model_dir} is already {have} px")
    if sorted(card.identities) != sorted(config.facesets):
        raise FaceplateError(f"model {config.model_dir} was trained on identities "
                             f"{', '.join(card.identities)}; give a --faceset for each of those "
                             f"(got {', '.join(config.facesets)})")
    for name, folder in config.facesets.items():
        kind = load_index(folder).face_type
        if kind != card.face_type:
            raise FaceplateError(f"model {config.model_dir} was trained on {card.face_type} "
                                 f"crops but face set {name}={folder} is {kind}: extract it "
                                 f"with --face-type {card.face_type}")


def spent(checkpoint: ckpt.Checkpoint | None) -> float:
    """Time (on the budget's clock) the newest rung has trained so far."""
    return float(checkpoint.meta.get("rung_clock_s", 0.0)) if checkpoint else 0.0


def finished(config: TrainConfig, card: ModelCard, clock_s: float) -> bool:
    """Whether the newest rung has had its budget (a model never grown has no rung to train)."""
    if not card.ladder:
        return True
    steps, budget = config.max_steps, config.time_budget_s
    return bool((steps and card.iterations - card.grown_at >= steps)
                or (budget and clock_s >= budget))


def rung_config(config: TrainConfig, card: ModelCard | None, clock_s: float) -> TrainConfig:
    """The settings that train the newest rung (a new model: its first size) for what is left
    of its budget."""
    steps, budget = config.max_steps, config.time_budget_s
    return replace(config, max_steps=(card.grown_at if card else 0) + steps if steps else None,
                   time_budget_s=max(budget - clock_s, 0.0) if budget else None)


def grow_once(config: TrainConfig, card: ModelCard,
              checkpoint: ckpt.Checkpoint | None) -> ModelCard:
    """Add one rung to the weights the model serves and write them as the newest checkpoint
    (same step, no optimiser state, the same random generator and loss history) and as the
    model folder. The new rung's layers are as wide as the decoder's last."""
    if checkpoint is None:
        state = load_weights(os.path.join(config.model_dir, WEIGHTS))
        meta: dict = {}
        sampler = torch.Generator().manual_seed(config.seed + 1).get_state()
    else:
        t = checkpoint.tensors
        prefix = "ema." if any(k.startswith("ema.") for k in t) else "model."
        state = {k[len(prefix):]: v for k, v in t.items() if k.startswith(prefix)}
        meta, sampler = checkpoint.meta, t["rng.sampler"]
    width = (card.grow_widths or card.decoder_widths)[-1]
    grown, weights = grow(card, state, width, config.fade_steps, config.seed + card.iterations)
    log.info("growing %s from %d to %d px at step %d (fading in over %d steps)",
             config.model_dir, card.resolution, grown.resolution, card.iterations,
             config.fade_steps)
    tensors = {**{f"model.{k}": v for k, v in weights.items()}, "rng.sampler": sampler}
    ckpt.save_checkpoint(ckpt.folder(config.model_dir), card.iterations, tensors,
                         {"elapsed_s": meta.get("elapsed_s", 0.0), "run_clock_s": 0.0,
                          "rung_clock_s": 0.0,
                          "history": meta.get("history", []), "window": meta.get("window", []),
                          "card": grown.to_dict()}, config.keep_checkpoints)
    net = AutoEncoder(grown)
    net.load_state_dict(weights)
    save_model(config.model_dir, grown, net)
    return grown
