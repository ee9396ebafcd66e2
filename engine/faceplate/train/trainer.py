"""The training loop: resumable, interruptible, watched.

``train(config)`` creates the model folder (or resumes it from its newest good checkpoint),
then per step: one augmented batch per identity, one pass of the shared encoder over all of
them, each identity's decoder on its part, the summed masked loss, one Adam step. It stops at
a step count, a time budget, a loss target, a ``stop_event``, Ctrl-C or SIGTERM, and always
saves before returning. The engine server and ``faceplate demo`` call it in-process.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, cast

import numpy as np
import torch
from faceplate_client import layout
from torch import nn

from ..errors import FaceplateError
from ..model.card import ModelCard, ModelError
from ..model.network import AutoEncoder, Decoder
from ..model.store import WEIGHTS, load_weights, resolve_device, save_model
from ..progress import Listener, Progress
from . import checkpoint as ckpt
from . import grow
from . import precision as prec
from .augment import make_batch
from .config import TrainConfig
from .data import load_facesets, match_colour
from .distributed import Group, join
from .loss import face_loss
from .preview import preview_sheet, write_loss_csv, write_loss_plot, write_png

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model_dir: str
    steps: int  # total steps the model has trained, this run and earlier ones
    steps_this_run: int
    stopped_by: str  # max_steps, time_budget, loss_target, stop_event, signal
    losses: dict[str, float]  # recent loss per identity
    elapsed_s: float
    images_per_s: float
    preview: str
    loss_plot: str
    preset: str = ""
    precision: str = ""  # what ran, and why when auto chose it
    held_out: dict[str, int] = field(default_factory=dict)  # faces per identity kept out
    cpu_s: float = 0.0  # this process's CPU seconds over the run
    world: int = 1  # processes that trained together (only rank 0 returns a result to print)
    rank: int = 0
    ladder: list[int] = field(default_factory=list)  # sizes a grown model trained at

    def to_dict(self) -> dict:
        return asdict(self)


class Joint(nn.Module):
    """All identities in one forward (one encoder pass), as DistributedDataParallel needs."""

    def __init__(self, net: AutoEncoder):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, counts: list[int]) -> list[tuple[torch.Tensor, ...]]:
        z = self.net.encoder(x)
        return [dec(part) for dec, part in zip(self.net.decoders, z.split(counts))]


def clock(kind: str) -> Callable[[], float]:
    """Seconds for a time budget: wall (monotonic), or cpu: this process's CPU seconds over its
    thread count, which equals wall time on an idle machine and does not stretch on a busy one."""
    if kind == "wall":
        return time.monotonic
    if kind == "cpu":
        return lambda: time.process_time() / max(torch.get_num_threads(), 1)
    raise FaceplateError(f"unknown clock {kind!r}: use wall or cpu")


def learning_rate(config: TrainConfig, step: int, fraction: float) -> float:
    """Rate for ``step`` (0-based, counted from the model's start or its newest rung's) when
    ``fraction`` of the run is done: a linear warm-up over the first ``warmup_steps``, then
    constant or a cosine down to ``min_lr`` × rate."""
    rate = config.learning_rate
    if config.warmup_steps > 0:
        rate *= min(1.0, (step + 1) / config.warmup_steps)
    if config.schedule == "cosine":
        f = min(max(fraction, 0.0), 1.0)
        rate *= config.min_lr + (1.0 - config.min_lr) * 0.5 * (1.0 + math.cos(math.pi * f))
    elif config.schedule != "constant":
        raise FaceplateError(f"unknown schedule {config.schedule!r}: use cosine or constant")
    return rate


class _Stopper:
    """Turns SIGINT/SIGTERM into a flag checked once per step (main thread only)."""

    def __init__(self, stop_event: threading.Event | None):
        self.event = stop_event
        self.signalled = False
        self._old: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signalled:  # a second Ctrl-C while saving: give up at once
            raise KeyboardInterrupt
        self.signalled = True
        log.warning("stopping: saving a checkpoint before exit (press Ctrl-C again to abort)")

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    @property
    def reason(self) -> str | None:
        if self.signalled:
            return "signal"
        if self.event is not None and self.event.is_set():
            return "stop_event"
        return None


class Trainer:
    def __init__(self, config: TrainConfig, group: Group, device: torch.device):
        self.config, self.group, self.device = config, group, device
        self.ckpt_dir = ckpt.folder(config.model_dir)
        self.card, self.net, resumed = self._model()
        self.sets = load_facesets({n: config.facesets[n] for n in self.card.identities},
                                  self.card.resolution)
        if config.colour_match:
            target = next((s for s in self.sets if s.name == config.colour_match), None)
            if target is None:
                raise FaceplateError(f"--colour-match {config.colour_match!r} is not one of "
                                     f"the identities {', '.join(self.card.identities)}")
            for s in self.sets:
                if s is not target:
                    match_colour(s, target)
        face_type = self.sets[0].face_type
        if resumed is None and self.card.iterations == 0:
            self.card.face_type = face_type
        elif face_type != self.card.face_type:
            raise FaceplateError(f"model {config.model_dir} was trained on {self.card.face_type} "
                                 f"crops but these face sets are {face_type}: extract them with "
                                 f"--face-type {self.card.face_type}")
        self.card.fingerprints = {s.name: s.fingerprint for s in self.sets}
        self.card.facesets = {s.name: os.path.abspath(s.folder) for s in self.sets}
        self.faces = [torch.from_numpy(s.pixels).permute(0, 3, 1, 2).contiguous().to(device)
                      for s in self.sets]
        if self.card.iterations and config.holdout != self.card.holdout:
            log.warning("this model was trained holding out %g of each set, now %g: faces it "
                        "trained on may be scored as held out", self.card.holdout, config.holdout)
        splits = [s.split(config.holdout) for s in self.sets]
        self.train_idx = [torch.from_numpy(train) for train, _ in splits]
        self.card.holdout = config.holdout
        self.card.held_out = {s.name: len(held) for s, (_, held) in zip(self.sets, splits)}
        if resumed is None and self.card.iterations == 0:  # a new model: its mean faces
            for decoder, faces, idx in zip(self.net.decoders, self.faces, self.train_idx):
                cast(Decoder, decoder).start_prior(faces[idx.to(device), :4].float().mean(0)
                                                   / 255.0)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.net.to(device=device, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.ema_net = self._ema_start()
        self.joint: nn.Module = Joint(self.net)
        self.dtype, self.precision_note = self._precision()
        if group.world > 1:
            self.joint = nn.parallel.DistributedDataParallel(self.joint)
        self.step_fn: nn.Module | Callable = torch.compile(self.joint) if config.compile \
            else self.joint
        self.optim = torch.optim.Adam(self.net.parameters(), lr=config.learning_rate,
                                      betas=(0.5, 0.999))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype is torch.float16)
        self.gen = torch.Generator().manual_seed(config.seed + 1)
        self.step, self.elapsed = self.card.iterations, 0.0
        self.run_s = 0.0  # this run's time so far on the budget's clock
        self.clock_before = 0.0  # earlier runs' time since the newest rung began (or the start)
        self.history: list[dict] = []
        self.window: list[list[float]] = []  # losses of the steps since the last history row
        if resumed is not None:
            self._restore(resumed)

    def _ema_start(self) -> AutoEncoder | None:
        """The weight average inference uses, started from the current weights."""
        self.card.ema = self.config.ema
        if not self.config.ema:
            return None
        average = copy.deepcopy(self.net)
        average.requires_grad_(False)
        return average

    def _precision(self) -> tuple[torch.dtype | None, str]:
        """The autocast format (None: fp32); ``auto`` on a CPU measures (rank 0's choice holds
        for every rank)."""
        c = self.config
        step = None
        if c.precision == "auto" and self.device.type == "cpu" and self.group.is_main:
            step = prec.probe_step(self.joint, self.card.resolution, c.batch_size,
                                   len(self.sets), self.device)
        shape = (f"{self.card.resolution}px enc {self.card.encoder_widths} latent "
                 f"{self.card.latent} bridge {self.card.bridge} dec {self.card.decoder_widths}"
                 f"x{self.card.decoder_blocks} batch {c.batch_size}x{len(self.sets)}"
                 + (f" grown {self.card.grow_widths}" if self.card.grow_widths else ""))
        dtype, note = prec.choose(c.precision, self.device, step, shape)
        if c.precision == "auto" and self.device.type == "cpu" and self.group.world > 1:
            bf16 = self.group.from_main(1.0 if dtype is torch.bfloat16 else 0.0)
            dtype = torch.bfloat16 if bf16 > 0.5 else None
            note = note if self.group.is_main else "auto: rank 0's choice"
        log.info("precision %s", note)
        return dtype, note

    @property
    def inference_net(self) -> AutoEncoder:
        return self.ema_net if self.ema_net is not None else self.net

    # -- model folder ------------------------------------------------------------------------
    def _model(self) -> tuple[ModelCard, AutoEncoder, ckpt.Checkpoint | None]:
        config = self.config
        card, resumed = ckpt.newest_card(config.model_dir)
        if card is None:  # a new model
            if not config.consent.strip():
                raise FaceplateError(
                    "a new model needs a consent note: say under what permission these faces "
                    "are used (--consent \"...\"); it is stored in the model card")
            if len(config.facesets) < 2:
                raise FaceplateError("training needs two or more face sets: --faceset A=DIR "
                                     "--faceset B=DIR")
            card = config.new_card()
            if config.grow_to:  # made to grow: its first size is a rung with a budget
                card.ladder = [card.resolution]
            torch.manual_seed(config.seed)
            return card, AutoEncoder(card), None
        if sorted(card.identities) != sorted(config.facesets):
            raise FaceplateError(
                f"model {config.model_dir} was trained on identities "
                f"{', '.join(card.identities)}; give a --faceset for each of those (got "
                f"{', '.join(config.facesets)}), or use a new -m folder")
        net = AutoEncoder(card)
        if resumed is None:  # an exported or freshly created model: start from its weights
            net.load_state_dict(load_weights(os.path.join(config.model_dir, WEIGHTS)))
        else:
            log.info("resuming %s from step %d", config.model_dir, resumed.step)
        return card, net, resumed

    def _restore(self, c: ckpt.Checkpoint) -> None:
        t = c.tensors
        try:
            self.net.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")})
        except RuntimeError as exc:
            raise ModelError(f"checkpoint {c.path} does not match the model card "
                             f"({str(exc).splitlines()[0]})") from None
        if self.ema_net is not None:  # a checkpoint without an average starts it from the weights
            average = {k[4:]: v for k, v in t.items() if k.startswith("ema.")}
            self.ema_net.load_state_dict(average or self.net.state_dict())
        state = {}
        for i, p in enumerate(self.net.parameters()):
            keys = [k for k in ("step", "exp_avg", "exp_avg_sq") if f"optim.{i}.{k}" in t]
            if keys:
                state[i] = {k: t[f"optim.{i}.{k}"].to(p.device) if k != "step"
                            else t[f"optim.{i}.{k}"] for k in keys}
        if "param_groups" in c.meta:  # not in a checkpoint just grown: a fresh optimiser
            self.optim.load_state_dict({"state": state, "param_groups": c.meta["param_groups"]})
        for group in self.optim.param_groups:  # a resumed run may lower the rate (--lr)
            group["lr"] = self.config.learning_rate
        self.gen.set_state(t["rng.sampler"])
        if c.meta.get("scaler"):
            self.scaler.load_state_dict(c.meta["scaler"])
        self.step, self.elapsed = c.step, float(c.meta.get("elapsed_s", 0.0))
        self.clock_before = float(c.meta.get("rung_clock_s", 0.0))
        self.history = [row for row in c.meta.get("history", []) if row["step"] <= c.step]
        self.window = c.meta.get("window", [])

    def save(self) -> None:
        """Checkpoint, then export the weights and card (rank 0 only)."""
        if not self.group.is_main:
            return
        tensors = {f"model.{k}": v for k, v in self.net.state_dict().items()}
        if self.ema_net is not None:
            tensors.update({f"ema.{k}": v for k, v in self.ema_net.state_dict().items()})
        optim_state = self.optim.state_dict()
        for i, s in optim_state["state"].items():
            for k, v in s.items():
                tensors[f"optim.{i}.{k}"] = torch.as_tensor(v)
        tensors["rng.sampler"] = self.gen.get_state()
        self.card.iterations = self.step
        meta = {"param_groups": optim_state["param_groups"], "elapsed_s": self.elapsed,
                "run_clock_s": self.run_s, "rung_clock_s": self.clock_before + self.run_s,
                "history": self.history, "window": self.window, "card": self.card.to_dict(),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None}
        ckpt.save_checkpoint(self.ckpt_dir, self.step, tensors, meta, self.config.keep_checkpoints)
        save_model(self.config.model_dir, self.card, self.inference_net)

    # -- one step ----------------------------------------------------------------------------
    def train_step(self, fraction: float = 0.0) -> list[float]:
        """One step; ``fraction`` of the run is done (for the learning-rate schedule)."""
        rung_step = self.step - self.card.grown_at  # a grown rung warms up and averages anew
        rate = learning_rate(self.config, rung_step, fraction)
        for group in self.optim.param_groups:
            group["lr"] = rate
        fade = self.card.fade(self.step + 1)  # what the weights after this step are trained at
        for net in (self.net, self.ema_net):
            if net is not None:
                net.set_fade(fade)
        n = self.config.batch_size * self.group.world
        shard = self.group.shard(n)
        batches = []
        for faces, idx in zip(self.faces, self.train_idx):
            pick = idx[torch.randint(len(idx), (n,), generator=self.gen)]
            batches.append(make_batch(faces, pick, self.gen, self.config.augment, shard))
        x = torch.cat([b.input for b in batches]).contiguous(memory_format=self.memory_format)
        counts = [len(b.input) for b in batches]
        self.net.train()
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            outputs = self.step_fn(x, counts)
        losses = [face_loss(face, mask, b, self.config.loss)
                  for (face, mask), b in zip(outputs, batches)]
        self.optim.zero_grad(set_to_none=True)
        self.scaler.scale(torch.stack(losses).sum()).backward()
        if self.config.grad_clip > 0:
            self.scaler.unscale_(self.optim)
            nn.utils.clip_grad_norm_(self.net.parameters(), self.config.grad_clip)
        self.scaler.step(self.optim)
        self.scaler.update()
        if self.ema_net is not None:
            # Average from the first step, its decay ramping up (early weights are poor).
            decay = min(self.config.ema, (1 + rung_step) / (10 + rung_step))
            torch._foreach_lerp_(list(self.ema_net.parameters()), list(self.net.parameters()),
                                 1.0 - decay)
        return self.group.all_mean(torch.stack([v.detach() for v in losses])).tolist()

    # -- watching ----------------------------------------------------------------------------
    def preview_samples(self, k: int = 3) -> list[np.ndarray]:
        out = []
        for s in self.sets:
            train, held = s.split(self.config.holdout)
            pool = held if len(held) >= k else train
            pick = pool[np.linspace(0, len(pool) - 1, min(k, len(pool))).round().astype(int)]
            out.append(s.pixels[pick, ..., :3].astype(np.float32) / 255.0)
        return out

    @torch.no_grad()
    def decode(self, crops: np.ndarray, identity: int) -> tuple[np.ndarray, np.ndarray]:
        net = self.inference_net
        net.eval()
        x = torch.from_numpy(crops).permute(0, 3, 1, 2).to(self.device)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            face, mask = net(x, identity)
        return (face.float().permute(0, 2, 3, 1).cpu().numpy(),
                mask.float()[:, 0].cpu().numpy())

    def write_watch_files(self, samples: list[np.ndarray]) -> None:
        if not self.group.is_main:
            return
        sheet = preview_sheet(self.card.identities, samples, self.decode)
        folder = os.path.join(self.config.model_dir, "previews")
        write_png(os.path.join(folder, f"preview_{self.step:08d}.png"), sheet)
        write_png(self.preview_path, sheet)
        if self.history:
            write_loss_csv(os.path.join(self.config.model_dir, "loss.csv"), self.history,
                           self.card.identities)
            write_loss_plot(self.plot_path, self.history, self.card.identities)

    @property
    def preview_path(self) -> str:
        return os.path.join(self.config.model_dir, layout.MODEL_PREVIEW)

    @property
    def plot_path(self) -> str:
        return os.path.join(self.config.model_dir, layout.MODEL_LOSS_PLOT)

    def record(self, losses: list[float]) -> dict[str, float] | None:
        """Average losses over ``log_every`` steps into one history row."""
        self.window.append(losses)
        if len(self.window) < self.config.log_every:
            return None
        mean = np.mean(self.window, axis=0)
        self.window = []
        row = {"step": self.step, "elapsed_s": round(self.elapsed, 3),
               **{f"loss_{n}": float(v) for n, v in zip(self.card.identities, mean)}}
        self.history.append(row)
        return {n: float(v) for n, v in zip(self.card.identities, mean)}


def train(config: TrainConfig, progress_listener: Listener | None = None,
          stop_event: threading.Event | None = None, *, progress_stream=None) -> TrainResult:
    """Train (or resume) ``config.model_dir``; see the module docstring for when it stops."""
    device = resolve_device(config.device)
    group = join(device)
    if group.world > 1 and device.type == "cuda":
        device = torch.device("cuda", group.local_rank)
    try:
        if config.grow_to:
            return _climb(config, group, device, progress_listener, stop_event, progress_stream)
        return _run(config, group, device, progress_listener, stop_event, progress_stream)
    finally:
        group.close()


def _climb(config: TrainConfig, group: Group, device: torch.device,
           listener: Listener | None, stop_event: threading.Event | None,
           stream) -> TrainResult:
    """``--grow-to``: train a new model's first size, or finish the rung a killed run was in,
    then grow and train one rung at a time up to the size (train/grow.py); the result sums
    this run's rungs."""
    card, found = ckpt.newest_card(config.model_dir)
    grow.check(config, card)
    results: list[TrainResult] = []
    while True:
        clock_s = grow.spent(found)
        if card and card.resolution < (config.grow_to or 0) and \
                grow.finished(config, card, clock_s):
            if group.is_main:
                grow.grow_once(config, card, found)
            group.barrier()
        else:
            results.append(_run(grow.rung_config(config, card, clock_s), group, device,
                                listener, stop_event, stream))
            if (card and card.resolution >= (config.grow_to or 0)) or \
                    results[-1].stopped_by not in ("max_steps", "time_budget"):
                break
        card, found = ckpt.newest_card(config.model_dir)
    last = results[-1]
    return replace(last, steps_this_run=sum(r.steps_this_run for r in results),
                   elapsed_s=round(sum(r.elapsed_s for r in results), 2),
                   cpu_s=round(sum(r.cpu_s for r in results), 2))


def _run(config: TrainConfig, group: Group, device: torch.device,
         listener: Listener | None, stop_event: threading.Event | None,
         stream) -> TrainResult:
    trainer = Trainer(config, group, device)
    for s in trainer.sets:
        log.info("%s: training on %d faces, holding %d out for evaluation (--holdout %g)",
                 s.name, len(s) - trainer.card.held_out[s.name], trainer.card.held_out[s.name],
                 config.holdout)
    samples = trainer.preview_samples()
    start_step = trainer.step
    total = max(config.max_steps - start_step, 0) if config.max_steps else 0
    progress = Progress("train", total, "steps", listener,
                        stream if group.is_main else None)
    recent = {n: float("nan") for n in trainer.card.identities}
    now = clock(config.clock)
    started, cpu_started = now(), time.process_time()
    stopped_by = ""
    last_saved, saved_at = -1, 0.0
    with _Stopper(stop_event) as stopper:
        while True:
            run_s = now() - started
            reason = _stop_reason(config, trainer.step, run_s, recent, stopper.reason)
            # One collective per step: any rank stopping stops them all, and every rank
            # follows the same learning-rate schedule.
            shared = group.all_mean(torch.tensor([1.0 if reason else 0.0,
                                                  _fraction(config, trainer.step, run_s,
                                                            trainer.card.grown_at)]))
            if shared[0].item() > 0:
                stopped_by = reason or "peer"
                break
            t0 = time.monotonic()
            losses = trainer.train_step(shared[1].item())
            if not all(math.isfinite(v) for v in losses):
                raise FaceplateError(
                    f"training diverged at step {trainer.step + 1} (loss is not a number): "
                    f"lower --lr; running again resumes from the last checkpoint")
            trainer.step += 1
            trainer.elapsed += time.monotonic() - t0
            trainer.run_s = now() - started
            averaged = trainer.record(losses)
            if averaged:
                recent = averaged
            if config.time_budget_s and not config.max_steps:  # ETA from the time budget
                spent = now() - started  # mean step time: a steadier ETA
                per_step = spent / max(trainer.step - start_step, 1)
                left = max(config.time_budget_s - spent, 0.0)
                progress.total = progress.done + 1 + math.ceil(left / per_step)
            progress.advance(1, "  ".join(f"{n} {v:.4f}" for n, v in
                                          zip(trainer.card.identities, losses)))
            if config.preview_every and trainer.step % config.preview_every == 0:
                trainer.write_watch_files(samples)
            timed = config.checkpoint_every_s and now() - started - saved_at >= \
                config.checkpoint_every_s
            if (config.checkpoint_every and trainer.step % config.checkpoint_every == 0) \
                    or timed:
                trainer.save()
                last_saved, saved_at = trainer.step, now() - started
        if last_saved != trainer.step or trainer.step == start_step:
            trainer.save()
        trainer.write_watch_files(samples)
        group.barrier()
    if trainer.window:  # steps since the last history row
        recent = dict(zip(trainer.card.identities, np.mean(trainer.window, axis=0).tolist()))
    run_s = now() - started
    done = trainer.step - start_step
    images = done * config.batch_size * group.world * len(trainer.sets)
    progress.finish()
    return TrainResult(config.model_dir, trainer.step, done, stopped_by, recent,
                       round(run_s, 2), round(images / run_s, 2) if run_s > 0 else 0.0,
                       trainer.preview_path, trainer.plot_path, trainer.card.preset,
                       trainer.precision_note, dict(trainer.card.held_out),
                       round(time.process_time() - cpu_started, 2), group.world, group.rank,
                       list(trainer.card.ladder))


def _fraction(config: TrainConfig, step: int, run_s: float, start: int = 0) -> float:
    """How much of the run is done: of max_steps (counted from the model's ``start``, 0 or the
    step its newest rung was added at, so a resumed run follows the schedule an unbroken one
    would) or of this run's time budget."""
    done = 0.0
    if config.max_steps:
        done = (step - start) / max(config.max_steps - start, 1)
    if config.time_budget_s:
        done = max(done, run_s / config.time_budget_s)
    return done


def _stop_reason(config: TrainConfig, step: int, run_s: float, recent: dict[str, float],
                 interrupt: str | None) -> str | None:
    if interrupt:
        return interrupt
    if config.max_steps is not None and step >= config.max_steps:
        return "max_steps"
    if config.time_budget_s is not None and run_s >= config.time_budget_s:
        return "time_budget"
    if config.loss_target is not None and all(v <= config.loss_target for v in recent.values()):
        return "loss_target"
    return None

