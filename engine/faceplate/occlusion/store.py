"""Versions of a shot's occlusion model: ``SHOTDIR/occlusion/vNNN/``."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass

import torch
from faceplate_client import documents, layout

from ..errors import FaceplateError
from ..io.atomic import write_json_atomic
from ..model.store import load_weights, save_weights
from .data import Labels
from .network import OcclusionNet

FOLDER = "occlusion"
CARD = layout.OCCLUSION_CARD
WEIGHTS = "occlusion.safetensors"
MATTE = "matte.####.exr"
SCHEMA = layout.OCCLUSION_SCHEMA
_VERSION = re.compile(r"v(\d{3,})$")


@dataclass
class OcclusionCard:
    """What one version was trained from and how well it fits its labels."""

    size: int  # aligned crop side the network sees
    width: int  # network width (see OcclusionNet)
    face_type: str
    labels: Labels
    steps: int = 0
    seconds: float = 0.0
    loss: float = 0.0
    label_iou: float = 0.0  # on the labelled faces themselves
    parent: str = ""  # the version it was initialised from

    def to_dict(self) -> dict:
        d = asdict(self)
        d["labels"] = self.labels.to_dict()
        return {"schema": SCHEMA, "version": layout.OCCLUSION_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict, source: str = "") -> OcclusionCard:
        """Schema and version checked by ``documents.read_document`` (``source``: the card's
        path, for messages)."""
        try:
            d = documents.read_document(d, SCHEMA, layout.OCCLUSION_VERSION, name=source)
        except documents.DocumentError as exc:
            raise FaceplateError(str(exc)) from None
        return cls(int(d["size"]), int(d["width"]), str(d["face_type"]),
                   Labels.from_dict(d["labels"]), int(d["steps"]), float(d["seconds"]),
                   float(d["loss"]), float(d["label_iou"]), str(d.get("parent", "")))


def versions(shot_dir: str) -> list[str]:
    """Complete versions (card written), oldest first, as folder paths."""
    root = os.path.join(shot_dir, FOLDER)
    if not os.path.isdir(root):
        return []
    found = sorted((int(m.group(1)), name) for name in os.listdir(root)
                   if (m := _VERSION.match(name)) and os.path.isfile(os.path.join(root, name, CARD)))
    return [os.path.join(root, name) for _, name in found]


def latest(shot_dir: str) -> str:
    found = versions(shot_dir)
    if not found:
        raise FaceplateError(f"{shot_dir} has no occlusion model: run faceplate occlusion train "
                             f"{shot_dir} --labels occluder.####.exr first")
    return found[-1]


def new_version(shot_dir: str) -> str:
    root = os.path.join(shot_dir, FOLDER)
    os.makedirs(root, exist_ok=True)
    taken = [int(m.group(1)) for name in os.listdir(root) if (m := _VERSION.match(name))]
    path = os.path.join(root, f"v{max(taken, default=0) + 1:03d}")
    os.makedirs(path)
    return path


def read_card(version: str) -> OcclusionCard:
    path = os.path.join(version, CARD)
    try:
        return OcclusionCard.from_dict(documents.read_document(path, SCHEMA), path)
    except documents.DocumentError as exc:
        if exc.problem in (documents.Problem.NOT_THIS_KIND, documents.Problem.NEWER):
            raise FaceplateError(str(exc)) from None
        raise FaceplateError(f"occlusion model {version} is unreadable ({exc})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise FaceplateError(f"occlusion model {version} is unreadable ({exc})") from None


def write_card(version: str, card: OcclusionCard) -> None:
    write_json_atomic(os.path.join(version, CARD), card.to_dict())


def save(version: str, card: OcclusionCard, net: OcclusionNet) -> None:
    """Weights first, then the card that makes the version complete."""
    save_weights(os.path.join(version, WEIGHTS), net.state_dict(), {"schema": SCHEMA})
    write_card(version, card)


def load(version: str, device: torch.device | str = "cpu") -> tuple[OcclusionCard, OcclusionNet]:
    card = read_card(version)
    net = OcclusionNet(card.width)
    try:
        net.load_state_dict(load_weights(os.path.join(version, WEIGHTS)))
    except RuntimeError as exc:
        raise FaceplateError(f"occlusion weights in {version} do not fit its card ({exc})"
                             ) from None
    return card, net.to(device).eval()


def matte_pattern(version: str) -> str:
    return os.path.join(version, MATTE)
