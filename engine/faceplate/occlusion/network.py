"""A small U-Net that finds occluders in an aligned face crop (RGB in, occluder logit out)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout),
                         nn.LeakyReLU(0.1, inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(4, cout),
                         nn.LeakyReLU(0.1, inplace=True))


class OcclusionNet(nn.Module):
    """Four levels (``width``, 2×, 4×, 6× channels); input sides must be multiples of 8."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = (width, 2 * width, 4 * width, 6 * width)
        self.down = nn.ModuleList([_block(3, w[0]), _block(w[0], w[1]), _block(w[1], w[2]),
                                   _block(w[2], w[3])])
        self.up = nn.ModuleList([_block(w[3] + w[2], w[2]), _block(w[2] + w[1], w[1]),
                                 _block(w[1] + w[0], w[0])])
        self.head = nn.Conv2d(w[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        return self.head(x)
