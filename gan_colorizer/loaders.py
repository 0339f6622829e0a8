"""The data a training run is handed: its photos (sources and split) and the DataLoaders over them.

A command opens the photos (`open_photos`) before it builds a trainer, so a missing or empty data
set is reported before anything is written, and the trainer only iterates what it is given.
"""
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from gan_colorizer import data
from gan_colorizer.config import RunConfig
from gan_colorizer.errors import ConfigError
from gan_colorizer.runtime import World

log = logging.getLogger(__name__)


def ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers leave SIGTERM and SIGINT to the main process.

    A scheduler (or `kill` of the process group, or Ctrl-C) signals every process; a worker that
    died of it would crash the main process before it could write last.pt.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class Photos:
    """A run's photos (source and train/val split) and the loaders a trainer iterates."""

    source: data.PhotoSource | data.MultiSource
    split: data.Split
    cfg: RunConfig

    def train_loader(self, start_step: int, world: World, device: torch.device) -> DataLoader:
        """(L_n, ab_n) batches of the seeded sample stream from `start_step` on, this rank's share."""
        t, workers = self.cfg.train, self.cfg.data.workers
        crops = data.TrainCrops(self.source, self.split, self.cfg.data, t.seed)
        sampler = data.StepSampler(start_step, t.steps, t.batch_size, world.rank, world.size)
        return DataLoader(crops, batch_size=t.batch_size, sampler=sampler, num_workers=workers,
                          pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None,
                          worker_init_fn=ignore_stop_signals)

    def val_loader(self) -> DataLoader:
        """(L_n, ab_n) of the central square of every val photo, in a fixed order."""
        return DataLoader(data.ValImages(self.source, self.split.val, self.cfg.data.size),
                          batch_size=self.cfg.train.batch_size, num_workers=min(self.cfg.data.workers, 1))


def open_photos(cfg: RunConfig) -> Photos:
    """List, check and split the photos of `cfg.data.paths` (folders, .zip/.tar files or .txt lists).

    Under torchrun every rank calls it: rank 0 checks the photos (or reads the cache) while the
    others wait, then all read the same result.
    """
    if not cfg.data.paths:
        raise ConfigError("data.paths: no photos given; pass --data FOLDER_OR_ZIP")
    source = data.open_sources([Path(path) for path in cfg.data.paths])
    split = data.scan(source, cfg.data)
    log.info("%d train / %d val photos (%d near-gray, %d unreadable left out)", len(split.train),
             len(split.val), len(split.gray), len(split.unreadable))
    return Photos(source, split, cfg)
