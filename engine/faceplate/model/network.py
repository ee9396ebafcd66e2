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

A grown model (cards from version 4, ``ladder``: e.g. 64 → 128 → 256) keeps the network it was
first built as and adds one rung per doubling: in each decoder an upscale to the new size with
its own RGB + mask head, whose logits are added to the 2× upscale of the smaller size's (and the
face prior, upscaled, lives at the final size); in the encoder, in front, a strided stage whose
image is added to the 2× downscale of its input. Both new paths start at zero (their last layer
is zero) and are scaled by ``fade``, which ramps from 0 to 1 over the card's ``fade_steps``:
the grown model starts as the smaller one upscaled and learns only the finer detail.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
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


def _zero(conv: nn.Conv2d) -> nn.Conv2d:
    nn.init.zeros_(conv.weight)
    assert conv.bias is not None  # built with a bias
    nn.init.zeros_(conv.bias)
    return conv


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class EncoderRung(nn.Sequential):
    """A grown encoder's stage at twice the size: a strided 5×5 stage and a 1×1 back to an
    image, added to the input's 2× downscale (zero at first)."""

    def __init__(self, width: int):
        super().__init__(nn.Conv2d(3, width, 5, stride=2, padding=2), _act(),
                         _zero(nn.Conv2d(width, 3, 1)))


class DecoderRung(nn.Module):
    """A grown decoder's stage at twice the size: an upscale and an RGB + mask head (zero at
    first) whose logits are added to the smaller size's, upscaled."""

    def __init__(self, cin: int, width: int):
        super().__init__()
        self.up = Upscale(cin, width)
        self.head = _zero(nn.Conv2d(width, 4, 5, padding=2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features at twice the size, and their RGB + mask logits."""
        x = self.up(x)
        return x, self.head(x)


class Encoder(nn.Module):
    def __init__(self, card: ModelCard):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for w in card.encoder_widths:
            layers += [nn.Conv2d(cin, w, 5, stride=2, padding=2), _act()]
            cin = w
        self.convs = nn.Sequential(*layers)
        self.rungs = nn.ModuleList(EncoderRung(w) for w in card.grow_widths)
        self.fade = card.fade()  # of the newest rung; the older ones are whole
        self.grid = card.base_resolution // 2 ** len(card.encoder_widths)
        self.bridge = card.bridge
        self.to_latent = nn.Linear(cin * self.grid ** 2, card.latent)
        self.from_latent = nn.Linear(card.latent, card.bridge * self.grid ** 2)
        self.upscale = Upscale(card.bridge, card.bridge)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k in reversed(range(len(self.rungs))):  # the largest (newest) first
            alpha = self.fade if k == len(self.rungs) - 1 else 1.0
            x = F.avg_pool2d(x, 2) + alpha * self.rungs[k](x)
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
        self.rungs = nn.ModuleList(DecoderRung(a, b) for a, b in
                                   zip([cin, *card.grow_widths], card.grow_widths))
        self.fade = card.fade()
        self.prior: nn.Parameter | None = None
        if card.face_prior:  # logits of the face (RGB) and the mask; see the module docstring
            size = card.resolution
            self.prior = nn.Parameter(torch.zeros(4, size, size))
            _zero(self.face)
            _zero(self.mask)

    def start_prior(self, mean: torch.Tensor) -> None:
        """Start the prior at ``mean`` (4×S×S, 0–1: the identity's mean face RGB and mask)."""
        if self.prior is not None:
            with torch.no_grad():
                self.prior.copy_(torch.logit(mean.clamp(0.01, 0.99)))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.body(z)
        face, mask = self.face(x), self.mask(x)
        for k, rung in enumerate(self.rungs):
            x, detail = rung(x)
            if k == len(self.rungs) - 1:
                detail = detail * self.fade
            face, mask = _up(face) + detail[:, :3], _up(mask) + detail[:, 3:]
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

    def set_fade(self, fade: float) -> None:
        """Scale the newest rung's paths by ``fade`` (the card's ``fade(step)``)."""
        for module in (self.encoder, *self.decoders):
            module.fade = fade


def grow(card: ModelCard, state: dict[str, torch.Tensor], width: int, fade_steps: int,
         seed: int = 0) -> tuple[ModelCard, dict[str, torch.Tensor]]:
    """``card`` and its weights grown one rung to twice the size: the new rung's layers of
    ``width`` channels (random from ``seed``, their last layers zero), fading in over
    ``fade_steps`` steps from the card's iterations, the face priors upscaled."""
    size = card.resolution * 2
    grown = replace(card, resolution=size, ladder=[*(card.ladder or [card.resolution]), size],
                    grow_widths=[*card.grow_widths, width], grown_at=card.iterations,
                    fade_steps=fade_steps).validate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        new = AutoEncoder(grown).state_dict()
    for key, value in state.items():
        new[key] = _up(value[None])[0] if key.endswith(".prior") else value
    return grown, new


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
