"""The training photos' colour prior: how often each a*b* bin (models.chroma_bins' grid) occurs.

A distribution head's bins are the cells this prior reaches, and its class rebalancing weighs rare
colours by the prior's inverse (Zhang et al. 2016). The prior is counted on a seeded sample of the
training photos, decoded at 1/4 size (a histogram needs no more), and cached in the user cache
folder that also holds photo check caches, keyed by the sampled photos, so every run on the same photos (and a
resumed one) reads the same prior without decoding again. (Beside the photo check, which is per
file, a per-photo histogram would cost a kilobyte per photo: a gigabyte at ImageNet scale.)
"""
import hashlib
import logging
import random
import tempfile
from pathlib import Path

import cv2
import numpy as np

from gan_colorizer import color
from gan_colorizer.data.split import CHECK_REDUCE, Split, user_cache_folder
from gan_colorizer.errors import ImageError
from gan_colorizer.models.chroma_bins import BIN_STEP, GRID_CELLS

log = logging.getLogger(__name__)

PRIOR_VERSION = 1  # bump when what is counted changes
MIN_SHARE = 1e-6  # a cell with a smaller share of the pixels gets no bin (stray pixels, never learnt)


def colour_prior(source, split: Split, photos: int, seed: int = 0) -> np.ndarray:
    """(GRID_CELLS^2,) float64 share of the sampled training photos' pixels in each grid cell, summing to 1.

    source: the run's PhotoSource or MultiSource; photos: how many training photos to sample (all
    when there are fewer). Unreadable photos are skipped (the photo check has reported them).
    """
    keys = sorted(split.train)
    keys = sorted(random.Random(seed).sample(keys, photos)) if len(keys) > photos else keys
    digest = hashlib.sha256("\0".join([str(PRIOR_VERSION), source.name, *keys]).encode()).hexdigest()[:16]
    cache = user_cache_folder() / f"prior-{digest}.npy"
    if cache.is_file():
        try:
            counts = np.load(cache, allow_pickle=False)
            if counts.shape == (GRID_CELLS ** 2,):
                return counts / counts.sum()
        except (OSError, ValueError):
            log.warning("%s: damaged colour prior cache, ignored (it is rebuilt)", cache)
    counts = np.zeros(GRID_CELLS ** 2)
    for key in keys:
        try:
            rgb = source.decode(key, reduce=CHECK_REDUCE).rgb
        except ImageError:
            continue
        counts += ab_histogram(color.rgb_to_lab(rgb)[..., 1:])
    if not counts.sum():
        counts[:] = 1.0  # no readable photo: a flat prior (the photo check has already said why)
    _save(cache, counts)
    log.info("colour prior of %d training photos: %d of %d a*b* cells reached", len(keys),
             int((counts / counts.sum() >= MIN_SHARE).sum()), GRID_CELLS ** 2)
    return counts / counts.sum()


def ab_histogram(ab: np.ndarray) -> np.ndarray:
    """(..., 2) a*b* in Lab units -> (GRID_CELLS^2,) pixel counts per grid cell (clamped to the grid)."""
    index = np.clip(np.floor((ab.reshape(-1, 2) + GRID_CELLS * BIN_STEP / 2) / BIN_STEP), 0, GRID_CELLS - 1).astype(np.int64)
    return np.bincount(index[:, 0] * GRID_CELLS + index[:, 1], minlength=GRID_CELLS ** 2).astype(np.float64)


def bins_of(prior: np.ndarray) -> tuple[int, ...]:
    """The grid cells a distribution head predicts: those holding at least MIN_SHARE of the pixels."""
    return tuple(int(cell) for cell in np.flatnonzero(prior >= MIN_SHARE))


def _save(path: Path, counts: np.ndarray) -> None:
    """Write atomically; a cache that cannot be written only costs the next run the decoding."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy", delete=False) as f:
            np.save(f, counts)
        Path(f.name).replace(path)
    except OSError as err:
        log.warning("cannot cache the colour prior at %s (%s)", path, err.strerror or err)


def class_prior(prior: np.ndarray, bins: tuple[int, ...], sigma: float) -> np.ndarray:
    """(Q,) the prior of a model's bins, smoothed by a Gaussian of std `sigma` a*b* units over the grid
    (Zhang et al.: neighbouring colours share their counts) and renormalised to sum to 1."""
    grid = cv2.GaussianBlur(prior.reshape(GRID_CELLS, GRID_CELLS), (0, 0), sigma / BIN_STEP)
    chosen = grid.flatten()[list(bins)]
    return chosen / chosen.sum()
