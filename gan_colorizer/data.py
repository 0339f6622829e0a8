"""Photo data sets from a folder or a .zip: listing, seeded train/val split, crops yielding (L_n, ab_n).

Few photos is the normal case for our users, so every photo is cut many ways: a random square crop
whose side is drawn log-uniformly between `min_crop * min(short side, size)` and the short side, then
resized to `size` and maybe flipped. A 256 px photo gives mild zoom-ins; a 12 MP photo gives anything
from a native-detail patch to the whole view.

The sample stream is a pure function of (seed, sample index): `StepSampler` lists global sample
indices, and each index picks its photo (a per-epoch permutation) and seeds its own crop RNG. A
resumed run therefore sees exactly the samples the uninterrupted run would have, whatever the
number of workers.
"""
import json
import logging
import math
import os
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from tqdm import tqdm

from gan_colorizer import color
from gan_colorizer.config import DataConfig
from gan_colorizer.errors import DataError, ImageError
from gan_colorizer.images import IMAGE_SUFFIXES, Picture, decode_image, is_image_name, list_image_files

log = logging.getLogger(__name__)


class PhotoSource:
    """Image files of a folder (recursive) or a .zip, addressed by a key that is the same for both.

    The key is the path relative to the deepest folder that holds every image, so `photos/` and a
    zip of it (entries `photos/x.jpg`) list identical keys and hence split identically.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = 0
        if self.root.is_dir():
            names = [p.relative_to(self.root).as_posix() for p in list_image_files(self.root)]
        elif self.root.is_file() and zipfile.is_zipfile(self.root):
            with zipfile.ZipFile(self.root) as archive:
                names = [n for n in archive.namelist()
                         if not n.endswith("/") and is_image_name(n) and not n.startswith("__MACOSX/")]
        elif self.root.exists():
            raise DataError(f"{self.root}: not a folder or a .zip archive of images")
        else:
            raise DataError(f"{self.root}: no such folder or .zip")
        if not names:
            raise DataError(f"{self.root}: no images found (looked for {' '.join(IMAGE_SUFFIXES)})")
        names.sort()
        prefix = _common_folder(names)
        self._name_of = {name[len(prefix):]: name for name in names}
        self.keys = sorted(self._name_of)

    def read_bytes(self, key: str) -> bytes:
        name = self._name_of[key]
        if self.root.is_dir():
            return (self.root / name).read_bytes()
        if self._zip is None or self._zip_pid != os.getpid():
            # One handle per process: forked DataLoader workers sharing the parent's file offset
            # read each other's bytes (zipfile then reports bad CRCs).
            self._zip, self._zip_pid = zipfile.ZipFile(self.root), os.getpid()
        return self._zip.read(name)

    def decode(self, key: str, reduce: int = 1) -> Picture:
        try:
            data = self.read_bytes(key)
        except (OSError, zipfile.BadZipFile, KeyError) as err:
            raise ImageError(f"{key}: cannot read ({err})") from None
        return decode_image(data, key, reduce)

    def __getstate__(self) -> dict:  # an open ZipFile cannot cross into worker processes
        return {**self.__dict__, "_zip": None}


def _common_folder(names: list[str]) -> str:
    """Deepest folder prefix ('a/b/') shared by every name, or ''."""
    parts = [PurePosixPath(n).parts[:-1] for n in names]
    common = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/".join(common) + "/" if common else ""


@dataclass
class Split:
    """Keys of the photos used for training and validation, and what was left out and why."""

    train: list[str]
    val: list[str]
    gray: list[str]
    unreadable: list[str]
    short_sides: dict[str, int]  # approximate shorter side in pixels, to pick a fast decode size

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=1))


def split_keys(keys: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Shuffle the sorted keys with `random.Random(seed)`; the first share becomes val.

    With val_fraction > 0 and at least two photos, val has at least one photo and train keeps one.
    """
    shuffled = sorted(keys)
    random.Random(seed).shuffle(shuffled)
    n_val = round(len(shuffled) * val_fraction)
    if val_fraction > 0 and len(shuffled) >= 2:
        n_val = min(max(n_val, 1), len(shuffled) - 1)
    return sorted(shuffled[n_val:]), sorted(shuffled[:n_val])


def scan(source: PhotoSource, cfg: DataConfig) -> Split:
    """Split the photos and leave out near-gray and unreadable ones, warning once per bad file.

    Each photo is decoded once at reduced size (JPEG DCT scaling) to check it and measure colour.
    """
    gray, unreadable, usable, short_sides = [], [], [], {}
    for key in tqdm(source.keys, desc="checking photos", unit="img", disable=None, leave=False):
        try:
            picture = source.decode(key, reduce=4)
        except ImageError as err:
            log.warning("skipped %s", err)
            unreadable.append(key)
            continue
        short_sides[key] = min(picture.rgb.shape[:2]) * picture.reduced
        if color.colourfulness(picture.rgb) < cfg.gray_threshold:
            gray.append(key)
        else:
            usable.append(key)
    # Split over every listed key, so that removing a gray photo never moves another between splits.
    train, val = split_keys(source.keys, cfg.val_fraction, cfg.seed)
    keep = set(usable)
    split = Split([k for k in train if k in keep], [k for k in val if k in keep], gray, unreadable, short_sides)
    if unreadable:
        log.warning("%d unreadable file(s) skipped in %s", len(unreadable), source.root)
    if gray:
        log.info("%d near-gray photo(s) left out (colourfulness < %g)", len(gray), cfg.gray_threshold)
    if not split.train:
        raise DataError(f"{source.root}: no usable colour photos for training "
                        f"({len(gray)} near-gray, {len(unreadable)} unreadable)")
    return split


def lab_tensors(rgb: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, W, 3) rgb in [0, 1] -> L_n (1, H, W) and ab_n (2, H, W) float32 tensors."""
    lab = color.rgb_to_lab(rgb)
    L_n = torch.from_numpy(color.normalize_L(lab[..., 0])).unsqueeze(0)
    ab_n = torch.from_numpy(color.normalize_ab(lab[..., 1:])).permute(2, 0, 1).contiguous()
    return L_n, ab_n


def center_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize the short side to `size` and cut the central size x size square (validation view)."""
    height, width = rgb.shape[:2]
    scale = size / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=interp)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.clip(resized[top:top + size, left:left + size], 0.0, 1.0)


def crop_fraction(short: int, size: int, min_crop: float, rng: np.random.Generator) -> float:
    """Crop side as a share of the short side, log-uniform in [min_crop * min(short, size) / short, 1]."""
    low = min(1.0, max(1.0, min_crop * min(short, size)) / short)
    return math.exp(rng.uniform(math.log(low), 0.0))


def random_square(rgb: np.ndarray, size: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A random square of side `fraction` * short side, resized to size x size, flipped half the time."""
    height, width = rgb.shape[:2]
    side = max(1, min(round(fraction * min(height, width)), height, width))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    crop = rgb[top:top + side, left:left + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    crop = np.clip(cv2.resize(crop, (size, size), interpolation=interp), 0.0, 1.0)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


class TrainCrops(Dataset):
    """Global sample index -> (L_n (1, S, S), ab_n (2, S, S)): photo by per-epoch permutation, own RNG."""

    def __init__(self, source: PhotoSource, split: Split, cfg: DataConfig, seed: int) -> None:
        self.source, self.keys, self.cfg, self.seed = source, split.train, cfg, seed
        self.short_sides = split.short_sides

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, sample: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, position = divmod(sample, len(self.keys))
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.keys))
        rng = np.random.default_rng([self.seed, epoch, position, 1])
        key = self.keys[order[position]]
        short = self.short_sides[key]
        fraction = crop_fraction(short, self.cfg.size, self.cfg.min_crop, rng)
        # Decode big JPEGs at 1/2..1/8 scale when the crop is that much larger than the training size.
        reduce = max([r for r in (1, 2, 4, 8) if fraction * short / r >= self.cfg.size] or [1])
        picture = self.source.decode(key, reduce)
        return lab_tensors(random_square(picture.rgb, self.cfg.size, fraction, rng))


class ValImages(Dataset):
    """Index -> (L_n, ab_n) of the central square of one val photo: the same view every time."""

    def __init__(self, source: PhotoSource, keys: list[str], size: int) -> None:
        self.source, self.keys, self.size = source, keys, size

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        picture = self.source.decode(self.keys[index])
        return lab_tensors(center_square(picture.rgb, self.size))


class StepSampler(Sampler[int]):
    """Global sample indices for steps [start_step, total_steps), `batch_size` per step.

    With `num_replicas` > 1 (DDP) each rank takes every num_replicas-th sample of the same stream,
    so the global batch is the same whatever the number of processes.
    """

    def __init__(self, start_step: int, total_steps: int, batch_size: int,
                 rank: int = 0, num_replicas: int = 1) -> None:
        self.start, self.stop = start_step * batch_size * num_replicas, total_steps * batch_size * num_replicas
        self.rank, self.num_replicas = rank, num_replicas

    def __iter__(self):
        return iter(range(self.start + self.rank, self.stop, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.start + self.rank, self.stop, self.num_replicas))
