"""Device choice, seeding and the offline torch cache: the process-level setup every tool shares."""
import random
from pathlib import Path

import numpy as np
import torch

from gan_colorizer.errors import ConfigError, MissingWeightsError


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


def cached_weights(file_name: str, path: str | Path | None = None) -> Path:
    """Find a pretrained weights file: an explicit path, else the torch cache. Never downloads.

    Raises MissingWeightsError naming the file and where to put it.
    """
    if path:
        found = Path(path).expanduser()
        if not found.is_file():
            raise MissingWeightsError(f"{found}: weights file not found")
        return found
    found = torch_cache_dir() / file_name
    if not found.is_file():
        raise MissingWeightsError(
            f"pretrained weights {file_name} not found: copy it to {found.parent}/ "
            f"(or set TORCH_HOME); nothing is downloaded"
        )
    return found

