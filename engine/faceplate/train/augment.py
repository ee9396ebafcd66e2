"""Batches cut and augmented on the training device, from one seeded CPU generator.

Every random number comes from ``torch.Generator`` on the CPU (its state is checkpointed), so a
resumed run draws exactly what an uninterrupted one would, on any device. Per face:
a flip and an affine jitter (rotation, scale, shift) applied to input and target alike, a
colour/lighting jitter applied to both, then a smooth random grid warp applied to the input
only: the decoder must produce the undistorted face, which is what makes swapping work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import Augment

# The spreads the field's tools train with by default (and Faceplate did before issue 11).
CLASSIC = Augment(rotation_deg=10.0, scale=0.05, shift=0.05, flip=0.5, brightness=0.08,
                  colour=0.04, contrast=0.10)


@dataclass
class Batch:
    input: torch.Tensor  # N×3×S×S warped, 0–1
    target: torch.Tensor  # N×3×S×S, 0–1
    mask: torch.Tensor  # N×1×S×S face mask, 0–1
    region: torch.Tensor  # N×1×S×S eyes and mouth, 0–1


def _uniform(gen: torch.Generator, n: int, spread: float, *shape: int) -> torch.Tensor:
    return (torch.rand((n, *shape), generator=gen) * 2 - 1) * spread


def make_batch(faces: torch.Tensor, indices: torch.Tensor, gen: torch.Generator,
               aug: Augment, shard: slice = slice(None)) -> Batch:
    """Augment ``faces[indices][shard]``; ``faces`` is uint8 N×5×S×S on the device (RGB, mask,
    region). Random numbers are drawn for all of ``indices`` whatever the shard, so every
    data-parallel rank advances the generator alike."""
    n = len(indices)
    # Every draw first, in a fixed order: flip, affine, lighting, warp.
    flip = torch.where(torch.rand(n, generator=gen) < aug.flip, -1.0, 1.0)
    angle = _uniform(gen, n, math.radians(aug.rotation_deg))
    scale = 1.0 + _uniform(gen, n, aug.scale)
    shift = _uniform(gen, n, aug.shift * 2, 2)
    gain = (1.0 + _uniform(gen, n, aug.brightness, 1, 1, 1)) * (
        1.0 + _uniform(gen, n, aug.colour, 3, 1, 1))
    contrast = 1.0 + _uniform(gen, n, aug.contrast, 1, 1, 1)
    offsets = _uniform(gen, n, aug.warp * 2, 2, aug.warp_grid, aug.warp_grid)

    device = faces.device
    x = faces[indices[shard].to(device)].float().div_(255.0)
    m = len(x)
    flip, angle, scale, shift = flip[shard], angle[shard], scale[shard], shift[shard]
    # Affine jitter and flip in normalised coordinates, shared by input and target.
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(device), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    # Lighting and colour: gain per face and per channel, and a contrast about the mean.
    rgb = x[:, :3]
    mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    target = ((rgb - mean) * contrast[shard].to(device) + mean) * gain[shard].to(device)
    target = target.clamp_(0.0, 1.0)
    # Smooth grid warp of the input only: coarse random offsets, upsampled bicubically.
    s = x.shape[-1]
    field = F.interpolate(offsets[shard].to(device), size=(s, s), mode="bicubic",
                          align_corners=True)
    base = F.affine_grid(torch.eye(2, 3, device=device).expand(m, 2, 3), [m, 3, s, s],
                         align_corners=False)
    warped = F.grid_sample(target, base + field.permute(0, 2, 3, 1), mode="bilinear",
                           padding_mode="reflection", align_corners=False)
    return Batch(warped, target, x[:, 3:4], x[:, 4:5])
