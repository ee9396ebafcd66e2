"""The training loss: structural dissimilarity plus L1 inside the face mask, with extra weight
on the eyes and mouth, and a loss for the mask head."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .augment import Batch
from .config import LossWeights


def _gaussian_window(size: int, sigma: float, device, dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, size, size).contiguous()


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM (N×3×H×W) with a Gaussian window, values in 0–1 images."""
    w = _gaussian_window(window, sigma, x.device, x.dtype)
    pad = window // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, [pad] * 4, mode="reflect"), w, groups=3)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def pixel_weights(batch: Batch, weights: LossWeights) -> torch.Tensor:
    w = batch.mask * (1.0 + (weights.eyes_mouth - 1.0) * batch.region)
    return w + weights.outside * (1.0 - batch.mask)


def face_loss(face: torch.Tensor, mask: torch.Tensor, batch: Batch,
              weights: LossWeights) -> torch.Tensor:
    """Scalar loss of one identity's decoder output against its batch (float32 maths)."""
    face, mask = face.float(), mask.float()
    w = pixel_weights(batch, weights)
    norm = w.sum() * 3 + 1e-6
    dssim = ((1.0 - ssim_map(face, batch.target)) / 2 * w).sum() / norm
    l1 = ((face - batch.target).abs() * w).sum() / norm
    mask_loss = F.mse_loss(mask, batch.mask)
    return weights.dssim * dssim + weights.l1 * l1 + weights.mask * mask_loss
