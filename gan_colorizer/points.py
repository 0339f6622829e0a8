"""Local colour hints ("colour points"): where the gray cannot tell the colour, the user says it.

A point map is (B, POINT_CHANNELS, H, W) float at the network's input size, Zhang et al. 2017's
layout: channels 0-1 hold a*b* in ab_n units where a point is set (0 elsewhere), channel 2 the
mask (1 there, 0 elsewhere). An all-zero map means "no points": a pointed model then colours as
the automatic one does. Training (`training_points`) reveals a few patches of the truth's own
colour, so the network learns to carry a revealed colour over the region it belongs to.
"""
import math

import torch

from gan_colorizer.config import PointsConfig
from gan_colorizer.models.layers import POINT_CHANNELS

STREAM = 7919  # offsets the training seed of the point draws from the colour hints' (hint.step_generator)
MAX_POINTS = 64  # the geometric count's tail is cut here: more points teach nothing new and cost time


def training_points(ab_n: torch.Tensor, cfg: PointsConfig, generator: torch.Generator) -> torch.Tensor:
    """Zhang's sampler (config.PointsConfig): ab_n (B, 2, H, W) truth in [-1, 1] -> (B, POINT_CHANNELS, H, W).

    Every random number comes from `generator` (seeded per step and rank), so a resumed run draws
    the same points.
    """
    batch = ab_n.shape[0]
    keep = torch.rand(batch, generator=generator) >= cfg.p_none
    uniform = torch.rand(batch, generator=generator).clamp_min(1e-12)
    ratio = 1.0 - 1.0 / cfg.mean_count  # P(one more point) of a geometric count >= 1 with this mean
    counts = (torch.log(uniform) / math.log(ratio)).floor().long() + 1 if ratio > 0 else torch.ones(batch).long()
    counts = torch.where(keep, counts.clamp(max=MAX_POINTS), 0)
    return reveal(ab_n, counts.tolist(), generator, (cfg.patch_min, cfg.patch_max), cfg.centre_std)


def simulated_points(ab_n: torch.Tensor, count: int, generator: torch.Generator, patch: int = 5) -> torch.Tensor:
    """What `count` users' clicks per photo reveal, for validation and `evaluate --points`: patches of
    `patch` px at places drawn uniformly over the photo, each of the truth's mean colour there.
    ab_n (B, 2, H, W) -> (B, POINT_CHANNELS, H, W)."""
    return reveal(ab_n, [count] * ab_n.shape[0], generator, (patch, patch), None)


def reveal(ab_n: torch.Tensor, counts: list[int], generator: torch.Generator, sizes: tuple[int, int],
           centre_std: float | None) -> torch.Tensor:
    """A point map revealing counts[i] square patches of sample i's truth, each of a side drawn in
    `sizes` (px, both ends included) and coloured with the truth's mean over it, so a point says what a
    user would: "this region is that colour", not the noise of one pixel. Centres are drawn around
    the middle (normal, std centre_std of the side) or, for None, uniformly."""
    batch, _, height, width = ab_n.shape
    maps = ab_n.new_zeros(batch, POINT_CHANNELS, height, width)
    low, high = min(sizes[0], height, width), min(sizes[1], height, width)
    for index, count in enumerate(counts):
        if not count:
            continue
        sides = torch.randint(low, high + 1, (count,), generator=generator)
        centres = (0.5 + centre_std * torch.randn(count, 2, generator=generator) if centre_std is not None
                   else torch.rand(count, 2, generator=generator))  # (y, x) as shares of the side
        for side, (cy, cx) in zip(sides.tolist(), centres.tolist()):
            top = min(max(round(cy * height - side / 2), 0), height - side)
            left = min(max(round(cx * width - side / 2), 0), width - side)
            rows, cols = slice(top, top + side), slice(left, left + side)
            maps[index, :2, rows, cols] = ab_n[index, :, rows, cols].mean(dim=(1, 2))[:, None, None]
            maps[index, 2, rows, cols] = 1.0
    return maps
