"""How good is a model: held-out reconstruction quality and swap identity, as JSON and a sheet.

Per identity, on the faces training held out (the model card's ``holdout``, every 10th face by
default, see :mod:`faceplate.train.data`): SSIM and PSNR of the reconstruction (whole crop, and
both inside the face mask). bench/quality.py scores with the same functions. Per swap
A → B: an independent recogniser (dlib's ResNet face descriptor, with its own 5-point
landmarks, never used in training) measures the distance of each swapped face to B's and to A's
mean descriptor; the swap reads as B when it is nearer to B. dlib's usual same-person
threshold is a distance of 0.6.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from ..io.atomic import write_json_atomic
from ..model.store import FaceModel, load_model
from ..progress import Listener, Progress
from .data import FaceSet, load_faceset
from .preview import preview_sheet, write_png

SAME_PERSON = 0.6
RECOGNISER_SIZE = 256  # crops are upscaled to this before description


@dataclass
class SwapScore:
    source: str
    target: str
    faces: int
    distance_to_target: float  # mean descriptor distance to the target identity
    distance_to_source: float
    reads_as_target: float  # share of swapped faces nearer the target than the source
    within_threshold: float  # share within SAME_PERSON of the target


@dataclass
class IdentityScore:
    identity: str
    faces: int
    held_out: bool  # False when the set was too small to hold faces out (scores flatter)
    ssim: float
    psnr: float
    psnr_face: float  # inside the face mask
    ssim_face: float = 0.0  # inside the face mask


@dataclass
class Evaluation:
    model: str
    model_id: str
    iterations: int
    identities: list[IdentityScore] = field(default_factory=list)
    swaps: list[SwapScore] = field(default_factory=list)
    sheet: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class Recogniser:
    """dlib's 128-d face descriptor with its 5-point shape predictor (face_recognition_models)."""

    def __init__(self):
        import dlib

        from ..extract.backends.dlib_backend import DESCRIPTOR_FILE, FIVE_POINT_FILE, model_path

        self.shape = dlib.shape_predictor(model_path(FIVE_POINT_FILE))
        self.net = dlib.face_recognition_model_v1(model_path(DESCRIPTOR_FILE))
        self._rect = dlib.rectangle

    def describe(self, crops: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """N×128 descriptors of aligned crops (N×S×S×3, 0–1) with their 68 points (crop px)."""
        out = []
        scale = RECOGNISER_SIZE / crops.shape[1]
        for crop, lm in zip(crops, landmarks):
            img = cv2.resize((np.clip(crop, 0, 1) * 255).round().astype(np.uint8),
                             (RECOGNISER_SIZE, RECOGNISER_SIZE), interpolation=cv2.INTER_CUBIC)
            x0, y0 = (lm.min(0) * scale).astype(int)
            x1, y1 = (lm.max(0) * scale).astype(int)
            shape = self.shape(img, self._rect(int(x0), int(y0), int(x1), int(y1)))
            out.append(np.asarray(self.net.compute_face_descriptor(img, shape), np.float32))
        return np.stack(out)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of two 0–1 images (only the pixels where ``mask``, H×W bool, is set)."""
    d = (a - b) ** 2 if mask is None else (a - b)[mask] ** 2
    mse = float(np.mean(d))
    return 99.0 if mse <= 1e-10 else float(10 * np.log10(1.0 / mse))


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """SSIM of two 0–1 H×W×3 images (7×7 window), averaged over ``mask`` (H×W bool) if given."""
    from skimage.metrics import structural_similarity

    value, full = structural_similarity(a, b, channel_axis=-1, data_range=1.0, full=True)
    return float(value) if mask is None else float(full.mean(-1)[mask].mean())


def landmark_nme(found: np.ndarray, reference: np.ndarray) -> float:
    """Mean landmark distance over the inter-ocular distance (outer eye corners) of
    ``reference`` (68×2 each): 0.05 is a close fit, 0.1 visibly off."""
    inter_ocular = float(np.linalg.norm(reference[36] - reference[45]))
    return float(np.linalg.norm(found - reference, axis=1).mean() / max(inter_ocular, 1e-6))


def reconstruction_scores(fs: FaceSet, model: FaceModel, idx: np.ndarray) -> tuple[float, ...]:
    crops = fs.rgb()[idx]
    recon, _ = model.swap(crops, fs.name)
    masks = fs.pixels[idx, ..., 3] > 127
    pairs = list(zip(crops, recon, masks))
    return (float(np.mean([ssim(a, b) for a, b, _ in pairs])),
            float(np.mean([psnr(a, b) for a, b, _ in pairs])),
            float(np.mean([psnr(a, b, m) for a, b, m in pairs])),
            float(np.mean([ssim(a, b, m) for a, b, m in pairs])))


def evaluate(model_dir: str, facesets: dict[str, str], out_dir: str | None = None,
             device: str = "auto", listener: Listener | None = None,
             progress_stream=None) -> Evaluation:
    model = load_model(model_dir, device)
    for name in facesets:
        model.card.identity_index(name)  # a clear error for an identity the model lacks
    sets = [load_faceset(folder, name, model.resolution) for name, folder in facesets.items()]
    out_dir = out_dir or os.path.join(model_dir, "evaluation")
    recogniser = Recogniser()
    progress = Progress("evaluate", 2 * len(sets), "steps", listener, progress_stream)
    report = Evaluation(model_dir, model.card.model_id, model.card.iterations)
    held, refs = {}, {}
    for fs in sets:
        _, out = fs.split(model.card.holdout)
        held[fs.name] = (out, True) if len(out) else (np.arange(len(fs)), False)
        idx, is_held = held[fs.name]
        report.identities.append(IdentityScore(
            fs.name, len(idx), is_held, *reconstruction_scores(fs, model, idx)))
        refs[fs.name] = recogniser.describe(fs.rgb(), fs.landmarks).mean(0)
        progress.advance(1, f"{fs.name} reconstruction")
    for fs in sets:
        idx, _ = held[fs.name]
        for target in sets:
            if target is fs:
                continue
            swapped, _ = model.swap(fs.rgb()[idx], target.name)
            desc = recogniser.describe(swapped, fs.landmarks[idx])
            d_t = np.linalg.norm(desc - refs[target.name], axis=1)
            d_s = np.linalg.norm(desc - refs[fs.name], axis=1)
            report.swaps.append(SwapScore(
                fs.name, target.name, len(idx), float(d_t.mean()), float(d_s.mean()),
                float(np.mean(d_t < d_s)), float(np.mean(d_t < SAME_PERSON))))
        progress.advance(1, f"{fs.name} swaps")
    samples = [fs.rgb()[held[fs.name][0][:4]] for fs in sets]
    names = [fs.name for fs in sets]
    sheet = preview_sheet(names, samples,
                          lambda crops, j: model.swap(crops, names[j]))
    report.sheet = os.path.join(out_dir, "evaluation.png")
    write_png(report.sheet, sheet)
    write_json_atomic(os.path.join(out_dir, "evaluation.json"), report.to_dict())
    return report
