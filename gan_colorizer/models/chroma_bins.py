"""A colour distribution per pixel (Zhang et al., ECCV 2016): a*b* quantised into bins, and how a
generator's distribution becomes one colour.

The bins are cells of one fixed grid, BIN_STEP a*b* units wide, over [-110, 110)^2 (GRID_CELLS^2
cells); a model keeps the cells its training photos reach (`data.colour_prior` finds them), by index,
so the layout is plain data in the checkpoint's args and any tool rebuilds it.

Decoding mixes two estimates. The *calm* one is the regression head's (L1: the median of the plausible
colours, right on average and grayish where the hue is unsure). The *vivid* one is the distribution's
annealed mean at ANNEAL_T (the paper's 0.38): it moves toward the most likely hue instead of averaging
hues. Where the model is unsure (a flat distribution, high entropy) the vivid estimate is a guess that
lands on wrong hues, so the mix weight is vividness x confidence / SURE (at most 1), confidence = 1 -
normalised entropy: colour is added where the model is sure and withheld where it is not.
"""
import math

import torch
import torch.nn.functional as F

AB_RANGE = 110.0  # a*b* units of ab_n = 1 (the same constant as gan_colorizer.color.AB_SCALE)
BIN_STEP = 10.0  # a*b* units per bin side, the paper's
GRID_CELLS = 22  # cells per axis: centres at -105, -95, ..., 105
ANNEAL_T = 0.38  # the annealed-mean temperature (Zhang et al. 2016, section 2.3)
# Confidence at which a pixel takes the whole move at vividness 1. Trained heads sit around 0.1-0.4:
# with the move weighted by confidence alone, vividness 0 -> 1 moved colourfulness by 0.2 (of 43) on
# the val photos; from this share on, by 1.9, at 0.3 more a*b* RMSE (docs/training.md).
SURE = 0.25


def cell_centres() -> torch.Tensor:
    """(GRID_CELLS^2, 2) every grid cell's centre in ab_n, row-major by (a, b): cell = ia * GRID_CELLS + ib."""
    axis = (torch.arange(GRID_CELLS, dtype=torch.float32) + 0.5) * BIN_STEP - AB_RANGE
    a, b = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([a.flatten(), b.flatten()], dim=1) / AB_RANGE


def cell_of(ab_n: torch.Tensor) -> torch.Tensor:
    """(..., 2) ab_n -> (...) int64 index of the grid cell holding it (clamped to the grid)."""
    index = ((ab_n * AB_RANGE + AB_RANGE) / BIN_STEP).floor().long().clamp(0, GRID_CELLS - 1)
    return index[..., 0] * GRID_CELLS + index[..., 1]


def check_bins(bins: tuple[int, ...]) -> None:
    """ValueError unless `bins` are at least two distinct, sorted cell indices of the grid."""
    if len(bins) < 2 or list(bins) != sorted(set(bins)) or bins[0] < 0 or bins[-1] >= GRID_CELLS ** 2:
        raise ValueError(f"bins must be at least 2 distinct sorted cell indices in [0, {GRID_CELLS ** 2}), "
                         f"got {len(bins)} values")


def confidence(logits: torch.Tensor) -> torch.Tensor:
    """(B, Q, h, w) logits -> (B, 1, h, w) in [0, 1]: 1 - entropy / log Q (1: one bin, 0: uniform)."""
    log_p = torch.log_softmax(logits.float(), dim=1)
    entropy = -(log_p.exp() * log_p).sum(dim=1, keepdim=True)
    return (1.0 - entropy / math.log(logits.shape[1])).clamp(0.0, 1.0)


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float = ANNEAL_T) -> torch.Tensor:
    """(B, Q, h, w) logits, (Q, 2) bin centres in ab_n -> (B, 2, h, w) ab_n: the mean of the
    distribution sharpened to temperature T (T = 1: the mean; T -> 0: the mode)."""
    p = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("bqhw,qc->bchw", p, centres.to(p.dtype))


def decode(calm_ab_n: torch.Tensor, logits: torch.Tensor, centres: torch.Tensor,
           vividness: torch.Tensor) -> torch.Tensor:
    """The colour users get: calm (B, 2, h, w) moved toward the annealed mean by vividness (B, 1, 1, 1)
    in [0, 1] times the per-pixel confidence / SURE (at most 1); all ab_n. logits: (B, Q, h/2, w/2), h
    and w even (the distribution is coarser than the calm estimate; the move is made there and upsampled)."""
    calm_coarse = F.avg_pool2d(calm_ab_n, 2)
    weight = (vividness * confidence(logits) / SURE).clamp(max=1.0)
    move = weight * (annealed_mean(logits, centres) - calm_coarse)
    return calm_ab_n + F.interpolate(move, scale_factor=2.0, mode="bilinear", align_corners=False)
