"""FAN: the S3FD detector and the 2D FAN landmark network of the face-alignment package.

Weights are never downloaded behind the user's back. They are looked up, in order, in the
folder the caller names, ``$FACEPLATE_WEIGHTS``, and ``$TORCH_HOME/hub/checkpoints``; when a
file is missing the error names each file and the folder it belongs in. ``download=True`` is
the explicit opt-in to fetch them from their published addresses into the torch hub folder.

The networks are face-alignment's own model classes; the pre- and post-processing is ours, so
landmarks keep sub-pixel precision in the frame (the package rounds them to whole pixels).
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from .base import Backend, BackendError

S3FD_FILE = "s3fd-619a316812.pth"
FAN_FILE = "2DFAN4-11f355bf06.pth.tar"
URLS = {
    S3FD_FILE: "https://www.adrianbulat.com/downloads/python-fan/" + S3FD_FILE,
    FAN_FILE: "https://www.adrianbulat.com/downloads/python-fan/" + FAN_FILE,
}
FAN_INPUT = 256  # FAN crop size
FAN_HEATMAP = 64
S3FD_THRESHOLD = 0.5
S3FD_MEAN_BGR = (104.0, 117.0, 123.0)


def hub_checkpoints() -> str:
    """``torch.hub.get_dir()/checkpoints``, worked out without importing torch (≈2 s)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return os.path.join(os.path.expanduser(torch_home), "hub", "checkpoints")


def search_dirs(weights_dir: str | None = None) -> list[str]:
    dirs = [weights_dir, os.environ.get("FACEPLATE_WEIGHTS"), hub_checkpoints()]
    return [d for d in dirs if d]


def find_weights(weights_dir: str | None = None) -> dict[str, str] | None:
    """Paths of both weight files, or None when either is missing."""
    found = {}
    for name in (S3FD_FILE, FAN_FILE):
        path = next((os.path.join(d, name) for d in search_dirs(weights_dir)
                     if os.path.isfile(os.path.join(d, name))), None)
        if path is None:
            return None
        found[name] = path
    return found


def missing_weights_message(weights_dir: str | None = None) -> str:
    dirs = search_dirs(weights_dir)
    missing = [n for n in (S3FD_FILE, FAN_FILE)
               if not any(os.path.isfile(os.path.join(d, n)) for d in dirs)]
    lines = [f"the fan backend needs {len(missing)} weight file(s) that are not on disk:"]
    lines += [f"  {n}  (published at {URLS[n]})" for n in missing]
    lines.append(f"place them in {dirs[-1]} (that is $TORCH_HOME/hub/checkpoints), or in a "
                 "folder given by --weights / $FACEPLATE_WEIGHTS; or pass --download-weights to "
                 "fetch them now; or use --backend dlib")
    return "\n".join(lines)


def download_weights() -> None:
    import torch

    folder = hub_checkpoints()
    os.makedirs(folder, exist_ok=True)
    for name, url in URLS.items():
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            try:
                # torch's bar redraws with \r: on a terminal only, never into a log
                torch.hub.download_url_to_file(url, path, progress=sys.stderr.isatty())
            except Exception as exc:  # noqa: BLE001 - network errors come in many types
                raise BackendError(f"could not download {url}: {exc}") from None


class FanBackend(Backend):
    name = "fan"
    min_face_px = 24.0

    def __init__(self, device: str = "auto", weights_dir: str | None = None,
                 detect_size: int | None = None, download: bool = False):
        super().__init__(**({"detect_size": detect_size} if detect_size else {}))
        try:
            import torch
            from face_alignment.detection.sfd.net_s3fd import s3fd
            from face_alignment.models import FAN
        except ImportError:
            raise BackendError("the fan backend needs the face-alignment package: "
                               "pip install face-alignment==1.5.0 --no-deps") from None
        if download and find_weights(weights_dir) is None:
            download_weights()
        paths = find_weights(weights_dir)
        if paths is None:
            raise BackendError(missing_weights_message(weights_dir))
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" \
            else device
        self.weights = paths
        self._torch = torch
        self._detector = _load(s3fd(), paths[S3FD_FILE], self.device)
        self._fan = _load(FAN(4), paths[FAN_FILE], self.device)

    def find_boxes(self, rgb):
        torch = self._torch
        bgr = rgb[..., ::-1] * 255.0 - np.asarray(S3FD_MEAN_BGR, np.float32)
        x = torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None].to(self.device)
        with torch.no_grad():
            outputs = self._detector(x)
        boxes, scores = [], []
        for level in range(len(outputs) // 2):
            cls = torch.softmax(outputs[2 * level], dim=1)[0, 1].cpu().numpy()
            reg = outputs[2 * level + 1][0].cpu().numpy()
            b, s = _decode_level(cls, reg, stride=2 ** (level + 2))
            boxes.append(b)
            scores.append(s)
        return _nms(np.concatenate(boxes), np.concatenate(scores))

    def landmarks_in_window(self, rgb, bbox):
        torch = self._torch
        x0, y0, x1, y1 = bbox
        # FAN's training crop: centre raised by 12 % of the box, side 200/195 of (w + h).
        side = (x1 - x0 + y1 - y0) * 200.0 / 195.0
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0 - 0.12 * (y1 - y0)
        s = FAN_INPUT / side
        to_crop = np.array([[s, 0, FAN_INPUT / 2 - s * cx], [0, s, FAN_INPUT / 2 - s * cy]])
        if s < 0.5:  # a large face shrinks a lot: pre-filter so the crop does not alias
            rgb = cv2.GaussianBlur(rgb, (0, 0), 0.4 / s)
        crop = cv2.warpAffine(rgb, to_crop, (FAN_INPUT, FAN_INPUT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        x = torch.from_numpy(np.ascontiguousarray(np.clip(crop, 0, 1).transpose(2, 0, 1)))
        with torch.no_grad():
            heatmaps = self._fan(x[None].to(self.device))
        if isinstance(heatmaps, (list, tuple)):
            heatmaps = heatmaps[-1]
        peaks = _heatmap_peaks(heatmaps[0].float().cpu().numpy())
        # Heatmap → frame as FAN's published inference maps it (the convention its weights were
        # trained with): cell i (0-based) is at centre + (i + 0.5 − 32) · side / 64.
        return np.array([cx, cy]) + (peaks + 0.5 - FAN_HEATMAP / 2) * side / FAN_HEATMAP


def _load(net, path: str, device: str):
    import torch

    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - corrupt or truncated files raise anything
        raise BackendError(f"cannot load weights {path}: {exc} (replace the file)") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise BackendError(f"{path} does not hold the expected network: {exc}") from None
    return net.to(device).eval()


def _decode_level(cls: np.ndarray, reg: np.ndarray, stride: int, top_k: int = 400):
    """S3FD anchor decoding for one feature level, vectorised (square anchors of 4×stride)."""
    ys, xs = np.nonzero(cls > 0.05)
    if len(ys) > top_k:
        keep = np.argsort(-cls[ys, xs])[:top_k]
        ys, xs = ys[keep], xs[keep]
    scores = cls[ys, xs]
    loc = reg[:, ys, xs].T  # N×4
    anchor = 4.0 * stride
    cx = stride / 2 + xs * stride + loc[:, 0] * 0.1 * anchor
    cy = stride / 2 + ys * stride + loc[:, 1] * 0.1 * anchor
    w = anchor * np.exp(loc[:, 2] * 0.2)
    h = anchor * np.exp(loc[:, 3] * 0.2)
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1), scores


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3):
    if not len(boxes):
        return []
    xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
    keep = cv2.dnn.NMSBoxes(xywh, scores.astype(float).tolist(), S3FD_THRESHOLD, iou)
    return [(tuple(float(v) for v in boxes[i]), float(scores[i]))
            for i in np.asarray(keep, dtype=int).reshape(-1)]


def _heatmap_peaks(hm: np.ndarray) -> np.ndarray:
    """Sub-pixel peak (0-based cell coordinates) of each heatmap: the argmax refined by the
    weighted centroid of its 3×3 neighbourhood."""
    n, h, w = hm.shape
    flat = hm.reshape(n, -1).argmax(axis=1)
    py, px = np.divmod(flat, w)
    pts = np.zeros((n, 2))
    for i in range(n):
        y0, y1 = max(py[i] - 1, 0), min(py[i] + 2, h)
        x0, x1 = max(px[i] - 1, 0), min(px[i] + 2, w)
        patch = np.maximum(hm[i, y0:y1, x0:x1], 0)
        total = patch.sum()
        if total > 0:
            gy, gx = np.mgrid[y0:y1, x0:x1]
            pts[i] = ((gx * patch).sum() / total, (gy * patch).sum() / total)
        else:
            pts[i] = (px[i], py[i])
    return pts
