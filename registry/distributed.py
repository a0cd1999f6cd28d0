"""Data-parallel training across processes with ``torch.distributed`` (DistributedDataParallel).

``genzoo train MODEL ... --nproc N`` checks its input, names the run, and starts N copies of
itself through ``torchrun`` (``python -m torch.distributed.run --standalone``); each copy sees
``RANK`` and ``WORLD_SIZE`` in its environment and trains one shard of every batch:

- the global batch is the config's ``batch_size``; every process draws the same batch indices
  from the same generator and keeps its own ``batch_size / N`` slice, so the N slices together
  are exactly the batch a single process would draw;
- DistributedDataParallel averages the gradients over the processes (gloo on CPUs, NCCL on
  GPUs, one GPU per process), which for equal slices is the gradient of the global batch's mean
  loss: the same step a single process takes, up to the order of floating-point sums;
- the logged loss parts are averaged over the processes too, so the curve is the global one;
- only rank 0 writes to the runs store and its checkpoints (a plain model state: `genzoo
  resume` continues it in one process), and evaluates the model when training is done.

Every process must take the same number of steps, so a distributed run is budgeted in
``--steps``. Models trained through ``loss()`` (the default ``training_step``) are supported; a
model with its own multi-optimizer step (the GAN) is refused with a message. Running on several
machines is ``torchrun``'s job: see docs/scaling.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch
from torch import nn

from .errors import BadConfig, GenzooError
from .model import GenerativeModel


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (``rank`` 0 of 1 when alone)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """Whether several processes train together."""
        return self.size > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the one process that writes the store, checkpoints and evaluates."""
        return self.rank == 0


#: A process that trains alone.
ALONE = World()


def current_world(environ=os.environ) -> World:
    """The world ``torchrun`` describes in the environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``), or a single process."""
    size = int(environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        return World()
    return World(rank=int(environ["RANK"]), size=size,
                 local_rank=int(environ.get("LOCAL_RANK", environ["RANK"])))


def init_process_group(world: World, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, one GPU per local rank; gloo on CPU); returns the
    device this process trains on."""
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                rank=world.rank, world_size=world.size)
    return device


def check_model_class(model_class: type) -> None:
    """Refuse a model whose own ``training_step`` does not go through ``loss`` (several
    optimizers or players: the GAN), which DistributedDataParallel would not synchronize. A
    model that only adds to the default step declares ``distributes_through_loss = True``."""
    if (model_class.training_step is not GenerativeModel.training_step
            and not model_class.distributes_through_loss):
        raise BadConfig(f"{model_class.__name__} trains with its own training_step (several "
                        "optimizers or players); --nproc supports models trained through "
                        "loss(): train it in one process")


def check_distributable(model: GenerativeModel, batch_size: int, world: World,
                        steps: int | None, seconds: float | None, compile: bool = False) -> None:
    """Refuse, before anything is written, what data parallelism cannot train the same way."""
    if compile:
        raise BadConfig("--compile with --nproc is not supported: the processes train eagerly")
    check_model_class(type(model))
    if seconds is not None:
        raise BadConfig("--nproc needs --steps, not --seconds: every process must take the same "
                        "number of steps")
    if batch_size % world.size:
        raise BadConfig(f"batch_size={batch_size} does not split over --nproc {world.size} "
                        f"processes: use a multiple of {world.size}")


class LossModule(nn.Module):
    """The module DistributedDataParallel wraps: its forward pass is the model's ``loss``, so
    the gradients of every parameter the loss uses are averaged during ``backward``."""

    def __init__(self, model: GenerativeModel):
        super().__init__()
        self.model = model

    def forward(self, batch: torch.Tensor, **context) -> dict[str, torch.Tensor]:
        return self.model.loss(batch, **context)


def wrap(model: GenerativeModel, device: torch.device):
    """The model's loss through DistributedDataParallel, set as the loss its training step
    calls (``compiled_loss``: the same hook ``--compile`` uses)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    ddp = DistributedDataParallel(LossModule(model), device_ids=ids)
    # A bound method, not the module: assigning a module would make it a child of the model
    # it wraps (a cycle, and extra keys in every checkpoint).
    model.compiled_loss = ddp.__call__
    return ddp


def shard(batch: torch.Tensor, context: dict, world: World) -> tuple[torch.Tensor, dict]:
    """This process's contiguous slice of a global batch (and of its labels)."""
    if not world.distributed:
        return batch, context
    per = len(batch) // world.size
    part = slice(world.rank * per, (world.rank + 1) * per)
    return batch[part], {key: value[part] for key, value in context.items()}


def average(values: dict[str, float], world: World, device: torch.device) -> dict[str, float]:
    """The logged values averaged over the processes: the global batch's loss parts."""
    if not world.distributed:
        return values
    import torch.distributed as dist

    names = sorted(values)
    tensor = torch.tensor([values[name] for name in names], dtype=torch.float64,
                          device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(tensor)
    return {name: float(total) / world.size for name, total in zip(names, tensor.tolist())}


def finish(world: World) -> None:
    """Leave the process group (after a last barrier, so no process exits mid-collective)."""
    if not world.distributed:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def launch(argv: list[str], nproc: int, environ=None) -> int:
    """Run ``genzoo ARGV`` in ``nproc`` processes through torchrun on this machine; returns
    its exit code. ARGV must name the run (``--run-id``) so the caller can read it afterwards."""
    if nproc < 1:
        raise BadConfig(f"--nproc must be at least 1, got {nproc}")
    env = dict(os.environ if environ is None else environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={nproc}", "-m", "genzoo.registry.cli", *argv]
    try:
        return subprocess.run(command, env=env).returncode
    except OSError as exc:
        raise GenzooError(f"could not start torchrun: {exc}") from None


class FollowerStore:
    """What ranks other than 0 train against instead of the runs store: it keeps their copy of
    the run record and writes nothing (rank 0 logs, checkpoints and evaluates for them all)."""

    def __init__(self, record):
        self.record = record

    def get(self, run_id: str):
        return self.record

    def update(self, run_id: str, **fields) -> bool:
        return False

    def log_metrics(self, run_id: str, step: int, values: dict) -> None:
        pass

    def truncate_metrics(self, run_id: str, after_step: int) -> None:
        pass

    def merge_metrics(self, run_id: str, values: dict) -> dict:
        return {}
