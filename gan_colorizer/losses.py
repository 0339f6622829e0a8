"""Training losses as plain functions: adversarial (vanilla, lsgan, hinge), L1, colourfulness, hint statistics.

Logits are a discriminator's raw patch scores, any shape (usually (B, 1, h, w)); every loss averages
over all patches and returns a scalar tensor. Chroma tensors are ab_n, (B, 2, H, W) in [-1, 1]
(Lab a*b* / 110, see `color.normalize_ab`).
"""
import torch
import torch.nn.functional as F

from gan_colorizer.color import ab_mean_spread
from gan_colorizer.config import GAN_MODES
_CHROMA_EPS = 1e-6  # (ab_n)^2 units: 1e-3 ab_n, 0.1 Lab units of chroma, far below a visible tint


def gan_loss(logits: torch.Tensor, target_is_real: bool, mode: str) -> torch.Tensor:
    """The discriminator's loss for scoring one batch as real or fake.

    vanilla: binary cross-entropy on the sigmoid of the logits (Goodfellow et al. 2014; pix2pix).
    lsgan: mean squared distance of the logits to 1 (real) or 0 (fake) (Mao et al. 2017): no
      saturation, so D's gradient does not vanish on confidently scored patches.
    hinge: mean relu(1 - x) for real, relu(1 + x) for fake (Lim & Ye 2017; SAGAN, BigGAN): a patch
      scored beyond the margin stops contributing, which keeps D from over-fitting a small set.
    """
    if mode == "vanilla":
        target = torch.full_like(logits, float(target_is_real))
        return F.binary_cross_entropy_with_logits(logits, target)
    if mode == "lsgan":
        return F.mse_loss(logits, torch.full_like(logits, float(target_is_real)))
    if mode == "hinge":
        sign = 1.0 if target_is_real else -1.0
        return F.relu(1.0 - sign * logits).mean()
    raise ValueError(f"GAN mode must be one of {', '.join(GAN_MODES)}, got {mode!r}")


def generator_adv_loss(fake_logits: torch.Tensor, mode: str) -> torch.Tensor:
    """The generator's adversarial loss: be scored as real on its fakes.

    vanilla uses the non-saturating form (maximise log D(fake), as pix2pix does), lsgan pulls fake
    scores to 1; both are `gan_loss(fake, True)`. hinge uses -mean(fake): a margin on G's side
    would stop rewarding it once D is fooled past 1 (SAGAN, BigGAN).
    """
    if mode == "hinge":
        return -fake_logits.mean()
    return gan_loss(fake_logits, True, mode)


def l1_loss(pred_ab_n: torch.Tensor, true_ab_n: torch.Tensor) -> torch.Tensor:
    """Mean absolute ab_n error, (B, 2, H, W) each; in Lab units it is this times 110.

    L1 rather than L2 (pix2pix): L2's optimum is the mean of the plausible colours, which for most
    objects is a brownish gray; L1's is their median, a little less washed out.
    """
    return F.l1_loss(pred_ab_n, true_ab_n)


def _chroma_stats(ab_n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean and std of the chroma magnitude sqrt(a^2 + b^2): (B, 2, H, W) -> (B,), (B,).

    An epsilon inside both square roots: sqrt has an infinite slope at 0, which would turn a gray
    prediction's gradient into NaN.
    """
    chroma = torch.sqrt(ab_n.pow(2).sum(dim=1) + _CHROMA_EPS).flatten(1)  # (B, H*W)
    spread = torch.sqrt(chroma.var(dim=1, correction=0) + _CHROMA_EPS)
    return chroma.mean(dim=1), spread


def colourfulness_loss(pred_ab_n: torch.Tensor, true_ab_n: torch.Tensor) -> torch.Tensor:
    """Penalise a prediction whose chroma is weaker or flatter than the truth's, per image.

    pred_ab_n, true_ab_n: (B, 2, H, W) in [-1, 1]. Per image, take the chroma magnitude
    sqrt(a^2 + b^2) of every pixel; the loss is relu(truth's mean - prediction's mean) +
    relu(truth's std - prediction's std), averaged over the batch, in ab_n units (times 110 for Lab
    chroma). It fights the drift toward gray that L1 causes, which a per-pixel loss cannot see.

    One-sided: it is 0 once the prediction is as vivid as the truth, so it never caps colour, and it
    says nothing about hue (L1 and the adversarial loss choose that). For the same reason, an exactly
    gray prediction gets a zero (finite) gradient from it: at zero chroma no hue direction is preferred.
    """
    pred_mean, pred_spread = _chroma_stats(pred_ab_n)
    true_mean, true_spread = _chroma_stats(true_ab_n)
    return (F.relu(true_mean - pred_mean) + F.relu(true_spread - pred_spread)).mean()


def hint_stats_loss(pred_ab_n: torch.Tensor, mean_n: torch.Tensor, spread_n: torch.Tensor,
                    has_mean: torch.Tensor, has_spread: torch.Tensor) -> torch.Tensor:
    """How far hinted predictions' global statistics are from the ones their hint asked for.

    pred_ab_n: (B, 2, H, W). mean_n (B, 2), spread_n (B,): the requested mean a*b* and spread (mean
    distance of each pixel's a*b* from the mean), in ab_n units; has_mean, has_spread (B,): 1 where
    that statistic was asked, 0 where not. Per image |mean error| (a* and b*, summed) plus |spread
    error|, each counted where asked, averaged over the batch (unhinted samples count 0), in ab_n
    units like `l1_loss`. L1 on pixels scores a hinted prediction against one picture; this scores
    the property a hint promises, which the pixel loss averages away: an L1-trained hint undershoots.
    """
    mean, spread = ab_mean_spread(pred_ab_n, eps=_CHROMA_EPS)  # (B, 2), (B,)
    mean_error = (mean - mean_n).abs().sum(dim=1) * has_mean
    spread_error = (spread - spread_n).abs() * has_spread
    return (mean_error + spread_error).mean()
