"""Data-parallel training across processes started by ``torchrun``.

``torchrun --nproc_per_node N -m faceplate.cli train ...`` sets RANK/WORLD_SIZE; each process
then trains on its slice of every global batch (all ranks draw the same random numbers, so one
generator state describes the run and resumes exactly), gradients are averaged by
DistributedDataParallel (gloo on CPU, NCCL on CUDA), and rank 0 alone writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Group:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owned: bool = False  # we initialised the process group, so we tear it down

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This rank's part of a global batch of ``n`` (n = world × per-rank batch)."""
        per = n // self.world
        return slice(self.rank * per, (self.rank + 1) * per)

    def all_mean(self, values: torch.Tensor) -> torch.Tensor:
        if self.world == 1:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world

    def from_main(self, value: float) -> float:
        """Rank 0's ``value`` on every rank."""
        if self.world == 1:
            return value
        t = torch.tensor([value])
        dist.broadcast(t, 0)
        return float(t.item())

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.owned:
            dist.destroy_process_group()


def join(device: torch.device) -> Group:
    """Join the torchrun process group when launched by it; a group of one otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Group()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if dist.is_initialized():
        return Group(rank, world, local_rank, owned=False)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return Group(rank, world, local_rank, owned=True)
