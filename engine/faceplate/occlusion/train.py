"""Train a shot's occlusion network on the artist's labelled frames.

Few labels go far because the aligned crop holds the face still; on top of the face-model
trainer's own augmentation (:func:`faceplate.train.augment.make_batch`: flip, rotation, scale,
shift, lighting; no grid warp, so the label stays on its pixels) each batch pastes the labelled
occluders of other faces at random offsets, so the network sees the object in places the
artist never painted. A new version starts from the previous version's weights.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FaceplateError
from ..extract import alignments as alignments_io
from ..io.sequence import open_plate
from ..model.store import resolve_device
from ..progress import Listener, Progress
from ..settings import Settings, setting
from ..train.augment import Augment, make_batch
from . import store
from .data import Labels, ShotFrames, labelled_crops
from .network import OcclusionNet

log = logging.getLogger(__name__)
AUGMENT = Augment(rotation_deg=15.0, scale=0.10, shift=0.08, flip=0.5, brightness=0.08,
                  colour=0.04, contrast=0.10, warp=0.0)


@dataclass(frozen=True)
class OcclusionTrainSettings(Settings):
    """How the occlusion network is trained; each field is a ``faceplate occlusion train``
    flag."""

    KIND = "occlusion"

    size: int = setting(96, "aligned crop side the network sees, a multiple of 8",
                        bounds=(32, 256))
    width: int = setting(12, "network width (channels of its first level)", bounds=(4, 64))
    steps: int = setting(600, "training steps (the learning-rate schedule spans them)",
                         bounds=(1, 100000))
    minutes: float = setting(10.0, "stop at this wall time even before --steps",
                             bounds=(0.05, 24 * 60))
    batch_size: int = setting(8, "faces per step", bounds=(1, 256))
    lr: float = setting(2e-3, "peak learning rate (warm-up, then cosine to the end of the "
                        "steps or the time, whichever comes first)", bounds=(1e-6, 1.0))
    paste: float = setting(0.6, "chance a face gets another face's occluder pasted on",
                           bounds=(0.0, 1.0))
    seed: int = setting(0, "random seed", bounds=(0, 2**31 - 1))
    device: str = setting("auto", "auto, cpu or cuda[:N]")

    def check(self) -> None:
        if self.size % 8:
            raise FaceplateError(f"occlusion size must be a multiple of 8, not {self.size}")


@dataclass
class OcclusionTrainResult:
    version: str
    card: store.OcclusionCard


def train_occlusion(plate: str, shot_dir: str, labels: Labels,
                    settings: OcclusionTrainSettings = OcclusionTrainSettings(),
                    progress_listener: Listener | None = None,
                    progress_stream=None) -> OcclusionTrainResult:
    device = resolve_device(settings.device)
    torch.manual_seed(settings.seed)
    shot = alignments_io.load(shot_dir)
    frames = ShotFrames(open_plate(plate, list(labels.frames)), shot, settings.size)
    images, mattes = labelled_crops(frames, labels)
    faces = torch.from_numpy(np.concatenate(
        [images.transpose(0, 3, 1, 2), mattes[:, None], np.zeros_like(mattes)[:, None]], 1))

    net = OcclusionNet(settings.width)
    parent = ""
    previous = store.versions(shot_dir)
    if previous:
        old = store.read_card(previous[-1])
        if (old.size, old.width) == (settings.size, settings.width):
            _, net = store.load(previous[-1])
            parent = os.path.basename(previous[-1])
            log.info("occlusion: starting from %s", parent)
    net = net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    gen = torch.Generator().manual_seed(settings.seed)
    progress = Progress("occlusion", settings.steps, "steps", progress_listener, progress_stream)
    start, loss_avg, step = time.monotonic(), 0.0, 0
    budget_s = settings.minutes * 60
    for step in range(1, settings.steps + 1):
        # Warm up, then cosine down, over whichever runs out first: the steps or the time.
        done = max((step - 1) / settings.steps, (time.monotonic() - start) / budget_s)
        if done >= 1.0:
            log.info("occlusion: time budget reached at step %d", step)
            step -= 1
            break
        for group in opt.param_groups:
            group["lr"] = settings.lr * _schedule(done)
        pick = torch.randint(len(faces), (settings.batch_size,), generator=gen)
        batch = make_batch(_paste(faces, pick, gen, settings.paste), torch.arange(len(pick)),
                           gen, AUGMENT)
        logits = net(batch.input.to(device))
        loss = _loss(logits, batch.mask.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.detach())
        loss_avg = 0.9 * loss_avg + 0.1 * value if step > 1 else value
        progress.advance(1, f"loss {loss_avg:.4f}")
    net.eval()
    card = store.OcclusionCard(settings.size, settings.width, shot.face_type, labels, step,
                               round(time.monotonic() - start, 1), round(loss_avg, 5),
                               round(_label_iou(net, images, mattes, device), 4), parent)
    version = store.new_version(shot_dir)
    store.save(version, card, net)
    return OcclusionTrainResult(version, card)


def _schedule(done: float, warmup: float = 0.1) -> float:
    """Learning-rate factor at fraction ``done`` of the run: linear warm-up, cosine decay."""
    if done < warmup:
        return (done + 0.01) / (warmup + 0.01)
    return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * (done - warmup) / (1.0 - warmup)))


def _paste(faces: torch.Tensor, pick: torch.Tensor, gen: torch.Generator,
           chance: float) -> torch.Tensor:
    """The picked faces, some with another labelled face's occluder pasted at an offset."""
    out = faces[pick].clone()
    n, s = len(pick), faces.shape[-1]
    donors = torch.randint(len(faces), (n,), generator=gen)
    shifts = torch.randint(-s // 3, s // 3 + 1, (n, 2), generator=gen)
    paste = torch.rand(n, generator=gen) < chance
    for i in torch.nonzero(paste).flatten().tolist():
        donor = torch.roll(faces[donors[i]], tuple(shifts[i].tolist()), dims=(1, 2)).float()
        a = donor[3:4] / 255.0
        out[i, :3] = (out[i, :3].float() * (1 - a) + donor[:3] * a).round().to(torch.uint8)
        out[i, 3] = torch.maximum(out[i, 3], donor[3].to(torch.uint8))
    return out


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice (the occluder is often a small part of the crop)."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * target).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)
    return bce + dice.mean()


@torch.no_grad()
def predict_crops(net: OcclusionNet, crops: np.ndarray, device: torch.device | str = "cpu",
                  batch: int = 16) -> np.ndarray:
    """Occluder mattes (N×S×S, 0–1) for network-space crops (N×S×S×3, float 0–1 or uint8)."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float()
    if crops.dtype == np.uint8:
        x = x / 255.0
    out = [torch.sigmoid(net(x[i:i + batch].to(device)))[:, 0].cpu()
           for i in range(0, len(x), batch)]
    return torch.cat(out).numpy() if out else np.zeros((0, *crops.shape[1:3]), np.float32)


def iou(pred: np.ndarray, truth: np.ndarray, where: np.ndarray | None = None) -> float:
    """Intersection over union of two mattes cut at 0.5 (1.0 when both are empty)."""
    p, t = pred > 0.5, truth > 0.5
    if where is not None:
        p, t = p & where, t & where
    union = np.count_nonzero(p | t)
    return 1.0 if union == 0 else np.count_nonzero(p & t) / union


def _label_iou(net: OcclusionNet, images: np.ndarray, mattes: np.ndarray,
               device: torch.device) -> float:
    pred = predict_crops(net, images, device)
    return float(np.mean([iou(p, m / 255.0) for p, m in zip(pred, mattes)]))
