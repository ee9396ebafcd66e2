"""Resumable training state: safetensors for every tensor, JSON for the rest, no pickle.

``MODELDIR/checkpoints/step_00001234/`` holds ``state.safetensors`` (weights, optimiser moments,
random-generator states) and ``state.json`` (step, optimiser settings, loss history, and the
SHA-256 of the tensor file). A checkpoint is written into a hidden temporary folder, synced and
renamed into place, so a process killed mid-save leaves the previous checkpoints untouched; the
newest ``keep`` are kept. Loading verifies the digest and falls back to an older checkpoint,
with a warning, when the newest is damaged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass

import torch
from safetensors.torch import load_file, save_file

from ..errors import FaceplateError
from ..model.card import ModelCard
from ..model.store import CARD

log = logging.getLogger(__name__)
TENSORS, META = "state.safetensors", "state.json"
PREFIX = "step_"
FOLDER = "checkpoints"  # in the model folder


class CheckpointError(FaceplateError):
    """No usable checkpoint: every one found was damaged."""


@dataclass
class Checkpoint:
    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict
    path: str


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(folder: str, step: int, tensors: dict[str, torch.Tensor], meta: dict,
                    keep: int = 3) -> str:
    os.makedirs(folder, exist_ok=True)
    final = os.path.join(folder, f"{PREFIX}{step:08d}")
    tmp = os.path.join(folder, f".tmp-{PREFIX}{step:08d}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    tensor_path = os.path.join(tmp, TENSORS)
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tensor_path)
    _fsync(tensor_path)
    with open(os.path.join(tmp, META), "w") as fh:
        json.dump({**meta, "step": step, "sha256": _sha256(tensor_path)}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync(tmp)
    if os.path.exists(final):  # saving the same step again (e.g. stop right after a save)
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync(folder)
    _prune(folder, keep)
    return final


def _steps(folder: str) -> list[tuple[int, str]]:
    if not os.path.isdir(folder):
        return []
    found = []
    for name in os.listdir(folder):
        if name.startswith(PREFIX) and name[len(PREFIX):].isdigit():
            found.append((int(name[len(PREFIX):]), os.path.join(folder, name)))
    return sorted(found, reverse=True)


def _prune(folder: str, keep: int) -> None:
    for _, path in _steps(folder)[max(keep, 1):]:
        shutil.rmtree(path, ignore_errors=True)
    for name in os.listdir(folder):  # temporaries left by killed processes
        if name.startswith(".tmp-") and not name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def read_checkpoint(path: str) -> Checkpoint:
    """One checkpoint folder, verified; raises CheckpointError saying what is wrong."""
    try:
        with open(os.path.join(path, META)) as fh:
            meta = json.load(fh)
        tensor_path = os.path.join(path, TENSORS)
        if _sha256(tensor_path) != meta.get("sha256"):
            raise CheckpointError(f"checkpoint {path} is damaged (its tensors fail their "
                                  f"checksum)")
        return Checkpoint(int(meta["step"]), load_file(tensor_path), meta, path)
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} is damaged or incomplete ({exc})") from None


def latest_checkpoint(folder: str) -> Checkpoint | None:
    """The newest readable checkpoint in ``folder``, or None when there is none at all."""
    found = _steps(folder)
    problems = []
    for _, path in found:
        try:
            checkpoint = read_checkpoint(path)
        except CheckpointError as exc:
            log.warning("%s; trying the one before", exc)
            problems.append(str(exc))
            continue
        return checkpoint
    if problems:
        raise CheckpointError(f"no usable checkpoint in {folder}: {'; '.join(problems)}. "
                              f"Delete the folder to start training afresh")
    return None


def folder(model_dir: str) -> str:
    """Where a model folder's checkpoints are."""
    return os.path.join(model_dir, FOLDER)


def newest_card(model_dir: str) -> tuple[ModelCard | None, Checkpoint | None]:
    """The model's card at its newest checkpoint, which a killed run leaves newer than
    ``card.json`` (``card.json`` when there is no checkpoint or it holds no card; None for a
    new model), and that checkpoint."""
    card_path = os.path.join(model_dir, CARD)
    if not os.path.isfile(card_path):
        return None, None
    found = latest_checkpoint(folder(model_dir))
    if found is None or "card" not in found.meta:
        return ModelCard.load(card_path), found
    card = ModelCard.from_dict(found.meta["card"], found.path)
    card.iterations = found.step
    return card, found
