"""A model folder on disk, and the loaded model that swaps faces.

``MODELDIR/model.safetensors`` holds the weights (no pickle: loading never runs code from the
file), ``MODELDIR/card.json`` the :class:`ModelCard`, ``MODELDIR/checkpoints/`` the trainer's
resumable state. Both files are written atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from faceplate_client import layout
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..io.atomic import replacing
from .card import ModelCard, ModelError
from .network import AutoEncoder

WEIGHTS = layout.MODEL_WEIGHTS
CARD = layout.MODEL_CARD


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ModelError(f"unknown device {device!r}: use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for but no CUDA GPU is available: use cpu")
    return dev


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Half precision for inference on CUDA (bf16 where supported); fp32 on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass
class FaceModel:
    card: ModelCard
    network: AutoEncoder
    device: torch.device
    batch_size: int = 16

    @property
    def resolution(self) -> int:
        return self.card.resolution

    @property
    def face_type(self) -> str:
        return self.card.face_type

    @property
    def identities(self) -> list[str]:
        return list(self.card.identities)

    @torch.no_grad()
    def swap(self, crops: np.ndarray, identity: str | int) -> tuple[np.ndarray, np.ndarray]:
        """Decode ``crops`` (N×S×S×3 float32 network-space 0–1) as ``identity``.

        Returns faces N×S×S×3 and masks N×S×S, float32 0–1. A crop of identity A decoded as B is
        the swap; decoded as A it is the reconstruction.
        """
        index = self.card.identity_index(identity)
        crops = np.asarray(crops, dtype=np.float32)
        if crops.ndim == 3:
            crops = crops[None]
        s = self.resolution
        if crops.ndim != 4 or crops.shape[1:] != (s, s, 3):
            raise ModelError(f"model {self.card.model_id} takes N×{s}×{s}×3 crops, got "
                             f"{crops.shape}: align faces at the model's resolution")
        self.network.eval()
        dtype = autocast_dtype(self.device)
        faces, masks = [], []
        for start in range(0, len(crops), self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(crops[start:start + self.batch_size]))
            x = x.to(self.device).permute(0, 3, 1, 2).clamp(0, 1)
            with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
                face, mask = self.network(x, index)
            faces.append(face.float().permute(0, 2, 3, 1).cpu().numpy())
            masks.append(mask.float()[:, 0].cpu().numpy())
        if not faces:
            return np.zeros((0, s, s, 3), np.float32), np.zeros((0, s, s), np.float32)
        return np.concatenate(faces), np.concatenate(masks)


def save_weights(path: str, state: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """safetensors, written to a temp file in the same folder and renamed into place."""
    with replacing(path, ".safetensors.tmp", fsync=True) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, tmp, metadata)


def load_weights(path: str) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except FileNotFoundError:
        raise ModelError(f"{path} not found: the model folder has no weights") from None
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"weights {path} are damaged ({exc})") from None


def save_model(model_dir: str, card: ModelCard, network: AutoEncoder) -> None:
    """Write weights, then the card (the card names the iterations the weights hold)."""
    save_weights(os.path.join(model_dir, WEIGHTS), network.state_dict(),
                 {"model_id": card.model_id, "iterations": str(card.iterations)})
    card.save(os.path.join(model_dir, CARD))


def create_model(model_dir: str, card: ModelCard, seed: int = 0) -> FaceModel:
    """An untrained model folder (random weights from ``seed``): for tests and a trainer's start."""
    card.validate()
    torch.manual_seed(seed)
    network = AutoEncoder(card)
    save_model(model_dir, card, network)
    return FaceModel(card, network, torch.device("cpu"))


def load_model(model_dir: str, device: str = "auto") -> FaceModel:
    if not os.path.isdir(model_dir):
        raise ModelError(f"model folder {model_dir} not found: train one with "
                         f"`faceplate train -m {model_dir}`")
    card = ModelCard.load(os.path.join(model_dir, CARD))
    state = load_weights(os.path.join(model_dir, WEIGHTS))
    network = AutoEncoder(card)
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"weights in {model_dir} do not match its card.json "
                         f"({str(exc).splitlines()[0]})") from None
    dev = resolve_device(device)
    return FaceModel(card, network.to(dev).eval(), dev)
