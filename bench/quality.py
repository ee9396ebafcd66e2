"""Swap quality per unit of training time, on real footage: the classic model, today's
default and ours, trained for the same budget on the same faces and scored the same way.

Material: ``../shared/clips/talking_head_1.mp4`` beside the repository (``FACEPLATE_CLIP`` to
point elsewhere), one person talking. SAME-PERSON use only: the first half of the clip is
identity A, the second half identity B. ``--split every`` (the default) holds every 4th frame
of each half out of training: each held-out face sits between two training frames.
``--split block`` holds out the last 30 % of each half instead, a contiguous block of new poses
and mouths the model never saw (training then sees face sets of the first 70 % only, linked
crops in the output folder, and ``--holdout 0``). Frames are decoded to PNG and extracted with
``faceplate extract --backend dlib --faceset``. Every output stays in the output folder (a
temporary one unless ``-o DIR``).

Scores, one function for every model (``score``), on the held-out faces:
  ssim_64 / psnr_64   reconstruction of A and B inside the face mask, at 64 px (comparable)
  ssim_own / psnr_own the same at the model's own resolution
  ssim_plate / ...    the same at the face's size on the plate: the model's face resized to the
                      size its crop covers on the plate (plate_px, the median), against the
                      crop cut from the plate frame at that size (what a compositor gets)
  sharp_own / sharp_plate / sharp_64
                      sharpness: the swap's high-frequency energy inside the face (mean squared
                      Laplacian of luminance) over the truth's, per face, averaged; a blurred
                      face scores well below 1, noise or ringing can push it above
  swap_nme            A→B swaps of held-out A faces: 68 landmarks found by our dlib extractor on
                      the swap against the plate's, over the inter-ocular distance (the swap
                      keeps expression and pose); nme_floor is the same for the plate's crop
  identity_to_b       dlib descriptor distance of the A→B swaps to B's held-out faces (the
                      same person here, so this says only that the swap reads as a face of B)
plus two references: "mean_face", every answer the identity's mean training face (what a
model that learned nothing of the held-out face scores), and "truth_64px"/"truth_128px", the
held-out face itself at half the size, scaled back up and scored at 128/256 px (what a perfect
model of half the size scores: a model must beat it to claim detail beyond that size).

Prints one JSON line per model, writes quality.png (held-out SSIM and sharpness at the model's
own size and at the plate's against training time, from checkpoints along the way) and
sheet.png (held-out faces, reconstructions and swaps). ``grow128``/``grow256`` train ``fast``
for a share of the budget and grow it (``--grow-to``) one rung a share; ``scratch128``/
``scratch256`` train the network they end as from scratch for the whole budget.

  bench/quality.py [--minutes 6] [--models classic,today,default,standard] [--quick]
                   [--split every|block] [--clock wall|cpu] [--threads 2]
                   [--try NAME="--train flags"] [-o DIR]
  bench/quality.py --plot RUN.jsonl [RUN.jsonl ...] -o DIR    (redraw, runs of one split)

--clock cpu budgets each model by its process CPU seconds over its threads (equal to wall time
on an idle machine; a busy one does not shorten the training). The load is in every line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLIP = os.environ.get("FACEPLATE_CLIP") or os.path.join(ROOT, "..", "shared", "clips",
                                                         "talking_head_1.mp4")
HOLDOUT = 0.25  # --split every: every 4th frame of each half
BLOCK = 0.3  # --split block: the last 30 % of each half
SPLITS = ("every", "block")
CONSENT = "Same-person benchmark of one public sample clip (halves as A and B); no other use."
SCORE_SIZE = 64
CURVE_POINTS = 3  # checkpoints along the way (plus the end) for the quality/time plot
SHEET_ROWS = 5
LM_SIZE = 256  # crops are scored for landmarks and identity at the face set's size

# (b): `faceplate train` with no preset before issue 11: 128 px, the default widths, Adam 1e-4,
# batch 16, no residual blocks, no weight average, no schedule, no clipping, no face prior,
# the classic augmentation.
TODAY = ["--resolution", "128", "--encoder-widths", "64,128,256,512", "--latent", "512",
         "--bridge", "256", "--decoder-widths", "192,96,48", "--decoder-blocks", "0",
         "--batch-size", "16", "--lr", "1e-4", "--ema", "0", "--warmup-steps", "0",
         "--schedule", "constant", "--grad-clip", "0", "--precision", "fp32", "--no-face-prior",
         "--augment", ("rotation_deg=10,scale=0.05,shift=0.05,flip=0.5,brightness=0.08,"
                       "colour=0.04,contrast=0.1")]
MODELS = {"classic": None, "today": ["--preset", "standard", *TODAY], "default": [],
          "standard": ["--preset", "standard"], "high": ["--preset", "high"],
          "production": ["--preset", "production"]}
# Growth (docs/training.md: Growing): models trained in stages on one folder, each stage a
# share of the budget: `fast` at 64 px, then `--grow-to` one rung a stage; and the network a
# grown model ends as, built at once and trained from scratch at its last size ("ladder").
FAST = ["--preset", "fast"]
STAGED = {
    "grow128": [(1 / 2, FAST), (1 / 2, [*FAST, "--grow-to", "128"])],
    "grow256": [(1 / 3, FAST), (1 / 3, [*FAST, "--grow-to", "128"]),
                (1 / 3, [*FAST, "--grow-to", "256"])],
    "scratch128": [(1.0, [*FAST, "ladder=128"])],
    "scratch256": [(1.0, [*FAST, "ladder=256"])],
}


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "faceplate.cli", *args]


def env(threads: int) -> dict:
    path = os.pathsep.join([os.path.join(ROOT, "engine"), os.path.join(ROOT, "nuke_plugin"),
                            os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads)}


# -- material -------------------------------------------------------------------------------
def prepare(out: str) -> dict[str, str]:
    """Face sets A and B (decoded and extracted once per output folder)."""
    import cv2

    sets = {n: os.path.join(out, "faces", n) for n in ("A", "B")}
    if all(os.path.isfile(os.path.join(d, "faceset.json")) for d in sets.values()):
        return sets
    if not os.path.isfile(CLIP):
        raise SystemExit(f"bench/quality.py: {CLIP} not found (set FACEPLATE_CLIP)")
    cap = cv2.VideoCapture(CLIP)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    half = len(frames) // 2
    for name, part in (("A", frames[:half]), ("B", frames[half:])):
        plates = os.path.join(out, "plates", name)
        os.makedirs(plates, exist_ok=True)
        for i, frame in enumerate(part):
            cv2.imwrite(os.path.join(plates, f"frame.{i + 1:04d}.png"), frame)
        subprocess.run(cli("extract", os.path.join(plates, "frame.%04d.png"), "-o",
                           os.path.join(out, "shots", name), "--backend", "dlib",
                           "--select", "index:0", "--faceset", sets[name], "--no-preview",
                           "--json"), check=True, env=env(1), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return sets


def split_indices(folder: str, split: str):
    """(train, held) indices of a face set folder's faces for ``split``: ``every`` is
    training's own every-4th rule (``--holdout 0.25``), ``block`` the last BLOCK of the faces
    in frame order."""
    import numpy as np
    from faceplate.extract.faceset import load_faceset as load_index
    from faceplate.train.data import held_out

    entries = load_index(folder).entries
    n = len(entries)
    if split == "every":
        held = held_out(n, HOLDOUT)
    else:
        order = np.argsort([e.frame for e in entries], kind="stable")
        held = np.zeros(n, bool)
        held[order[n - round(n * BLOCK):]] = True
    idx = np.arange(n)
    return idx[~held], idx[held]


def training_sets(sets: dict[str, str], out: str, split: str) -> tuple[dict[str, str], str]:
    """The face set folders training is given, and its ``--holdout``: the whole sets holding
    every 4th face out, or (block) folders of the first faces only, their crops linked."""
    if split == "every":
        return sets, str(HOLDOUT)
    from faceplate.extract.faceset import FaceSet
    from faceplate.extract.faceset import load_faceset as load_index

    out_sets = {}
    for name, folder in sets.items():
        index = load_index(folder)
        train, _ = split_indices(folder, split)
        dest = os.path.join(out, "faces_block", name)
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        entries = [index.entries[i] for i in train]
        for e in entries:
            os.symlink(os.path.abspath(os.path.join(folder, e.file)), os.path.join(dest, e.file))
        FaceSet(dest, index.face_type, index.size, entries).save_index()
        out_sets[name] = dest
    return out_sets, "0"


def sharpness_energy(img, mask) -> float:
    """Mean squared Laplacian of the luminance inside ``mask`` (high-frequency energy)."""
    import cv2
    import numpy as np

    grey = np.ascontiguousarray(img[..., :3] @ np.float32([0.299, 0.587, 0.114]))
    lap = cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F, ksize=3)
    return float(np.mean(lap[mask] ** 2)) if mask.any() else 0.0


class Material:
    """The face sets at each size, their held-out split, the held-out faces cut from the plate
    at the face's own size there, and the references scores need."""

    def __init__(self, sets: dict[str, str], out: str, split: str = "every"):
        import cv2
        import numpy as np
        from faceplate.convert.face_size import face_px
        from faceplate.extract import alignments
        from faceplate.extract.backends import get_backend
        from faceplate.extract.faceset import load_faceset as load_index
        from faceplate.face.crop import aligned_crop, model_input
        from faceplate.train.data import face_mask, load_faceset
        from faceplate.train.evaluate import Recogniser

        self.folders = sets
        self.split = split
        self._load = load_faceset
        self._cache: dict[tuple[str, int], object] = {}
        self.indices = {n: split_indices(f, split) for n, f in sets.items()}
        full = self.at("A", LM_SIZE)
        self.train, self.held = self.indices["A"]
        self.held_b = self.indices["B"][1]
        # Each held-out face as the plate holds it: cut at the size its crop covers there.
        self.plate: dict[str, list] = {}
        for name, folder in sets.items():
            index = load_index(folder)
            shot = alignments.load(os.path.join(out, "shots", name))
            faces = []
            for i in self.indices[name][1]:
                e = index.entries[i]
                rec = next(f for f in shot.faces(e.frame) if f.track == e.track)
                size = round(face_px(rec.matrix))
                bgr = cv2.imread(os.path.join(out, "plates", name, f"frame.{e.frame:04d}.png"))
                crop = model_input(aligned_crop(bgr[..., ::-1].astype(np.float32) / 255.0,
                                                rec.matrix, size))
                mask = face_mask(e.landmarks * size / index.size, size) > 127
                faces.append((crop, mask))
            self.plate[name] = faces
        self.plate_px = int(np.median([c.shape[0] for f in self.plate.values() for c, _ in f]))
        self.landmarker = get_backend("dlib")
        self.recogniser = Recogniser()
        b = self.at("B", LM_SIZE)
        self.ref_b = self.recogniser.describe(b.rgb()[self.held_b], b.landmarks[self.held_b])
        # The box dlib finds on each held-out plate crop: the swaps are read in the same box.
        self.boxes = []
        for crop, lm in zip(full.rgb()[self.held], full.landmarks[self.held]):
            found = self.landmarker.detect(crop)
            self.boxes.append(found[0].bbox if found else (*lm.min(0), *lm.max(0)))
        self.floor = float(sum(self.nme(full.rgb()[self.held])) / len(self.held))

    def at(self, name: str, size: int):
        if (name, size) not in self._cache:
            self._cache[(name, size)] = self._load(self.folders[name], name, size)
        return self._cache[(name, size)]

    def nme(self, crops) -> list[float]:
        """Landmark NME of each held-out A crop (at LM_SIZE) against the plate's landmarks."""
        from faceplate.train.evaluate import landmark_nme

        ref = self.at("A", LM_SIZE).landmarks[self.held]
        return [landmark_nme(self.landmarker.landmarks_in_box(c, box), r)
                for c, box, r in zip(crops, self.boxes, ref)]


def resize(batch, size: int):
    import cv2
    import numpy as np

    if batch.shape[1] == size:
        return batch
    interp = cv2.INTER_AREA if batch.shape[1] > size else cv2.INTER_CUBIC
    return np.stack([cv2.resize(c, (size, size), interpolation=interp) for c in batch])


def reconstruction(decode, resolution: int, m: Material) -> dict:
    """SSIM, PSNR and sharpness of the held-out reconstructions at 64 px, at the model's own
    size and at the face's size on the plate."""
    import numpy as np
    from faceplate.train.evaluate import psnr, ssim

    vals: dict[str, list[float]] = {}

    def add(tag: str, truth, face, mask) -> None:
        vals.setdefault(f"ssim_{tag}", []).append(ssim(truth, face, mask))
        vals.setdefault(f"psnr_{tag}", []).append(psnr(truth, face, mask))
        vals.setdefault(f"sharp_{tag}", []).append(
            sharpness_energy(face, mask) / max(sharpness_energy(truth, mask), 1e-12))

    for j, name in enumerate(("A", "B")):
        held = m.indices[name][1]
        faces = np.clip(decode(m.at(name, resolution).rgb()[held], j), 0, 1).astype(np.float32)
        for size, tag in ((SCORE_SIZE, "64"), (resolution, "own")):
            ref = m.at(name, size)
            for a, b, mask in zip(ref.rgb()[held], resize(faces, size),
                                  ref.pixels[held, ..., 3] > 127):
                add(tag, a, b, mask)
        for face, (truth, mask) in zip(faces, m.plate[name]):
            add("plate", truth, resize(face[None], truth.shape[0])[0], mask)
    out = {k: round(float(np.mean(v)), 2 if k.startswith("psnr") else 4)
           for k, v in vals.items()}
    out["plate_px"] = m.plate_px
    return out


def score(decode, resolution: int, m: Material) -> dict:
    """The one scoring function: ``decode(crops N×r×r×3, identity 0|1) -> faces N×r×r×3``."""
    import numpy as np

    out = reconstruction(decode, resolution, m)
    a = m.at("A", resolution)
    swaps = resize(np.clip(decode(a.rgb()[m.held], 1), 0, 1).astype(np.float32), LM_SIZE)
    out["swap_nme"] = round(float(np.mean(m.nme(swaps))), 4)
    out["nme_floor"] = round(m.floor, 4)
    desc = m.recogniser.describe(swaps, m.at("A", LM_SIZE).landmarks[m.held])
    out["identity_to_b"] = round(float(np.mean(np.linalg.norm(
        desc[:, None] - m.ref_b[None], axis=-1))), 4)
    return out


def curve_point(decode, resolution: int, m: Material) -> dict:
    """The figures plotted along the way (for the points along the curve)."""
    r = reconstruction(decode, resolution, m)
    return {k: r[k] for k in ("ssim_64", "ssim_own", "sharp_own", "ssim_plate", "sharp_plate")}


# -- decoders for each kind of model ---------------------------------------------------------
def torch_decode(net, batch: int = 32):
    import numpy as np
    import torch

    @torch.no_grad()
    def decode(crops, identity: int):
        net.eval()
        outs = []
        for i in range(0, len(crops), batch):
            x = torch.from_numpy(np.ascontiguousarray(crops[i:i + batch])).permute(0, 3, 1, 2)
            y = net(x, identity)
            y = y[0] if isinstance(y, tuple) else y
            outs.append(y.float().permute(0, 2, 3, 1).numpy())
        return np.concatenate(outs)

    return decode


class ClassicNet:
    """The classic network as ``net(x, identity)``."""

    def __init__(self, net):
        self.net = net

    def eval(self):
        self.net.eval()

    def __call__(self, x, identity: int):
        return self.net.decoders[identity](self.net.encoder(x))


def faceplate_points(model_dir: str, offsets: dict[int, float] | None = None):
    """(training seconds, network with the weights inference uses) at each checkpoint;
    ``offsets``: seconds of earlier stages before a checkpoint of each size (growth)."""
    from faceplate.model.card import ModelCard
    from faceplate.model.network import AutoEncoder
    from faceplate.train.checkpoint import read_checkpoint

    folder = os.path.join(model_dir, "checkpoints")
    for name in sorted(os.listdir(folder)):
        c = read_checkpoint(os.path.join(folder, name))
        card = ModelCard.from_dict(c.meta["card"])
        prefix = "ema." if any(k.startswith("ema.") for k in c.tensors) else "model."
        net = AutoEncoder(card)
        net.load_state_dict({k[len(prefix):]: v for k, v in c.tensors.items()
                             if k.startswith(prefix)})
        start = (offsets or {}).get(card.resolution, 0.0)
        yield start + float(c.meta.get("run_clock_s", c.meta["elapsed_s"])), card.resolution, net


def train_faceplate(name: str, flags: list[str], sets: dict[str, str], out: str,
                    budget_s: float, clock: str, threads: int,
                    holdout: str = str(HOLDOUT), fresh: bool = True) -> tuple[dict, str]:
    model = os.path.join(out, "models", name)
    if fresh:  # a new model, never a resumed one
        shutil.rmtree(model, ignore_errors=True)
    every = budget_s / CURVE_POINTS
    cmd = cli("train", *[a for n, d in sets.items() for a in ("--faceset", f"{n}={d}")],
              "-m", model, "--consent", CONSENT, "--time", f"{budget_s:g}s", "--clock", clock,
              "--holdout", holdout, "--seed", "0", "--preview-every", "0",
              "--checkpoint-every", "0", "--checkpoint-every-time", f"{every:g}s",
              "--keep", "100", "--json", *flags)
    with open(os.path.join(out, f"train_{name}.log"), "a" if not fresh else "w") as log:
        proc = subprocess.run(cmd, check=False, env=env(threads), stdout=subprocess.PIPE,
                              stderr=log, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"training {name} failed (exit {proc.returncode}): see "
                         f"{log.name}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), model


def build_ladder(model: str, flags: list[str], sets: dict[str, str], size: int) -> list[str]:
    """A new model folder holding the network a model grown from ``flags``' preset up to
    ``size`` ends as, untrained (training starts its face priors): growth's architecture
    without its schedule. Returns ``flags`` without the ``ladder=`` marker."""
    from faceplate.model.network import AutoEncoder, grow
    from faceplate.model.store import save_model
    from faceplate.train.config import TrainConfig

    shutil.rmtree(model, ignore_errors=True)
    os.makedirs(model)
    card = TrainConfig.from_preset(flags[flags.index("--preset") + 1], facesets=sets,
                                   model_dir=model, consent=CONSENT).new_card()
    state = AutoEncoder(card).state_dict()
    while card.resolution < size:
        card, state = grow(card, state, card.decoder_widths[-1], fade_steps=0)
    net = AutoEncoder(card)
    net.load_state_dict(state)
    save_model(model, card, net)
    return [f for f in flags if not f.startswith("ladder=")]


def train_staged(name: str, stages: list, sets: dict[str, str], out: str, budget_s: float,
                 clock: str, threads: int, holdout: str) -> tuple[dict, str, dict[int, float]]:
    """Train ``stages`` (share of the budget, flags) one after another on one model folder;
    the result sums the stages' steps, and the offsets give each size's start on the clock."""
    model = os.path.join(out, "models", name)
    shutil.rmtree(model, ignore_errors=True)
    offsets: dict[int, float] = {}
    spent = 0.0
    result: dict = {}
    for share, flags in stages:
        ladder = next((int(f[7:]) for f in flags if f.startswith("ladder=")), None)
        if ladder:
            flags = build_ladder(model, flags, sets, ladder)
        result, _ = train_faceplate(name, flags, sets, out, budget_s * share, clock, threads,
                                    holdout, fresh=False)
        with open(os.path.join(model, "card.json")) as fh:
            offsets[json.load(fh)["resolution"]] = spent
        spent += result["elapsed_s"]
    return result, model, offsets


def train_classic(out_dir: str, sets: dict[str, str], budget_s: float, clock: str,
                  split: str = "every") -> dict:
    """Child process: the classic model with its classic recipe (L1 on the whole crop, Adam
    5e-5) on our augmented batches (random warp included), snapshots along the way."""
    import torch
    from faceplate.train.augment import CLASSIC, make_batch
    from faceplate.train.data import load_faceset
    from faceplate.train.trainer import clock as make_clock
    from safetensors.torch import save_file
    from train import BATCH, CLASSIC_LR, classic_network

    torch.manual_seed(0)
    net = classic_network(64)
    opt = torch.optim.Adam(net.parameters(), lr=CLASSIC_LR, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(1)
    faces, pools = [], []
    for name in ("A", "B"):
        fs = load_faceset(sets[name], name, 64)
        faces.append(torch.from_numpy(fs.pixels).permute(0, 3, 1, 2).contiguous())
        pools.append(torch.from_numpy(split_indices(sets[name], split)[0]))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    now = make_clock(clock)

    def snap(spent: float) -> None:
        save_file({k: v.contiguous() for k, v in net.state_dict().items()},
                  os.path.join(out_dir, f"snap_{steps:08d}.safetensors"),
                  {"elapsed_s": f"{spent:.2f}"})

    start, steps, next_snap = now(), 0, budget_s / CURVE_POINTS
    while now() - start < budget_s:
        batches = [make_batch(f, p[torch.randint(len(p), (BATCH,), generator=gen)], gen,
                              CLASSIC) for f, p in zip(faces, pools)]
        z = net.encoder(torch.cat([b.input for b in batches]))
        loss = sum((dec(part) - b.target).abs().mean()
                   for dec, part, b in zip(net.decoders, z.split(BATCH), batches))
        opt.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        opt.step()
        steps += 1
        if now() - start >= next_snap and now() - start < budget_s:
            snap(now() - start)
            next_snap += budget_s / CURVE_POINTS
    snap(now() - start)
    return {"steps": steps, "params_m": round(sum(p.numel() for p in net.parameters()) / 1e6,
                                              2)}


def classic_points(out_dir: str):
    from safetensors import safe_open
    from safetensors.torch import load_file
    from train import classic_network

    for name in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, name)
        with safe_open(path, "pt") as fh:
            elapsed = float(fh.metadata()["elapsed_s"])
        net = classic_network(64)
        net.load_state_dict(load_file(path))
        yield elapsed, 64, ClassicNet(net)


# -- pictures --------------------------------------------------------------------------------
def write_plot(path: str, results: list[dict], mean_line: dict) -> None:
    """Held-out SSIM and sharpness against training time, at each model's own size (top) and
    at the face's size on the plate (below: comparable across sizes, and along a growth)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 8.2), dpi=110)
    split = "every 4th frame held out" if results[0]["split"] == "every" else \
        f"last {BLOCK:.0%} of each half held out"
    clock = "CPU time / threads" if results[0]["clock"] == "cpu" else "wall time"
    panels = [(f"{stat}_{at}", title, where, at) for at, where in (
        ("own", "model's own size"), ("plate", "face's size on the plate"))
        for stat, title in (("ssim", "held-out SSIM in the face mask"),
                            ("sharp", "sharpness (swap / truth)"))]
    for k, (key, title, where, at) in enumerate(panels):
        ax = fig.add_subplot(2, 2, k + 1)
        for r in results:
            ax.plot([p[0] / 60 for p in r["curve"]], [p[1][key] for p in r["curve"]],
                    marker="o", label=f"{r['model']} ({r['params_m']} M, {r['resolution']} px)")
        mean = mean_line[key.replace("own", "64")]
        ax.axhline(mean, color="grey", linestyle="--",
                   label=f"mean training face ({'64 px' if at == 'own' else 'plate'})")
        ax.set_xlabel(f"training minutes ({clock}, {results[0]['threads']} threads)")
        ax.set_ylabel(f"{title},\n{where}", fontsize=9)
        ax.set_title(split, fontsize=9)
        values = [p[1][key] for r in results for p in r["curve"]] + [mean]
        top = max(values) + 0.02 if at == "plate" else max(1.0, max(values) + 0.02)
        ax.set_ylim(max(0.0, min(values) - 0.05), top)
        ax.set_xlim(left=0.0)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def write_sheet(path: str, m: Material, decoders: dict) -> None:
    """Rows: held-out faces of A; columns: the face, then per model its reconstruction and
    its swap to B."""
    import cv2
    import numpy as np
    from faceplate.pictures import label, stack_rows

    tile = 128
    pick = m.held[np.linspace(0, len(m.held) - 1, SHEET_ROWS).round().astype(int)]
    rows = []
    for row, i in enumerate(pick):
        tiles = []
        face = m.at("A", LM_SIZE).rgb()[i]
        tiles.append(("held-out A", face))
        for name, (decode, res) in decoders.items():
            crop = m.at("A", res).rgb()[i:i + 1]
            tiles += [(f"{name} rec", decode(crop, 0)[0]), (f"{name} A>B", decode(crop, 1)[0])]
        cells = []
        for text, img in tiles:
            u8 = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
            u8 = cv2.resize(u8, (tile, tile), interpolation=cv2.INTER_AREA
                            if u8.shape[0] > tile else cv2.INTER_CUBIC)
            cells.append(label(u8, text) if row == 0 else u8)
        rows.append(np.concatenate(cells, axis=1))
    cv2.imwrite(path, stack_rows(rows)[..., ::-1])


# -- main ------------------------------------------------------------------------------------
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=6.0, help="training budget per model")
    p.add_argument("--models", default="classic,today,default,standard",
                   help=f"comma-separated, of {', '.join([*MODELS, *STAGED])}")
    p.add_argument("--try", dest="tries", action="append", default=[], metavar='NAME="FLAGS"',
                   help="also train `faceplate train FLAGS` as NAME (for choosing a recipe); "
                        "'A || B': stages A then B on one model, half the budget each")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 s per model")
    p.add_argument("--split", choices=SPLITS, default="every",
                   help="held-out faces: every 4th frame of each half, or its last 30 %%")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("-o", "--out", help="output folder (default: a new temporary folder)")
    p.add_argument("--plot", nargs="+", metavar="JSONL",
                   help="only draw quality.png from the JSON lines of earlier runs (one split)")
    p.add_argument("--train-classic", nargs=2, metavar=("DIR", "SECONDS"),
                   help=argparse.SUPPRESS)
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="faceplate-quality-")
    os.makedirs(out, exist_ok=True)
    if args.plot:
        lines = []
        for path in args.plot:
            with open(path) as fh:
                lines += [json.loads(line) for line in fh]
        mean = next(r for r in lines if r.get("model") == "mean_face")
        write_plot(os.path.join(out, "quality.png"), [r for r in lines if "curve" in r], mean)
        return 0
    sys.path.insert(0, HERE)
    import torch

    torch.set_num_threads(args.threads)
    if args.train_classic:
        sets = {n: os.path.join(out, "faces", n) for n in ("A", "B")}
        print(json.dumps(train_classic(args.train_classic[0], sets,
                                       float(args.train_classic[1]), args.clock, args.split)))
        return 0
    budget = 20.0 if args.quick else args.minutes * 60.0
    runs: dict[str, list | None] = {}
    for name in filter(None, args.models.split(",")):
        if name not in MODELS and name not in STAGED:
            raise SystemExit(f"unknown model {name!r}: use {', '.join([*MODELS, *STAGED])}")
        runs[name] = STAGED[name] if name in STAGED else MODELS[name]
    for item in args.tries:
        name, _, text = item.partition("=")
        flags = shlex.split(text)
        if "||" in flags:  # stages on one model folder, equal shares of the budget
            parts: list[list[str]] = [[]]
            for flag in flags:
                parts.append([]) if flag == "||" else parts[-1].append(flag)
            STAGED[name] = [(1 / len(parts), part) for part in parts]
            runs[name] = STAGED[name]
        else:
            runs[name] = flags
    sets = prepare(out)
    material = Material(sets, out, args.split)
    train_sets, holdout = training_sets(sets, out, args.split)
    common = {"bench": "quality", "split": args.split, "threads": args.threads,
              "clock": args.clock, "budget_s": budget,
              "held_out_faces": len(material.held) + len(material.held_b)}

    mean_faces = {}
    for j, name in enumerate(("A", "B")):
        fs = material.at(name, SCORE_SIZE)
        mean_faces[j] = fs.rgb()[material.indices[name][0]].mean(0)
    mean_decode = lambda crops, j: mean_faces[j][None].repeat(len(crops), 0)
    mean_line = {**common, "model": "mean_face", "resolution": SCORE_SIZE, "load": load_average(),
                 **score(mean_decode, SCORE_SIZE, material)}
    print(json.dumps(mean_line), flush=True)
    for size in (128, 256):
        half = lambda crops, j, size=size: resize(resize(crops, size // 2), size)
        print(json.dumps({**common, "model": f"truth_{size // 2}px", "resolution": size,
                          "load": load_average(), **score(half, size, material)}), flush=True)

    results, decoders = [], {}
    for name, flags in runs.items():
        load = load_average()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        if flags is None:
            folder = os.path.join(out, "models", name)
            proc = subprocess.run([sys.executable, __file__, "-o", out, "--clock", args.clock,
                                   "--threads", str(args.threads), "--split", args.split,
                                   "--train-classic", folder,
                                   str(budget)], check=True, env=env(args.threads),
                                  stdout=subprocess.PIPE, text=True)
            info = json.loads(proc.stdout.strip().splitlines()[-1])
            points = list(classic_points(folder))
            trained = {"steps": info["steps"], "params_m": info["params_m"], "preset": "classic"}
        else:
            if name in STAGED:
                result, folder, offsets = train_staged(name, flags, train_sets, out, budget,
                                                       args.clock, args.threads, holdout)
            else:
                result, folder = train_faceplate(name, flags, train_sets, out, budget,
                                                 args.clock, args.threads, holdout)
                offsets = {}
            points = list(faceplate_points(folder, offsets))
            net = points[-1][2]
            trained = {"steps": result["steps"], "preset": result["preset"],
                       "precision": result["precision"],
                       "params_m": round(sum(q.numel() for q in net.parameters()) / 1e6, 2)}
        wall = time.monotonic() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        _, res, net = points[-1]
        decode = torch_decode(net)
        line = {**common, "model": name, "resolution": res, **trained,
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1),
                "load": load, "load_end": load_average(), "flags": flags,
                **score(decode, res, material),
                "curve": [[round(t, 1), curve_point(torch_decode(n), r, material)]
                          for t, r, n in points]}
        print(json.dumps(line), flush=True)
        results.append(line)
        decoders[name] = (decode, res)
    if results:
        write_plot(os.path.join(out, "quality.png"), results, mean_line)
        write_sheet(os.path.join(out, "sheet.png"), material, decoders)
    print(json.dumps({"bench": "quality_files", "out": out,
                      "plot": os.path.join(out, "quality.png"),
                      "sheet": os.path.join(out, "sheet.png")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
