"""The learned colour hint: a picture's global a*b* statistics as a small vector a generator can take.

A hint is (B, HINT_SIZE) float: [mean a*, mean b*, spread, has_mean, has_spread], the three
statistics of `mood.ColorTarget` in units of HINT_UNIT Lab (so typical photos give values near ±1)
and two flags saying which of them the user asked for. An all-zero row means "no hint": the model
then colours as a blind colorizer does. Training (`training_hints`) feeds the ground truth's own
statistics, or those of the truth recoloured beyond the photos' own range, and drops them at random
(config.HintConfig), so one model learns both the blind and the steered task, and at inference a
mood asks for statistics the model has learnt to produce as a natural photo would.
"""
import math
from dataclasses import dataclass

import torch

from gan_colorizer.color import AB_SCALE, ab_mean_spread
from gan_colorizer.config import HintConfig
from gan_colorizer.models.layers import HINT_SIZE
from gan_colorizer.mood import ColorTarget

HINT_UNIT = 25.0  # Lab units per hint unit: photos' mean b* and spread reach about 25 (mood.py)


def stats_hint(ab_n: torch.Tensor) -> torch.Tensor:
    """Full hints from chroma: (B, 2, H, W) ab_n in [-1, 1] -> (B, HINT_SIZE), both flags set.

    The statistics of `color.ab_mean_spread` (what `mood.ab_stats` measures), in hint units.
    """
    mean, spread = ab_mean_spread(ab_n.float() * AB_SCALE)  # (B, 2), (B,) in Lab units
    ones = torch.ones_like(spread)
    return torch.cat([mean / HINT_UNIT, (spread / HINT_UNIT)[:, None], ones[:, None], ones[:, None]], dim=1)


def target_hint(target: ColorTarget | None, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """A user's target (None: no hint) as (batch, HINT_SIZE) rows; a statistic left None gets flag 0."""
    row = torch.zeros(HINT_SIZE)
    if target is not None and target.mean_ab is not None:
        row[0], row[1], row[3] = target.mean_ab[0] / HINT_UNIT, target.mean_ab[1] / HINT_UNIT, 1.0
    if target is not None and target.spread is not None:
        row[2], row[4] = target.spread / HINT_UNIT, 1.0
    return row.expand(batch, HINT_SIZE).to(device)


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """The CPU generator of one training step's hint draw: a pure function of (seed, step, rank), so a
    resumed run, or a rank's share of a distributed step, draws the same hints."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step * 1009 + rank)


@dataclass
class TrainingHints:
    """One batch's hints (B, HINT_SIZE) and what the hinted prediction is scored against: the truth
    ab_n (B, 2, H, W), recoloured for the samples whose hint was moved beyond the photo's own."""

    hints: torch.Tensor
    target_ab_n: torch.Tensor


def training_hints(ab_n: torch.Tensor, cfg: HintConfig, generator: torch.Generator,
                   recolour: bool = True, L_n: torch.Tensor | None = None) -> TrainingHints:
    """Training hints: per sample none / both statistics / mean only / spread only (cfg's shares), of the
    truth or, for a share cfg.p_recolour of hinted samples, of the truth recoloured.

    Recolouring moves the truth's mean a*b* by a normal draw (std cfg.shift_std Lab units per axis)
    and scales its deviations from that mean by a log-uniform factor, each only when the hint
    carries that statistic: the global change the hint then asks for, so the network learns to follow
    hints past the range of the photos' own statistics (moods ask for up to 39 a*b* units away from a
    photo's mean). recolour False (the GAN stage, whose discriminator must see true photos) leaves
    every target the truth.
    With the lightness L_n (B, 1, H, W) in [-1, 1], the mean shift is dealt out in proportion to each
    pixel's L* (weights L* / mean L*, so the mean still moves by the drawn shift): coloured light tints
    a lit surface more than a shadow, and blacks stay black, where a uniform shift is a filter
    laid over the frame. Without it the shift is uniform.
    ab_n: (B, 2, H, W) ground-truth chroma in [-1, 1]. Every random number comes from `generator`
    and the same count is drawn whatever the config, so the draw depends only on its seed.
    """
    batch = ab_n.shape[0]
    which, moved = torch.rand(batch, generator=generator), torch.rand(batch, generator=generator)
    shift = torch.randn(batch, 2, generator=generator) * (cfg.shift_std / AB_SCALE)  # ab_n units
    low, high = math.log(cfg.spread_scale_min), math.log(cfg.spread_scale_max)
    scale = torch.exp(low + (high - low) * torch.rand(batch, generator=generator))
    has_mean = (which >= cfg.p_none) & (which < cfg.p_none + cfg.p_both + cfg.p_mean_only)
    has_spread = (which >= cfg.p_none) & ((which < cfg.p_none + cfg.p_both)
                                          | (which >= cfg.p_none + cfg.p_both + cfg.p_mean_only))
    is_moved = (moved < cfg.p_recolour) & (has_mean | has_spread) & recolour
    target = ab_n
    if bool(is_moved.any()):
        # only what the hint will tell: a statistic left out of it must stay the truth's own
        shift = (shift * has_mean[:, None])[:, :, None, None].to(ab_n)
        scale = torch.where(has_spread, scale, torch.ones_like(scale))[:, None, None, None].to(ab_n)
        if L_n is not None:
            lightness = (L_n.to(ab_n) + 1.0).clamp_min(0.0)  # (B, 1, H, W), proportional to L*
            shift = shift * lightness / lightness.mean(dim=(2, 3), keepdim=True).clamp_min(1e-3)
        mean = ab_n.mean(dim=(2, 3), keepdim=True)  # (B, 2, 1, 1)
        recoloured = (mean + shift + scale * (ab_n - mean)).clamp(-1.0, 1.0)
        target = torch.where(is_moved[:, None, None, None].to(ab_n.device), recoloured, ab_n)
    mask = torch.stack([has_mean, has_mean, has_spread, has_mean, has_spread], dim=1)
    return TrainingHints(stats_hint(target) * mask.to(target), target)


def unpack(hints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, HINT_SIZE) hints -> the requested mean (B, 2) and spread (B,) in ab_n units, and the
    (B,) 0/1 flags saying which were asked: the arguments of `losses.hint_stats_loss`."""
    unit = HINT_UNIT / AB_SCALE
    return hints[:, :2] * unit, hints[:, 2] * unit, hints[:, 3], hints[:, 4]
