"""The networks: one shared encoder, one decoder per identity with a face head and a mask head.

Encoder: 5×5 stride-2 convolutions (one per ``encoder_widths`` entry) down to an s×s grid,
a dense bottleneck (``latent``), a dense layer back to s×s and one sub-pixel upscale. Each
decoder: sub-pixel upscales (3×3 conv to 4× channels, then depth-to-space) through
``decoder_widths`` up to the full resolution, each followed by ``decoder_blocks`` residual
blocks (0 in cards written before version 2), then a 5×5 sigmoid RGB head and mask head.
With ``face_prior`` (cards from version 3) each head adds a learned image, started at the
identity's mean training face and mask, to its logits, and the heads start at zero: a new
model answers with the mean face at once and spends its training on what differs from it,
where a network started from noise first spends minutes learning the average (bench/quality.py).
Swapping = encode a face of A, decode with B's decoder.
"""

from __future__ import annotations

import torch
from torch import nn

from .card import ModelCard


def _act() -> nn.Module:
    return nn.LeakyReLU(0.1, inplace=True)


class Upscale(nn.Sequential):
    """×2 sub-pixel upscale: conv to 4×out channels, then depth-to-space (no checkerboard)."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cout * 4, 3, padding=1), _act(), nn.PixelShuffle(2))


class Residual(nn.Module):
    """Two 3×3 convolutions added to their input: detail without another upscale."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1),
                                  nn.LeakyReLU(0.2, inplace=True),
                                  nn.Conv2d(width, width, 3, padding=1))
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class Encoder(nn.Module):
    def __init__(self, card: ModelCard):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for w in card.encoder_widths:
            layers += [nn.Conv2d(cin, w, 5, stride=2, padding=2), _act()]
            cin = w
        self.convs = nn.Sequential(*layers)
        self.grid = card.resolution // 2 ** len(card.encoder_widths)
        self.bridge = card.bridge
        self.to_latent = nn.Linear(cin * self.grid ** 2, card.latent)
        self.from_latent = nn.Linear(card.latent, card.bridge * self.grid ** 2)
        self.upscale = Upscale(card.bridge, card.bridge)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x).flatten(1)
        x = self.from_latent(self.to_latent(x))
        x = x.view(-1, self.bridge, self.grid, self.grid)
        return self.upscale(x)


class Decoder(nn.Module):
    def __init__(self, card: ModelCard):
        super().__init__()
        layers: list[nn.Module] = []
        cin = card.bridge
        for w in card.decoder_widths:
            layers.append(Upscale(cin, w))
            layers += [Residual(w) for _ in range(card.decoder_blocks)]
            cin = w
        self.body = nn.Sequential(*layers)
        self.face = nn.Conv2d(cin, 3, 5, padding=2)
        self.mask = nn.Conv2d(cin, 1, 5, padding=2)
        self.prior: nn.Parameter | None = None
        if card.face_prior:  # logits of the face (RGB) and the mask; see the module docstring
            size = card.resolution
            self.prior = nn.Parameter(torch.zeros(4, size, size))
            for head in (self.face, self.mask):
                assert head.bias is not None  # the heads are built with a bias
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)

    def start_prior(self, mean: torch.Tensor) -> None:
        """Start the prior at ``mean`` (4×S×S, 0–1: the identity's mean face RGB and mask)."""
        if self.prior is not None:
            with torch.no_grad():
                self.prior.copy_(torch.logit(mean.clamp(0.01, 0.99)))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.body(z)
        face, mask = self.face(x), self.mask(x)
        if self.prior is not None:
            face, mask = face + self.prior[:3], mask + self.prior[3:]
        return torch.sigmoid(face), torch.sigmoid(mask)


class AutoEncoder(nn.Module):
    """``forward(x, identity)`` → (face N×3×S×S, mask N×1×S×S), both 0–1."""

    def __init__(self, card: ModelCard):
        super().__init__()
        card.validate()
        self.encoder = Encoder(card)
        self.decoders = nn.ModuleList(Decoder(card) for _ in card.identities)

    def forward(self, x: torch.Tensor, identity: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoders[identity](self.encoder(x))


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
