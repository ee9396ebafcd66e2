"""Training benchmark: images/s and peak memory at 64, 128 and 256 px on this CPU, ours beside
the classic deepfake autoencoder at equal batch size.

Prints one JSON object per line on stdout, one per resolution:
  {"bench": "train", "resolution": 64, "batch": "2x8", "faceplate": {"images_per_s": …,
   "peak_rss_mib": …, "params_m": …}, "baseline": {…}, "speedup": …, "memory_ratio": …}
and one line for the demo preset ({"bench": "train_demo", …}).

"faceplate" is one full training step of ours (device-side augmentation, masked DSSIM + L1 +
mask loss, Adam) with the default widths for the resolution. "baseline" is written here from
the published layer list of the classic 64 px model (encoder 5×5 stride-2 convs at
128/256/512/1024, dense 16384→1024→16384, upscale to 512×8×8; per decoder three sub-pixel
upscales at 256/128/64 and a 5×5 conv to RGB with a sigmoid; ≈82 M parameters), trained with
plain L1 and Adam on ready-made tensors (no augmentation: that favours the baseline). Above
64 px it keeps its 4×4×1024 bottleneck by adding 1024-wide encoder stages and 64-wide decoder
upscales (scaling the dense layer instead would need 0.5 G parameters at 256 px).
Each measurement runs in its own process (peak RSS is per process). Compare ratios within one
run: the machine is shared. BENCH_STEPS (default 3) timed steps after one warm-up step.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

BATCH = 8  # per identity; two identities


def classic_network(resolution: int = 64):
    """The classic deepfake autoencoder from its published layer list (see the docstring):
    ``.encoder`` (shared) and ``.decoders`` (two), faces out through a sigmoid, no mask head."""
    from torch import nn

    def up(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout * 4, 3, padding=1), nn.LeakyReLU(0.1),
                             nn.PixelShuffle(2))

    extra = {64: 0, 128: 1, 256: 2}[resolution]
    enc = []
    for cin, cout in [(3, 128), (128, 256), (256, 512), (512, 1024)] + [(1024, 1024)] * extra:
        enc += [nn.Conv2d(cin, cout, 5, stride=2, padding=2), nn.LeakyReLU(0.1)]

    class Classic(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(16384, 1024),
                                         nn.Linear(1024, 16384), nn.Unflatten(1, (1024, 4, 4)),
                                         up(1024, 512))
            self.decoders = nn.ModuleList(
                nn.Sequential(up(512, 256), up(256, 128), up(128, 64),
                              *[up(64, 64) for _ in range(extra)],
                              nn.Conv2d(64, 3, 5, padding=2), nn.Sigmoid()) for _ in range(2))

    return Classic()


CLASSIC_LR = 5e-5  # the classic recipe: Adam(5e-5, 0.5, 0.999), L1


def _baseline(resolution: int):
    import torch

    net = classic_network(resolution)
    opt = torch.optim.Adam(net.parameters(), lr=CLASSIC_LR, betas=(0.5, 0.999))
    data = [torch.rand(BATCH, 3, resolution, resolution) for _ in range(4)]

    def step():
        z = net.encoder(torch.cat([data[0], data[1]]))
        loss = sum((dec(part) - target).abs().mean()
                   for dec, part, target in zip(net.decoders, z.split(BATCH), data[2:]))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return net, step


def _faceplate(resolution: int, widths: dict):
    import cv2
    import numpy as np
    import torch
    from faceplate.model.card import ModelCard
    from faceplate.model.network import AutoEncoder
    from faceplate.samples import source_image
    from faceplate.train.augment import CLASSIC, make_batch
    from faceplate.train.loss import LossWeights, face_loss
    from faceplate.train.trainer import Joint

    card = ModelCard.for_resolution(["a", "b"], resolution, **widths)
    net = AutoEncoder(card)
    joint = Joint(net)
    opt = torch.optim.Adam(net.parameters(), lr=5e-5, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(0)
    faces = []
    for name in ("grace_hopper", "astronaut"):  # real photos; an ellipse stands in for the mask
        rgb = cv2.resize(source_image(name), (resolution, resolution))
        mask = np.zeros((resolution, resolution), np.float32)
        c = resolution // 2
        cv2.ellipse(mask, (c, c), (c * 2 // 3, c * 4 // 5), 0, 0, 360, 1.0, -1)
        region = np.zeros_like(mask)
        cv2.ellipse(region, (c, c), (c // 2, c // 4), 0, 0, 360, 1.0, -1)
        stack = np.dstack([rgb, mask, region])[None].repeat(16, 0)
        faces.append(torch.from_numpy((stack * 255).astype(np.uint8)).permute(0, 3, 1, 2)
                     .contiguous())
    aug, weights = CLASSIC, LossWeights()

    def step():
        batches = [make_batch(f, torch.randint(16, (BATCH,), generator=gen), gen, aug)
                   for f in faces]
        outputs = joint(torch.cat([b.input for b in batches]), [BATCH, BATCH])
        loss = sum(face_loss(face, mask, b, weights) for (face, mask), b in zip(outputs, batches))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return net, step


def one(kind: str, resolution: int) -> dict:
    """Measure one model in this process."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    torch.manual_seed(0)
    if kind == "baseline":
        net, step = _baseline(resolution)
    elif kind == "demo":
        from faceplate.train.trainer import PRESETS

        demo = PRESETS["demo"]
        net, step = _faceplate(resolution, {"decoder_blocks": 1, **{k: demo[k] for k in (
            "encoder_widths", "latent", "bridge", "decoder_widths")}})
    else:
        net, step = _faceplate(resolution, {})
    steps = int(os.environ.get("BENCH_STEPS", "3"))
    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    return {"images_per_s": round(steps * 2 * BATCH / dt, 2),
            "s_per_step": round(dt / steps, 3),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "params_m": round(sum(p.numel() for p in net.parameters()) / 1e6, 2)}


def _measure(kind: str, resolution: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--one", kind, str(resolution)],
                          check=True, capture_output=True, text=True)
    return json.loads(proc.stdout)


def main() -> int:
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one(sys.argv[2], int(sys.argv[3]))))
        return 0
    threads = os.environ.get("OMP_NUM_THREADS", "1")
    for resolution in (64, 128, 256):
        ours = _measure("faceplate", resolution)
        base = _measure("baseline", resolution)
        print(json.dumps({
            "bench": "train", "resolution": resolution, "batch": f"2x{BATCH}",
            "threads": int(threads), "device": "cpu", "faceplate": ours, "baseline": base,
            "speedup": round(ours["images_per_s"] / base["images_per_s"], 2),
            "memory_ratio": round(ours["peak_rss_mib"] / base["peak_rss_mib"], 2)}), flush=True)
    demo = _measure("demo", 64)
    print(json.dumps({"bench": "train_demo", "resolution": 64, "batch": f"2x{BATCH}",
                      "threads": int(threads), "faceplate_demo_preset": demo}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
