"""Sample shots built from the real faces that installed packages carry.

Nothing is downloaded: the astronaut (scikit-image), Grace Hopper (matplotlib) and the
half-turned cameraman (scikit-image) are moved through a known similarity transform per frame
(scale, roll, translation, and a horizontal squeeze that reads as a slight head turn), so
tests can compare detected landmarks with the exactly transformed ground truth.
Frames are written as scene-linear ACEScg EXR, like a comp plate, or display-referred PNG.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .io.colour import ColourSpaces
from .io.images import write_image

# Face centre (x, y) and width in source pixels: dlib's HOG box (upsample 2) for the first two;
# the cameraman is half-turned and HOG misses him, so his box is measured by eye.
SOURCES: dict[str, dict[str, Any]] = {
    "astronaut": {"centre": (217.5, 125.5), "face_width": 94.0},
    "grace_hopper": {"centre": (261.5, 240.5), "face_width": 194.0},
    "camera": {"centre": (262.0, 112.0), "face_width": 80.0},
}


def source_image(name: str) -> np.ndarray:
    """A bundled face photo as float32 sRGB-encoded RGB in 0–1."""
    if name == "astronaut":
        from skimage import data

        rgb = data.astronaut()
    elif name == "grace_hopper":
        from matplotlib import cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as photo:
            rgb = np.asarray(photo.convert("RGB"))
    elif name == "camera":
        from skimage import data

        rgb = np.repeat(data.camera()[..., None], 3, axis=-1)
    else:
        raise KeyError(f"unknown sample face {name!r}; have {', '.join(SOURCES)}")
    return rgb.astype(np.float32) / 255.0


@dataclass
class SampleShot:
    """A written shot and the exact source → frame transform of every frame."""

    source: str
    pattern: str  # printf-style path, e.g. /x/plate.%04d.exr
    size: tuple[int, int]  # width, height
    colourspace: str
    matrices: dict[int, np.ndarray]  # frame → 2×3 source → plate

    @property
    def frames(self) -> list[int]:
        return sorted(self.matrices)

    def path(self, frame: int) -> str:
        return self.pattern % frame

    def to_plate(self, frame: int, points: np.ndarray) -> np.ndarray:
        """Map source-image points (N×2) into this frame's plate pixels."""
        m = self.matrices[frame]
        return points @ m[:, :2].T + m[:, 2]

    def save(self, path: str) -> None:
        with open(path, "w") as fh:
            json.dump({"source": self.source, "pattern": self.pattern, "size": self.size,
                       "colourspace": self.colourspace,
                       "matrices": {str(k): v.tolist() for k, v in self.matrices.items()}},
                      fh, indent=1)

    @classmethod
    def load(cls, path: str) -> SampleShot:
        with open(path) as fh:
            d = json.load(fh)
        return cls(d["source"], d["pattern"], tuple(d["size"]), d["colourspace"],
                   {int(k): np.asarray(v) for k, v in d["matrices"].items()})


def motion(t: float, face_px: float, size: tuple[int, int], seed: int = 0) -> dict:
    """Natural-looking motion at time t∈[0,1]: a slow push-in, a roll, a drift and a turn."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * math.pi, 4)
    w, h = size
    return {
        "face_px": face_px * (1.0 + 0.25 * t + 0.05 * math.sin(2 * math.pi * t + phase[0])),
        "roll_deg": 10.0 * math.sin(2 * math.pi * t + phase[1]),
        "centre": (w * (0.5 + 0.12 * math.sin(2 * math.pi * t + phase[2])),
                   h * (0.47 + 0.06 * math.sin(4 * math.pi * t + phase[3]))),
        "squeeze": 1.0 - 0.12 * (0.5 - 0.5 * math.cos(2 * math.pi * t)),  # reads as a yaw
    }


def frame_matrix(source: str, t: float, face_px: float, size: tuple[int, int],
                 seed: int = 0) -> np.ndarray:
    """2×3 affine mapping the source photo into the frame at time t."""
    src = SOURCES[source]
    m = motion(t, face_px, size, seed)
    s = m["face_px"] / src["face_width"]
    a = math.radians(m["roll_deg"])
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    lin = rot @ np.diag([s * m["squeeze"], s])
    cx, cy = src["centre"]
    offset = np.asarray(m["centre"]) - lin @ np.array([cx, cy])
    return np.hstack([lin, offset[:, None]])


Overlay = Callable[[float, tuple[int, int]], tuple[np.ndarray, np.ndarray]]


def make_shot(source: str, out_dir: str, *, frames: int = 24, first: int = 1001,
              size: tuple[int, int] = (960, 540), face_px: float = 160.0,
              colourspace: str = "ACEScg", ext: str = "exr", seed: int = 0,
              name: str = "plate", overlay: Overlay | None = None) -> SampleShot:
    """Write ``out_dir/name.####.ext`` and ``out_dir/shot.json`` (the ground-truth transforms).

    ``colourspace`` is the plate's space: the sRGB photo is converted into it (e.g. scene-linear
    ACEScg for EXR). Exposure drifts a little over the shot, as real plates do. ``overlay(t,
    size)`` returns an object drawn in front of the face, ``(sRGB H×W×3, alpha H×W)``; its alpha
    is written as the ground-truth matte ``out_dir/name_matte.####.exr`` (channel A).
    """
    os.makedirs(out_dir, exist_ok=True)
    photo = source_image(source)
    colour = ColourSpaces(colourspace)
    pattern = os.path.join(out_dir, f"{name}.%04d.{ext}")
    matrices = {}
    for i in range(frames):
        t = i / max(frames - 1, 1)
        m = frame_matrix(source, t, face_px, size, seed)
        warped = cv2.warpAffine(photo, m, size, flags=cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_REPLICATE)  # no mirrored faces
        frame = first + i
        if overlay is not None:
            rgb, alpha = overlay(t, size)
            warped = warped * (1.0 - alpha[..., None]) + rgb * alpha[..., None]
            write_image(os.path.join(out_dir, f"{name}_matte.{frame:04d}.exr"),
                        alpha.astype(np.float32)[..., None], ["A"], pixel_type="half")
        warped = np.clip(warped, 0.0, 1.0) * (1.0 + 0.04 * math.sin(3.0 * t))
        plate = colour.to_plate(warped)
        write_image(pattern % frame, plate, ["R", "G", "B"],
                    {"faceplate/sample_source": source}, pixel_type="half" if ext == "exr" else None)
        matrices[frame] = m
    shot = SampleShot(source, pattern, size, colourspace, matrices)
    shot.save(os.path.join(out_dir, "shot.json"))
    return shot


# Non-faces that look enough like one to fool a first detector: a photographic negative of a
# face (HOG scores it 0.55–0.8) and the astronaut's own suit at this scale (its mission patch
# scores ≈0.5, like the embroidered name patch of a real plate), over photo clutter.
CLUTTER = ("coffee", "chelsea", "gravel", "rocket")


@dataclass
class ClutteredShot:
    """A written shot with real faces (their source → plate matrices per frame) and boxes of
    the non-face decoys (a negative of a face) per frame."""

    pattern: str
    size: tuple[int, int]
    faces: dict[str, dict[int, np.ndarray]]  # source → frame → 2×3 matrix
    decoys: dict[int, list[tuple[float, float, float, float]]]

    @property
    def frames(self) -> list[int]:
        return sorted(next(iter(self.faces.values())))


def _clutter_image(name: str) -> np.ndarray:
    from skimage import data

    rgb = getattr(data, name)()
    rgb = np.repeat(rgb[..., None], 3, axis=-1) if rgb.ndim == 2 else rgb[..., :3]
    return rgb.astype(np.float32) / 255.0


def make_cluttered_shot(out_dir: str, *, frames: int = 12, first: int = 1,
                        size: tuple[int, int] = (960, 540)) -> ClutteredShot:
    """Write ``out_dir/clutter.####.png``: the astronaut (suit and all, face ≈180 px) and Grace
    Hopper (≈110 px) moving over a background of photos (coffee, a cat, gravel, a rocket),
    with a drifting photographic negative of Grace Hopper's face as a decoy."""
    os.makedirs(out_dir, exist_ok=True)
    w, h = size
    tiles = [cv2.resize(_clutter_image(n), (w // 2, h // 2), interpolation=cv2.INTER_AREA)
             for n in CLUTTER]
    background = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
    background = cv2.resize(background, size)
    astronaut, grace = source_image("astronaut"), source_image("grace_hopper")
    negative = 1.0 - grace
    pattern = os.path.join(out_dir, "clutter.%04d.png")
    faces: dict[str, dict[int, np.ndarray]] = {"astronaut": {}, "grace_hopper": {}}
    decoys: dict[int, list[tuple[float, float, float, float]]] = {}
    for i in range(frames):
        t = i / max(frames - 1, 1)
        frame = first + i
        canvas = background.copy()
        placements = (
            ("astronaut", astronaut, 180.0, (0.25 * w + 20 * t, 0.30 * h)),
            ("grace_hopper", grace, 110.0, (0.62 * w - 15 * t, 0.30 * h)),
            ("negative", negative, 120.0, (0.86 * w, 0.62 * h + 10 * t)),
        )
        for name, photo, face_px, centre in placements:
            src = SOURCES["grace_hopper" if name == "negative" else name]
            s = face_px / src["face_width"]
            m = np.array([[s, 0, centre[0] - s * src["centre"][0]],
                          [0, s, centre[1] - s * src["centre"][1]]])
            if name == "astronaut":  # the whole photo, suit included, down to the frame edge
                inside = cv2.warpAffine(np.ones(photo.shape[:2], np.float32), m, size)
            else:  # a head-and-shoulders oval
                inside = np.zeros((h, w), np.float32)
                cv2.ellipse(inside, (round(centre[0]), round(centre[1] + 0.1 * face_px)),
                            (round(0.8 * face_px), round(1.1 * face_px)), 0, 0, 360, 1.0, -1)
                inside = cv2.GaussianBlur(inside, (0, 0), 3)
            warped = cv2.warpAffine(photo, m, size, flags=cv2.INTER_AREA,
                                    borderMode=cv2.BORDER_REPLICATE)
            canvas = canvas * (1 - inside[..., None]) + warped * inside[..., None]
            if name == "negative":
                half = 0.6 * face_px
                decoys[frame] = [(centre[0] - half, centre[1] - half,
                                  centre[0] + half, centre[1] + half)]
            else:
                faces[name][frame] = m
        write_image(pattern % frame, np.clip(canvas, 0, 1), ["R", "G", "B"],
                    {"faceplate/sample_source": "clutter"})
    return ClutteredShot(pattern, size, faces, decoys)


# Posed samples: the bundled photos with a known head turn and mouth opening, made by moving
# their landmarks (a 3D rotation of the face using the rough depth of our 3D mean face) and
# warping the photo piecewise-affinely to follow. Good enough to read as a pose to a landmark
# detector, which is what coverage tests need; not a render of a real head.

@functools.cache
def source_landmarks(name: str) -> np.ndarray:
    """dlib's 68 landmarks of the bundled photo's largest face (source pixels)."""
    from .extract.backends import get_backend

    faces = get_backend("dlib").detect(source_image(name))
    if not faces:
        raise RuntimeError(f"no face found in the sample photo {name}")
    return faces[0].landmarks.copy()


def posed_landmarks(landmarks: np.ndarray, yaw: float = 0.0, pitch: float = 0.0,
                    mouth: float = 0.0) -> np.ndarray:
    """Landmarks after turning the head (degrees, coverage conventions) and opening the mouth
    by ``mouth`` inter-ocular distances (the lower lip and chin drop)."""
    from .coverage.descriptors import DEPTH, rotation
    from .extract.smooth import interocular

    pts = np.asarray(landmarks, np.float64)
    width = float(np.linalg.norm(pts[16] - pts[0]))
    drop = mouth * float(interocular(pts))
    pts = pts.copy()
    pts[[55, 56, 57, 58, 59, 65, 66, 67], 1] += drop
    pts[5:12, 1] += drop * np.array([0.3, 0.6, 0.85, 1.0, 0.85, 0.6, 0.3])
    centre = pts[27:36].mean(axis=0)
    solid = np.column_stack([pts - centre, -DEPTH * width])
    turned = solid @ rotation(yaw, pitch, 0.0).T
    return turned[:, :2] + centre


def warp_to_landmarks(image: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Warp ``image`` so its points ``src`` land on ``dst``: piecewise affine over a Delaunay
    mesh of the landmarks and a fixed ring around the face (beyond it nothing moves)."""
    from scipy.spatial import Delaunay

    h, w = image.shape[:2]
    centre, size = src.mean(axis=0), float(np.ptp(src, axis=0).max())
    ring = centre + 1.1 * size * np.array([[math.cos(a), math.sin(a)]
                                           for a in np.linspace(0, 2 * math.pi, 16, endpoint=False)])
    frame = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    src_all, dst_all = (np.vstack([p, ring, frame]) for p in (src, dst))
    triangles = Delaunay(dst_all).simplices
    owner = np.full((h, w), -1, np.int32)
    maps = np.zeros((len(triangles), 2, 3))
    for t, tri in enumerate(triangles):
        maps[t] = cv2.getAffineTransform(dst_all[tri].astype(np.float32),
                                         src_all[tri].astype(np.float32))
        cv2.fillConvexPoly(owner, np.round(dst_all[tri]).astype(np.int32), t)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    m = maps[np.maximum(owner, 0)]
    map_x = np.where(owner >= 0, m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2], xs)
    map_y = np.where(owner >= 0, m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2], ys)
    return cv2.remap(image, map_x.astype(np.float32), map_y.astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def posed_face(source: str, yaw: float = 0.0, pitch: float = 0.0, mouth: float = 0.0
               ) -> tuple[np.ndarray, np.ndarray]:
    """The bundled photo with the head turned and the mouth opened (a dark mouth inside the
    lips), and its new landmarks."""
    photo = source_image(source)
    src = source_landmarks(source)
    dst = posed_landmarks(src, yaw, pitch, mouth)
    out = warp_to_landmarks(photo, src, dst)
    if mouth > 0:
        inside = np.zeros(out.shape[:2], np.float32)
        cv2.fillPoly(inside, [np.round(dst[60:68]).astype(np.int32)], 1.0, cv2.LINE_AA)
        soft = cv2.GaussianBlur(inside, (0, 0), 1.0)[..., None]
        out = out * (1 - soft) + np.array([0.12, 0.04, 0.04], np.float32) * soft
    return out.astype(np.float32), dst


def make_posed_shot(source: str, out_dir: str, poses: list[dict], *, first: int = 1001,
                    size: tuple[int, int] = (640, 360), face_px: float = 150.0,
                    colourspace: str = "sRGB Encoded Rec.709 (sRGB)", ext: str = "png",
                    name: str = "plate") -> SampleShot:
    """A shot of one frame per pose (``{"yaw", "pitch", "mouth", "roll"}``, all optional):
    the posed photo, scaled to ``face_px`` wide, rolled by ``roll`` degrees (clockwise on
    screen) about the frame centre. ``shot.json`` holds each frame's source → plate matrix."""
    os.makedirs(out_dir, exist_ok=True)
    colour = ColourSpaces(colourspace)
    pattern = os.path.join(out_dir, f"{name}.%04d.{ext}")
    src = SOURCES[source]
    matrices = {}
    for i, pose in enumerate(poses):
        face, _ = posed_face(source, pose.get("yaw", 0.0), pose.get("pitch", 0.0),
                             pose.get("mouth", 0.0))
        a = math.radians(pose.get("roll", 0.0))
        lin = face_px / src["face_width"] * np.array([[math.cos(a), -math.sin(a)],
                                                      [math.sin(a), math.cos(a)]])
        offset = np.array([size[0] / 2, size[1] / 2]) - lin @ np.asarray(src["centre"])
        m = np.hstack([lin, offset[:, None]])
        warped = cv2.warpAffine(face, m, size, flags=cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_REPLICATE)
        frame = first + i
        write_image(pattern % frame, colour.to_plate(np.clip(warped, 0.0, 1.0)), ["R", "G", "B"],
                    {"faceplate/sample_source": source},
                    pixel_type="half" if ext == "exr" else None)
        matrices[frame] = m
    shot = SampleShot(source, pattern, size, colourspace, matrices)
    shot.save(os.path.join(out_dir, "shot.json"))
    return shot


def occluders(t: float, size: tuple[int, int], face_px: float = 160.0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Two opaque objects that cross a face of :func:`make_shot` (an :data:`Overlay`): a
    microphone swinging across the mouth and cheek, and a ball rolling along the jaw line.
    Drawn at 4× and area-filtered, so the alpha has real anti-aliased edges."""
    k = 4
    w, h = size
    hi_rgb = np.zeros((h * k, w * k, 3), np.float32)
    hi_a = np.zeros((h * k, w * k), np.float32)
    centre = np.asarray(motion(t, face_px, size)["centre"])
    s = face_px * k
    # Microphone: a dark handle and a lighter meshed head, swinging from side to side.
    angle = math.radians(-35.0 + 70.0 * t)
    head = centre * k + s * np.array([-0.55 + 1.1 * t, 0.18 + 0.1 * math.sin(5 * t)])
    tail = head + s * 1.4 * np.array([math.sin(angle), math.cos(angle)])
    layer = np.zeros_like(hi_a)
    cv2.line(layer, tuple(int(v) for v in head), tuple(int(v) for v in tail), 1.0,
             int(0.14 * s), cv2.LINE_AA)
    hi_rgb[layer > 0] = (0.08, 0.08, 0.09)
    hi_a = np.maximum(hi_a, layer)
    layer = np.zeros_like(hi_a)
    cv2.circle(layer, tuple(int(v) for v in head), int(0.2 * s), 1.0, -1, cv2.LINE_AA)
    yy, xx = np.mgrid[0:h * k, 0:w * k]
    mesh = 0.45 + 0.25 * ((xx // (3 * k) + yy // (3 * k)) % 2)
    inside = layer > 0
    hi_rgb[inside] = np.stack([mesh[inside]] * 3, -1) * np.array([1.0, 1.0, 1.05], np.float32)
    hi_a = np.maximum(hi_a, layer)
    # A ball along the jaw line: saturated, with a highlight.
    ball = centre * k + s * np.array([0.55 - 0.9 * t, 0.62 - 0.1 * math.cos(4 * t)])
    layer = np.zeros_like(hi_a)
    cv2.circle(layer, tuple(int(v) for v in ball), int(0.16 * s), 1.0, -1, cv2.LINE_AA)
    shade = np.clip(1.0 - np.hypot(xx - ball[0] + 0.05 * s, yy - ball[1] + 0.05 * s)
                    / (0.2 * s), 0.3, 1.0)
    inside = layer > 0
    hi_rgb[inside] = shade[inside, None] * np.array([0.85, 0.25, 0.1], np.float32)
    hi_a = np.maximum(hi_a, layer)
    rgb = cv2.resize(hi_rgb * hi_a[..., None], size, interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(hi_a, size, interpolation=cv2.INTER_AREA)
    rgb = np.where(alpha[..., None] > 1e-4, rgb / np.maximum(alpha[..., None], 1e-4), 0.0)
    return rgb.astype(np.float32), np.clip(alpha, 0.0, 1.0)


def write_true_alignments(sample: SampleShot, shot_dir: str, face_type: str = "whole_face"
                          ) -> str:
    """``shot_dir/alignments.json`` from the shot's exact transforms (dlib's landmarks on the
    source photo, carried into every frame): ground truth for stages after extraction."""
    from .extract import alignments as alignments_io
    from .face.align import alignment_matrix

    source = source_landmarks(sample.source)
    records = {}
    for f in sample.frames:
        landmarks = sample.to_plate(f, source)
        records[f] = [alignments_io.FaceRecord((0, 0, 0, 0), 1.0, landmarks,
                                               alignment_matrix(landmarks, face_type))]
    alignments_io.save(alignments_io.Alignments(sample.pattern, sample.colourspace, "dlib",
                                                face_type, sample.size, 0.0, records), shot_dir)
    return shot_dir


@dataclass(frozen=True)
class Camera:
    """What a camera does to a plate, for plate-match ground truth: the face moves by
    ``velocity`` px a frame (x right, y down) and blurs over ``shutter`` degrees; ``defocus``
    is a Gaussian sigma (px); grain is per-channel ``grain × √value`` (linear light: it rises
    with exposure), Gaussian-correlated over ``grain_size`` px, new every frame."""

    velocity: tuple[float, float] = (0.0, 0.0)
    shutter: float = 0.0
    defocus: float = 0.0
    grain: tuple[float, float, float] = (0.0, 0.0, 0.0)
    grain_size: float = 0.0

    def blur_length(self) -> float:
        """The true motion-blur length (px) of the face on a frame."""
        return math.hypot(*self.velocity) * self.shutter / 360.0


def camera_frame(source: str, clean_matrix: np.ndarray, size: tuple[int, int],
                 camera: Camera, colour: ColourSpaces, rng: np.random.Generator
                 ) -> np.ndarray:
    """One frame (H×W×3 float32, the plate colourspace) of ``source`` placed by
    ``clean_matrix`` (source → plate) as ``camera`` films it. The photo's own film grain is
    smoothed away first (a Gaussian of one source pixel): the camera's is the only grain, so
    the truth is known."""
    photo = cv2.GaussianBlur(source_image(source), (0, 0), 1.0)
    samples = 33 if camera.shutter > 0 and any(camera.velocity) else 1
    open_for = camera.shutter / 360.0
    total = np.zeros((size[1], size[0], 3), np.float64)
    for j in range(samples):
        t = ((j + 0.5) / samples - 0.5) * open_for if samples > 1 else 0.0
        m = np.asarray(clean_matrix, np.float64).copy()
        m[:, 2] += t * np.asarray(camera.velocity)
        total += cv2.warpAffine(photo, m, size, flags=cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_REPLICATE)
    plate = colour.to_plate(np.clip(total / samples, 0.0, 1.0).astype(np.float32))
    if camera.defocus > 0:
        plate = cv2.GaussianBlur(plate, (0, 0), camera.defocus)
    if any(camera.grain):
        noise: np.ndarray = rng.standard_normal(plate.shape).astype(np.float32)
        if camera.grain_size > 0:  # Gaussian-correlated, still of std 1
            kernel = cv2.getGaussianKernel(2 * math.ceil(4 * camera.grain_size) + 1,
                                           camera.grain_size)
            noise = cv2.sepFilter2D(noise, -1, kernel, kernel) / float(np.sum(kernel ** 2))
        plate = plate + noise * np.asarray(camera.grain, np.float32) \
            * np.sqrt(np.maximum(plate, 0.0))
    return plate.astype(np.float32)


def make_camera_shot(source: str, out_dir: str, camera: Camera, *, frames: int = 8,
                     first: int = 1001, size: tuple[int, int] = (640, 480),
                     face_px: float = 180.0, colourspace: str = "ACEScg", seed: int = 0,
                     name: str = "plate") -> SampleShot:
    """Write ``out_dir/name.####.exr`` (float) and ``shot.json``: ``source`` held at the
    frame's centre, moving at the camera's velocity, filmed by ``camera``."""
    os.makedirs(out_dir, exist_ok=True)
    colour = ColourSpaces(colourspace)
    rng = np.random.default_rng(seed)
    still = frame_matrix(source, 0.0, face_px, size, seed)
    pattern = os.path.join(out_dir, f"{name}.%04d.exr")
    matrices = {}
    for i in range(frames):
        m = still.copy()
        m[:, 2] += (i - frames // 2) * np.asarray(camera.velocity)
        frame = first + i
        write_image(pattern % frame, camera_frame(source, m, size, camera, colour, rng),
                    ["R", "G", "B"], {"faceplate/sample_source": source}, pixel_type="float")
        matrices[frame] = m
    shot = SampleShot(source, pattern, size, colourspace, matrices)
    shot.save(os.path.join(out_dir, "shot.json"))
    return shot


def camera_swap(sample: SampleShot, frame: int, size: int, face_type: str = "whole_face"
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The perfect swap of a camera shot's frame: the face as filmed with no grain, defocus or
    motion blur, as an aligned crop of ``size`` (network space): ``(crop, matrix, landmarks)``
    with the true landmarks and their alignment matrix (plate pixels)."""
    from .face.align import alignment_matrix
    from .face.crop import aligned_crop

    colour = ColourSpaces(sample.colourspace)
    clean = camera_frame(sample.source, sample.matrices[frame], sample.size, Camera(), colour,
                         np.random.default_rng(0))
    landmarks = sample.to_plate(frame, source_landmarks(sample.source))
    matrix = alignment_matrix(landmarks, face_type)
    return aligned_crop(clean, matrix, size, colour.to_network), matrix, landmarks


# Hard frames for extraction's recall: a head turned away when the shot opens, a one-frame
# camera flash, a dissolve between two shots and a hard cut. Display-referred PNG, as a cut
# delivered from an edit would be (a flash clips).

TURN_AWAY_YAWS = (72, 68, 66, 64, 62, 60, 58, 56, 54, 52, 50, 48, 44, 40, 35, 30, 25, 20)


def make_turn_away_shot(out_dir: str, *, first: int = 1) -> SampleShot:
    """Grace Hopper turned three-quarters away when the shot opens (HOG misses her until
    ≈48°, the CNN from ≈64°), turning towards the camera (:data:`TURN_AWAY_YAWS`)."""
    from .io.colour import NETWORK_SPACE

    return make_posed_shot("grace_hopper", out_dir, [{"yaw": y} for y in TURN_AWAY_YAWS],
                           first=first, size=(640, 360), face_px=150.0,
                           colourspace=NETWORK_SPACE)


def flash(rgb: np.ndarray, gain: float = 2.6) -> np.ndarray:
    """A camera flash: the whole frame's exposure times ``gain``, clipped (a face washes
    out: HOG and the CNN both miss it at 2.6)."""
    return np.clip(rgb * np.float32(gain), 0.0, 1.0)


def make_flash_shot(out_dir: str, *, frames: int = 24, flash_at: tuple[int, ...] = (12,),
                    first: int = 1) -> SampleShot:
    """The astronaut moving (:func:`make_shot`, 640×360, face 140 px) with a camera flash
    (:func:`flash`) on the frames ``flash_at``."""
    from .io.colour import NETWORK_SPACE
    from .io.images import read_image

    shot = make_shot("astronaut", out_dir, frames=frames, first=first, size=(640, 360),
                     face_px=140.0, colourspace=NETWORK_SPACE, ext="png")
    for frame in flash_at:
        rgb = read_image(shot.path(frame)).rgb()
        write_image(shot.path(frame), flash(rgb), ["R", "G", "B"],
                    {"faceplate/sample_source": shot.source})
    return shot


@dataclass
class EditedShot:
    """A written sequence of several shots; per frame the true faces as ``(source,
    opacity, box)`` (box: x0, y0, x1, y1 in frame pixels), and where its hard cuts and its
    dissolve (the frames mixing two shots) are."""

    pattern: str
    size: tuple[int, int]
    faces: dict[int, list[tuple[str, float, tuple[float, float, float, float]]]]
    cuts: list[int]
    dissolve: list[int]

    @property
    def frames(self) -> list[int]:
        return sorted(self.faces)


def make_dissolve_shot(out_dir: str, *, part: int = 6, dissolve: int = 6, first: int = 1
                       ) -> EditedShot:
    """Write ``out_dir/edit.####.png``: the astronaut on the left (``part`` frames), a
    ``dissolve``-frame dissolve to Grace Hopper on the right of another shot (``part``
    frames), then a hard cut to the astronaut in the middle of a third shot (``part``
    frames). Inside the dissolve each face is at its shot's opacity."""
    os.makedirs(out_dir, exist_ok=True)
    w, h = size = (640, 360)
    shots = (("astronaut", 120.0, (0.26, 0.42), 3.0), ("grace_hopper", 130.0, (0.74, 0.48), -3.0),
             ("astronaut", 150.0, (0.52, 0.45), 4.0))

    def shot_frame(k: int, i: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        name, face_px, (cx, cy), drift = shots[k]
        src = SOURCES[name]
        s = face_px / src["face_width"]
        centre = np.array([cx * w + drift * i, cy * h])
        m = np.array([[s, 0.0, centre[0] - s * src["centre"][0]],
                      [0.0, s, centre[1] - s * src["centre"][1]]])
        rgb = cv2.warpAffine(source_image(name), m, size, flags=cv2.INTER_AREA,
                             borderMode=cv2.BORDER_REPLICATE)
        if k == 1:  # another shot, another grade
            rgb = rgb * np.array([1.05, 0.9, 0.75], np.float32)
        half = 0.6 * face_px
        return rgb, (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)

    pattern = os.path.join(out_dir, "edit.%04d.png")
    faces: dict[int, list] = {}
    frame, dissolving = first, []
    plan = [(0, None)] * part + [(0, 1)] * dissolve + [(1, None)] * part + [(2, None)] * part
    for i, (k, into) in enumerate(plan):
        rgb, box = shot_frame(k, i)
        faces[frame] = [(shots[k][0], 1.0, box)]
        if into is not None:
            opacity = (i - part + 1) / (dissolve + 1)
            other, other_box = shot_frame(into, i)
            rgb = (1.0 - opacity) * rgb + opacity * other
            faces[frame] = [(shots[k][0], 1.0 - opacity, box),
                            (shots[into][0], opacity, other_box)]
            dissolving.append(frame)
        write_image(pattern % frame, np.clip(rgb, 0.0, 1.0), ["R", "G", "B"],
                    {"faceplate/sample_source": "edit"})
        frame += 1
    return EditedShot(pattern, size, faces, [first + 2 * part + dissolve], dissolving)


def sample_swap(name: str, size: int, hull: str = "extended"
                ) -> tuple[np.ndarray, np.ndarray]:
    """A bundled photo's face as a model would draw it: its aligned ``whole_face`` crop of
    ``size`` (sRGB-encoded, the network's space) and its landmark hull (``hull``) as the
    learned mask — a stand-in swap for pictures and tests of the merge."""
    from .face.align import alignment_matrix, transform_points, warp_to_crop
    from .face.mask import landmark_mask

    landmarks = source_landmarks(name)
    matrix = alignment_matrix(landmarks, "whole_face")
    learned = landmark_mask(transform_points(landmarks, matrix) * size, (size, size),
                            kind=hull, feather=4)
    return warp_to_crop(source_image(name), matrix, size), learned


@dataclass(frozen=True)
class FaultyShot:
    """A converted shot with known faults, for the QC report (:func:`make_faulty_shot`)."""

    shot_dir: str
    faceset: str  # the target identity's face set (the astronaut's own)
    other_face: tuple[int, ...]  # frames holding someone else's face
    frozen: tuple[int, ...]  # frames holding the frame before's merged picture
    clean: tuple[int, ...]


def make_faulty_shot(root: str) -> FaultyShot:
    """The astronaut sample (12 frames, a 150 px face) extracted and converted through the CLI
    (a null swap into her own face set, so every clean frame is a faithful swap), then broken
    the two ways a supervisor must catch: frames 1004–1005 are converted again with Grace
    Hopper's face (a face that does not belong in the shot) and frames 1009–1011 hold frame
    1008's merged picture while the actor moves on (a frozen swap)."""
    import shutil

    from .cli import main as faceplate
    from .convert.output_settings import OutputSettings
    from .convert.pipeline import convert_shot
    from .convert.swap import PassthroughModel

    class OtherPerson(PassthroughModel):
        def swap(self, crops: np.ndarray, identity: str) -> tuple[np.ndarray, np.ndarray]:
            face, hull = sample_swap("grace_hopper", crops.shape[1])
            mask = hull.astype(np.float32) / max(float(hull.max()), 1.0)
            return (np.repeat(face[None], len(crops), 0).astype(np.float32),
                    np.repeat(mask[None], len(crops), 0))

    make_shot("astronaut", os.path.join(root, "plate"), frames=12, size=(480, 320),
              face_px=150.0)
    plate, shot, merged, faceset = (os.path.join(root, "plate", "plate.####.exr"),
                                    os.path.join(root, "shot"),
                                    os.path.join(root, "comp", "merged.####.exr"),
                                    os.path.join(root, "sets", "astronaut"))
    for argv in (["extract", plate, "-o", shot, "--faceset", faceset, "--backend", "dlib"],
                 ["convert", plate, "--alignments", shot, "--null-swap", "--to", "astronaut",
                  "-o", merged]):
        if faceplate(argv) != 0:
            raise RuntimeError(f"faceplate {' '.join(argv)} failed")
    other, frozen = (1004, 1005), (1009, 1010, 1011)
    convert_shot(plate, shot, OtherPerson(256, identities=["astronaut"]), "astronaut",
                 OutputSettings(merged, overwrite=True), frames=list(other))
    for frame in frozen:
        shutil.copyfile(merged.replace("####", "1008"), merged.replace("####", str(frame)))
    return FaultyShot(shot, faceset, other, frozen, (1001, 1002, 1003, 1007, 1008))
