"""The learned colour hint: a picture's global a*b* statistics as a small vector a generator can take.

A hint is (B, HINT_SIZE) float: [mean a*, mean b*, spread, has_mean, has_spread], the three
statistics of `mood.ColorTarget` in units of HINT_UNIT Lab (so typical photos give values near ±1)
and two flags saying which of them the user asked for. An all-zero row means "no hint": the model
then colours as a blind colorizer does. Training feeds the ground truth's own statistics and drops
them at random (`random_hints`), so one model learns both the blind and the steered task, and at
inference a mood asks for statistics the model has learnt to produce as a natural photo would.
"""
import torch

from gan_colorizer.color import AB_SCALE
from gan_colorizer.models.layers import HINT_SIZE
from gan_colorizer.mood import ColorTarget

HINT_UNIT = 25.0  # Lab units per hint unit: photos' mean b* and spread reach about 25 (mood.py)

# What a training sample gets: no hint at all (the blind task issue 4 scores), both statistics, or one.
P_NONE, P_BOTH, P_MEAN_ONLY = 0.5, 0.25, 0.125  # the rest (0.125): spread only


def stats_hint(ab_n: torch.Tensor) -> torch.Tensor:
    """Full hints from chroma: (B, 2, H, W) ab_n in [-1, 1] -> (B, HINT_SIZE), both flags set.

    Same statistics as `mood.ab_stats`: per image the mean (a*, b*) and the mean distance of each
    pixel's (a*, b*) from it.
    """
    ab = ab_n.float() * AB_SCALE  # Lab units
    mean = ab.mean(dim=(2, 3))  # (B, 2)
    spread = (ab - mean[:, :, None, None]).pow(2).sum(dim=1).sqrt().mean(dim=(1, 2))  # (B,)
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


def random_hints(ab_n: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Training hints: the truth's own statistics, per sample none / both / mean only / spread only.

    ab_n: (B, 2, H, W) ground-truth chroma. `generator` (a seeded CPU torch.Generator) makes the
    draw depend only on the run's seed and step, so a resumed run draws the same hints.
    """
    hints = stats_hint(ab_n)
    u = torch.rand(hints.shape[0], generator=generator).to(hints.device)
    keep_mean = (u >= P_NONE) & (u < P_NONE + P_BOTH + P_MEAN_ONLY)
    keep_spread = (u >= P_NONE) & ((u < P_NONE + P_BOTH) | (u >= P_NONE + P_BOTH + P_MEAN_ONLY))
    mask = torch.stack([keep_mean, keep_mean, keep_spread, keep_mean, keep_spread], dim=1)
    return hints * mask.to(hints.dtype)
