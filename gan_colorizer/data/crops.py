"""Training crops and validation views yielding (L_n, ab_n), and the sample stream that indexes them.

Few photos is the normal case for our users, so every photo is cut many ways: a random square crop
whose side is drawn log-uniformly between `min_crop * min(short side, size)` and the short side, then
resized to `size` and maybe flipped. A 256 px photo gives mild zoom-ins; a 12 MP photo gives anything
from a native-detail patch to the whole view.

The sample stream is a pure function of (seed, sample index): `StepSampler` lists global sample
indices, and each index picks its photo from its epoch's order (`epoch_order`, computed once per
epoch in each process) and seeds its own crop RNG. A resumed run therefore sees exactly the samples
the uninterrupted run would have, whatever the number of workers.
"""
import fnmatch
import math

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from gan_colorizer import color
from gan_colorizer.config import DataConfig
from gan_colorizer.data.sources import MultiSource, PhotoSource
from gan_colorizer.data.split import Split
from gan_colorizer.degrade import degrade_L
from gan_colorizer.errors import ConfigError


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


def sample_weights(keys: list[str], source_weights: dict[str, float]) -> np.ndarray | None:
    """(len(keys),) float64 per-photo sampling weights from `data.source_weights`, or None when all equal.

    A pattern matches a key by fnmatch (`extra/endlesssky_*`) or as a source label (`extra` matches
    `extra/...`); a photo's weight is the product of its matching patterns' weights, 1 when none
    matches. A pattern that matches no photo is a ConfigError: it is most likely a typo.
    """
    if not source_weights:
        return None
    weights = np.ones(len(keys))
    for pattern, weight in source_weights.items():
        label = pattern + "/"
        matched = np.fromiter((key.startswith(label) or fnmatch.fnmatchcase(key, pattern) for key in keys),
                              bool, len(keys))
        if not matched.any():
            raise ConfigError(f"data.source_weights: {pattern!r} matches no training photo "
                              f"(a source label, or a pattern of keys such as {keys[0] if keys else 'label/name'!r})")
        weights[matched] *= weight
    if not weights.any():
        raise ConfigError("data.source_weights: every training photo has weight 0")
    return None if (weights == weights[0]).all() else weights


def epoch_order(seed: int, epoch: int, count: int, weights: np.ndarray | None = None) -> np.ndarray:
    """(count,) int64 photo indices for the `count` samples of one epoch, a pure function of its arguments.

    Without weights, a seeded permutation: every photo once per epoch. With weights, photo k is drawn
    floor or ceil of count * w_k / sum(w) times (systematic sampling: the least random draw with those
    shares), then shuffled.
    """
    rng = np.random.default_rng([seed, epoch])
    if weights is None:
        return rng.permutation(count)
    cumulative = np.cumsum(weights / weights.sum())
    picks = np.searchsorted(cumulative, (rng.random() + np.arange(count)) / count, side="right")
    return rng.permutation(np.minimum(picks, count - 1))


class TrainCrops(Dataset):
    """Global sample index -> (L_n (1, S, S), ab_n (2, S, S)): photo by its epoch's order, own crop RNG.

    Keys are kept as one bytes array and short sides as an int32 array: a forked DataLoader worker
    reading a list of a million str objects would touch (and so copy) every one of them.
    """

    def __init__(self, source: PhotoSource | MultiSource, split: Split, cfg: DataConfig, seed: int) -> None:
        self.source, self.cfg, self.seed = source, cfg, seed
        self.keys = np.array([key.encode() for key in split.train], dtype=bytes)
        self.short_sides = np.asarray(split.short_sides, np.int32)
        self.weights = sample_weights(split.train, cfg.source_weights)
        self._orders: dict[int, np.ndarray] = {}  # epoch -> its order; the current and the previous epoch

    def __len__(self) -> int:
        return len(self.keys)

    def pick(self, sample: int) -> tuple[int, np.random.Generator]:
        """Index into split.train of the photo that global sample `sample` crops, and its crop RNG."""
        epoch, position = divmod(sample, len(self.keys))
        if epoch not in self._orders:
            # Workers near an epoch's end may still ask for the one before: keep two.
            self._orders = {e: o for e, o in self._orders.items() if e == epoch - 1}
            self._orders[epoch] = epoch_order(self.seed, epoch, len(self.keys), self.weights)
        return int(self._orders[epoch][position]), np.random.default_rng([self.seed, epoch, position, 1])

    def key_of(self, sample: int) -> str:
        """The key of the photo that global sample `sample` crops."""
        return self.keys[self.pick(sample)[0]].decode()

    def __getitem__(self, sample: int) -> tuple[torch.Tensor, torch.Tensor]:
        index, rng = self.pick(sample)
        short = int(self.short_sides[index])
        fraction = crop_fraction(short, self.cfg.size, self.cfg.min_crop, rng)
        # Decode big JPEGs at 1/2..1/8 scale when the crop is that much larger than the training size.
        reduce = max([r for r in (1, 2, 4, 8) if fraction * short / r >= self.cfg.size] or [1])
        picture = self.source.decode(self.keys[index].decode(), reduce)
        L_n, ab_n = lab_tensors(random_square(picture.rgb, self.cfg.size, fraction, rng))
        if self.cfg.degrade.p:
            # The input only, as an archive scan would show it; the target stays the clean photo's a*b*.
            # Its own stream ([.., 2]): switching degradation on leaves every crop where it was.
            epoch, position = divmod(sample, len(self.keys))
            aged = degrade_L(color.denormalize_L(L_n[0].numpy()), self.cfg.degrade,
                             np.random.default_rng([self.seed, epoch, position, 2]))
            L_n = torch.from_numpy(color.normalize_L(aged)).unsqueeze(0)
        return L_n, ab_n


class ValImages(Dataset):
    """Index -> (L_n, ab_n) of the central square of one val photo: the same view every time."""

    def __init__(self, source: PhotoSource | MultiSource, keys: list[str], size: int) -> None:
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
