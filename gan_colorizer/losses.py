"""Training losses as plain functions: adversarial (vanilla, lsgan, hinge), L1, perceptual, colourfulness
and hint statistics, and the discriminator's regularisers (DiffAugment, instance noise, R1).

Logits are a discriminator's raw patch scores, any shape (usually (B, 1, h, w)); every loss averages
over all patches and returns a scalar tensor. Chroma tensors are ab_n, (B, 2, H, W) in [-1, 1]
(Lab a*b* / 110, see `color.normalize_ab`).
"""
import torch
import torch.nn.functional as F

from gan_colorizer.color import ab_mean_spread, lab_to_rgb_torch
from gan_colorizer.config import DIFFAUGMENT_OPS, GAN_MODES
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


def perceptual_loss(lpips_net: torch.nn.Module, L_n: torch.Tensor, pred_ab_n: torch.Tensor,
                    true_ab_n: torch.Tensor) -> torch.Tensor:
    """Mean LPIPS between the prediction and the truth, both rendered to sRGB through the
    differentiable Lab->RGB (`color.lab_to_rgb_torch`); L_n (B, 1, H, W) in [-1, 1] is shared.

    L1 scores each pixel's chroma alone; LPIPS scores textures and edges of the rendered photo, so it
    punishes colour that bleeds across an edge and flat regions that a person reads as unpainted.
    """
    pred_rgb, true_rgb = lab_to_rgb_torch(L_n, pred_ab_n), lab_to_rgb_torch(L_n, true_ab_n)
    return lpips_net(pred_rgb, true_rgb, normalize=True).mean()


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


# -- The discriminator's regularisers --------------------------------------------------------------
# A D trained on a few hundred photos memorises them; G then chases D's quirks instead of the photos'
# colours. These three act on what D sees or on its gradient; GanTrainer.critic_input applies them.

_LIGHTNESS_SHIFT = 0.5  # L_n offset range +-0.5 and contrast x[0.5, 1.5]: Zhao et al.'s brightness/contrast ranges
_CHROMA_LOG_SCALE = 0.25  # chroma x exp(U(-0.25, 0.25)), about [0.78, 1.28]; Zhao's saturation x[0, 2] is far wider
_SHIFT_RATIO = 0.125  # translation by up to 1/8 of each side (Zhao et al.)
_CUTOUT_RATIO = 0.5  # a hole of half of each side (Zhao et al.)


def diff_augment(L_n: torch.Tensor, ab_n: torch.Tensor, ops: tuple[str, ...],
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """DiffAugment (Zhao et al. 2020): random, differentiable augmentation of one batch D scores.

    L_n (B, 1, H, W) and ab_n (B, 2, H, W) in [-1, 1] -> both augmented, same shapes. Call it on the
    real and on the fake batch alike (each call draws its own parameters per image): D then never
    sees an unaugmented photo to memorise, and because every op is differentiable and applied to
    fakes too, G is not pushed to produce augmented-looking pictures. `generator` (CPU) makes the
    draws reproducible; ops run in the order given, each from DIFFAUGMENT_OPS:

    color: lightness brightness and contrast, at Zhao's ranges but on L only, and a small chroma
      scale on ab. Never a hue change: a D trained on rotated hues would stop telling a blue lawn
      from a green one, and right hue is what the GAN is for. The chroma scale is narrow for the
      same reason: at Zhao's x[0, 2] real photos would look as gray as G's dull fakes.
    translation: shift by up to 1/8 of each side; uncovered pixels become mid-gray (L_n = ab_n = 0).
    cutout: one mid-gray hole of half of each side, at a random place (may be clipped at the border).
    L and ab move together in translation and cutout: they are one picture.
    """
    unknown = [op for op in ops if op not in DIFFAUGMENT_OPS]
    if unknown:
        raise ValueError(f"DiffAugment ops must be among {', '.join(DIFFAUGMENT_OPS)}, got {unknown}")
    for op in ops:
        if op == "color":
            L_n, ab_n = _augment_colour(L_n, ab_n, generator)
        else:
            pair = torch.cat([L_n, ab_n], dim=1)
            pair = _translate(pair, generator) if op == "translation" else _cutout(pair, generator)
            L_n, ab_n = pair[:, :1], pair[:, 1:]
    return L_n, ab_n


def _uniform(batch: int, low: float, high: float, generator: torch.Generator | None,
             like: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1, 1) per-image draws in [low, high), made on the CPU (where `generator` lives), moved to `like`."""
    draw = torch.rand(batch, 1, 1, 1, generator=generator)
    return (low + (high - low) * draw).to(device=like.device, dtype=like.dtype)


def _augment_colour(L_n: torch.Tensor, ab_n: torch.Tensor,
                    generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    batch = L_n.shape[0]
    L_n = L_n + _uniform(batch, -_LIGHTNESS_SHIFT, _LIGHTNESS_SHIFT, generator, L_n)
    L_mean = L_n.mean(dim=(1, 2, 3), keepdim=True)
    L_n = (L_n - L_mean) * _uniform(batch, 0.5, 1.5, generator, L_n) + L_mean
    chroma_scale = _uniform(batch, -_CHROMA_LOG_SCALE, _CHROMA_LOG_SCALE, generator, ab_n).exp()
    return L_n, ab_n * chroma_scale  # scaling a*b* about 0 keeps each pixel's hue angle


def _randint(batch: int, low: int, high: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """(B, 1, 1) integers in [low, high), drawn on the CPU."""
    return torch.randint(low, high, (batch, 1, 1), generator=generator).to(device)


def _translate(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(B, C, H, W) -> the same shape, each image shifted by its own whole-pixel offset, zeros shifted in."""
    batch, _, height, width = x.shape
    max_dy, max_dx = int(height * _SHIFT_RATIO + 0.5), int(width * _SHIFT_RATIO + 0.5)
    dy = _randint(batch, -max_dy, max_dy + 1, generator, x.device)
    dx = _randint(batch, -max_dx, max_dx + 1, generator, x.device)
    # Gather from a copy with a one-pixel zero border: an index shifted past the image lands on it.
    rows = (torch.arange(height, device=x.device)[None, :, None] + dy + 1).clamp(0, height + 1)  # (B, H, 1)
    cols = (torch.arange(width, device=x.device)[None, None, :] + dx + 1).clamp(0, width + 1)  # (B, 1, W)
    images = torch.arange(batch, device=x.device)[:, None, None]
    padded = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # (B, H + 2, W + 2, C)
    return padded[images, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(B, C, H, W) -> the same shape with one (H/2, W/2) block per image set to 0, centred anywhere."""
    batch, _, height, width = x.shape
    hole_h, hole_w = max(1, int(height * _CUTOUT_RATIO + 0.5)), max(1, int(width * _CUTOUT_RATIO + 0.5))
    top = _randint(batch, 0, height, generator, x.device) - hole_h // 2
    left = _randint(batch, 0, width, generator, x.device) - hole_w // 2
    rows = torch.arange(height, device=x.device)[None, :, None]
    cols = torch.arange(width, device=x.device)[None, None, :]
    hole = (rows >= top) & (rows < top + hole_h) & (cols >= left) & (cols < left + hole_w)  # (B, H, W)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def add_instance_noise(x: torch.Tensor, std: float, progress: float,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): Gaussian noise on D's input.

    x: D's input, any shape; std in its units; progress in [0, 1], the share of the run done. The
    noise std falls linearly from `std` to 0 over the run. Early on, real and fake distributions
    overlap under the noise, so D cannot separate them perfectly and G's gradient stays useful;
    by the end D sees the clean pictures. Drawn on the CPU with `generator`, then moved to x's device.
    """
    current = std * max(0.0, 1.0 - progress)
    if current == 0.0:
        return x
    noise = torch.randn(x.shape, generator=generator).to(device=x.device, dtype=x.dtype)
    return x + current * noise


def r1_penalty(real_logits: torch.Tensor, real_ab_n: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): D's squared gradient on real data, to be weighted by gamma / 2.

    real_logits: D's patch logits, any shape (B, ...), computed from `real_ab_n` (B, 2, H, W), which
    must require grad. Per image, the gradient of D's mean patch score (the score its loss averages)
    with respect to the real chroma, squared and summed over pixels; mean over the batch. Taken
    against ab only: L is the condition, the same for real and fake, and G moves only ab. A D that
    is flat around the real photos cannot push G past them, which damps the oscillation around the
    real distribution that unregularised GANs show (Mescheder et al.'s convergence result).
    create_graph: the penalty is itself differentiated when D's loss is.
    """
    score = real_logits.flatten(1).mean(dim=1).sum()
    (grad,) = torch.autograd.grad(score, real_ab_n, create_graph=True)
    return grad.square().flatten(1).sum(dim=1).mean()


def soft_encode(ab_n: torch.Tensor, centres: torch.Tensor, neighbours: int, sigma: float) -> torch.Tensor:
    """(B, 2, h, w) ab_n -> (B, Q, h, w) soft targets over the bins at `centres` (Q, 2) ab_n: Gaussian
    weights (std `sigma`, ab_n units) on the `neighbours` nearest bins, summing to 1 (Zhang et al. 2016)."""
    pixels = ab_n.permute(0, 2, 3, 1).reshape(-1, 2)  # (N, 2)
    distance, nearest = torch.cdist(pixels, centres.to(pixels.dtype)).topk(min(neighbours, len(centres)), largest=False)
    weights = torch.softmax(-distance.square() / (2 * sigma ** 2), dim=1)  # (N, k)
    target = pixels.new_zeros(len(pixels), len(centres)).scatter_(1, nearest, weights)
    batch, _, height, width = ab_n.shape
    return target.reshape(batch, height, width, -1).permute(0, 3, 1, 2)


def rebalance_weights(prior: torch.Tensor, mix: float) -> torch.Tensor:
    """(Q,) bin prior (smoothed, summing to 1) -> (Q,) class weights 1 / ((1 - mix) prior + mix / Q),
    scaled so a pixel drawn from the prior weighs 1 on average. mix 1: all 1 (no rebalancing)."""
    weights = 1.0 / ((1.0 - mix) * prior + mix / len(prior))
    return weights / (prior * weights).sum()


def distribution_loss(logits: torch.Tensor, true_ab_n: torch.Tensor, centres: torch.Tensor,
                      class_weights: torch.Tensor, neighbours: int, sigma: float) -> torch.Tensor:
    """Class-rebalanced cross-entropy of (B, Q, h, w) logits against the soft-encoded truth, each pixel
    weighted by its nearest bin's weight. true_ab_n: (B, 2, H, W), averaged to the logits' size
    (the head's stride 4); centres (Q, 2) and class_weights (Q,) as the model's bins."""
    true_ab_n = F.adaptive_avg_pool2d(true_ab_n, logits.shape[-2:])
    target = soft_encode(true_ab_n, centres, neighbours, sigma)
    pixel_weights = class_weights.to(logits.dtype)[target.argmax(dim=1)]  # (B, h, w)
    cross_entropy = -(target * torch.log_softmax(logits.float(), dim=1)).sum(dim=1)
    return (pixel_weights * cross_entropy).mean()
