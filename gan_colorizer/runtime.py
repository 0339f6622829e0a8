"""Device choice, seeding, the offline torch cache and torchrun's process group: process-level setup.

A tool started by `torchrun` finds RANK, WORLD_SIZE and LOCAL_RANK in its environment; `distributed`
then joins the process group (NCCL on CUDA, gloo on CPU) and gives each process its own device. A
plain `python tools/...` run sees no such variables and runs as rank 0 of 1: the helpers below are
then no-ops, so the training code has one path for both.
"""
import os
import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gan_colorizer.errors import ConfigError, MissingWeightsError

SUMMARY_TIMEOUT = timedelta(days=1)  # how long a run's closing summary waits for the slowest rank


def pick_device(name: str = "auto") -> torch.device:
    """`auto` takes CUDA when present, else the CPU; asking for CUDA without one is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA device is available; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch once per process, so two runs with one seed start alike."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def torch_cache_dir() -> Path:
    """`$TORCH_HOME/hub/checkpoints`, the folder torchvision, lpips and pytorch-fid read weights from."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_weights(file_name: str) -> Path:
    """Find a pretrained weights file in the torch cache. Never downloads.

    Raises MissingWeightsError naming the file and where to put it.
    """
    found = torch_cache_dir() / file_name
    if not found.is_file():
        raise MissingWeightsError(
            f"pretrained weights {file_name} not found: copy it to {found.parent}/ "
            f"(or set TORCH_HOME); nothing is downloaded"
        )
    return found



@dataclass(frozen=True)
class World:
    """This process's rank among `size` training processes (rank 0 of 1 outside torchrun)."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files, logs at INFO and shows progress bars."""
        return self.rank == 0


def world() -> World:
    """This process's rank and the number of processes: the process group's when one exists, else
    torchrun's environment (so it holds before the group is joined and after it ends), else 0 of 1."""
    if dist.is_initialized():
        return World(rank=dist.get_rank(), size=dist.get_world_size())
    return World(rank=int(os.environ.get("RANK", "0")), size=int(os.environ.get("WORLD_SIZE", "1")))


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel or torch.compile wrapper (itself when bare):
    what checkpoints store and what rank-0-only work (validation) runs without syncing."""
    module = module.module if isinstance(module, DistributedDataParallel) else module
    return getattr(module, "_orig_mod", module)  # torch.compile's OptimizedModule keeps the original here


@contextmanager
def stop_on_signals(signums: tuple[int, ...]) -> Iterator[dict]:
    """Turn these signals into a flag a loop checks between steps, so it can save its work and leave."""
    request = {"stop": False}
    previous = {}  # signal number -> the handler to put back
    try:
        for signum in signums:
            previous[signum] = signal.signal(signum, lambda signum, frame: request.update(stop=True))
    except ValueError:  # not the main thread (e.g. a test runner's thread): Ctrl-C still works
        pass
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def opencv_threads(count: int) -> Iterator[None]:
    """OpenCV's own thread pool at `count` threads inside the block (process-wide), restored after it.

    A folder run overlaps whole photos in its reader and writer threads; OpenCV splitting each call
    over every core besides only adds switching (3.0 photos/s with one OpenCV thread against 2.5 with
    two, docs/performance.md). One photo alone keeps the pool: its calls have nothing to overlap with.
    """
    before = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


@contextmanager
def distributed(device_name: str = "auto") -> Iterator[torch.device]:
    """Yield this process's device; under torchrun (WORLD_SIZE > 1) join the process group first.

    Each process takes CUDA device LOCAL_RANK and NCCL, or the CPU and gloo. The group is destroyed on
    the way out, also when training raises, so no process lingers holding the rendezvous port.
    """
    device = pick_device(device_name)
    if world().size <= 1:
        yield device
        return
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s): "
                              f"lower torchrun --nproc_per_node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                            device_id=device if device.type == "cuda" else None)
    try:
        yield device
    finally:
        dist.destroy_process_group()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when `flag` is True on at least one (e.g. one rank received SIGTERM).

    Every rank must call it at the same point of the loop; without a process group it returns `flag`.
    """
    if not dist.is_initialized():
        return flag
    shared = torch.tensor([float(flag)], device=device)
    dist.all_reduce(shared, op=dist.ReduceOp.MAX)
    return bool(shared.item())


def mean_over_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Each value averaged over the ranks (for logging one number per step); unchanged without a group."""
    if not dist.is_initialized() or not values:
        return values
    stacked = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    return dict(zip(values, (stacked / dist.get_world_size()).tolist()))


def share_from_main(value: str | None) -> str | None:
    """Rank 0's `value` on every rank; the other ranks wait here until rank 0 arrives.

    Used after work only rank 0 does (validation, checkpoint writing) to pass on its error, if any.
    """
    if not dist.is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def summary_group() -> dist.ProcessGroup | None:
    """A gloo group for gathering a colorize run's closing summary, or None outside torchrun.

    Every rank must make it at the same point, at the start: the summary waits for the slowest rank
    (larger photos, longer videos, a slower GPU), which on a folder of millions may be far past the
    default group's timeout (10 minutes with NCCL), so this group waits a day.
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return None
    return dist.new_group(backend="gloo", timeout=SUMMARY_TIMEOUT)


def gathered(value: object, group: dist.ProcessGroup | None) -> list:
    """Every rank's `value`, in rank order, on every rank ([value] without a group)."""
    if group is None:
        return [value]
    values: list = [None] * dist.get_world_size(group)
    dist.all_gather_object(values, value, group=group)
    return values
