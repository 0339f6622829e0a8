"""Validation during training: a generator's metrics on the central squares of the val photos.

The trainer calls `validate` every `train.val_every` steps on the (EMA) generator. Metrics:
l1 in Lab ab units; psnr on 8-bit RGB (input L + predicted ab vs truth); cf_pred / cf_gt the mean
colourfulness of predictions / truths and cf_gap the mean per-image |difference|; lpips when a
network is given (it picks best.pt in GAN runs). A generator that takes a colour hint is also run
with each truth's own statistics as the hint: hint_l1 and hint_cf_gap show how well it follows one.
"""
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from gan_colorizer import color, hint, metrics
from gan_colorizer.images import to_uint8
from gan_colorizer.models import Generator
from gan_colorizer.visual import lab_batch_to_rgb


@dataclass
class Validation:
    """metrics: name -> mean over val photos. first: (L_n, fake_ab_n, real_ab_n) of the first batch
    (B, 1|2|2, S, S), for the TensorBoard grid; None when there were no val photos."""

    metrics: dict[str, float]
    first: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None


@torch.inference_mode()
def validate(generator: Generator, loader: DataLoader, device: torch.device,
             autocast: Callable[[], AbstractContextManager], lpips_net: nn.Module | None = None) -> Validation:
    """Score `generator` (in eval mode; BatchNorm running statistics) on the loader's (L_n, ab_n) batches."""
    takes_hint = generator.takes_hint
    names = ("l1", "psnr", "cf_gap", "cf_pred", "cf_gt") + (("hint_l1", "hint_cf_gap") if takes_hint else ())
    sums, preds8, truths8, first = dict.fromkeys(names, 0.0), [], [], None
    for L_n, real_ab_n in loader:
        with autocast():
            fake_ab_n = generator(L_n.to(device)).float().cpu()
            hinted_ab_n = (generator(L_n.to(device), hint.stats_hint(real_ab_n).to(device)).float().cpu()
                           if takes_hint else None)
        sums["l1"] += _l1_sum(fake_ab_n, real_ab_n)
        reals = lab_batch_to_rgb(L_n, real_ab_n)
        for fake, real in zip(lab_batch_to_rgb(L_n, fake_ab_n), reals):
            fake8, real8 = to_uint8(fake), to_uint8(real)
            sums["psnr"] += metrics.psnr(fake8, real8)
            cf_pred, cf_gt = color.colourfulness(fake), color.colourfulness(real)
            sums["cf_gap"] += abs(cf_pred - cf_gt)
            sums["cf_pred"] += cf_pred
            sums["cf_gt"] += cf_gt
            preds8.append(fake8)
            truths8.append(real8)
        if hinted_ab_n is not None:
            sums["hint_l1"] += _l1_sum(hinted_ab_n, real_ab_n)
            for hinted, real in zip(lab_batch_to_rgb(L_n, hinted_ab_n), reals):
                sums["hint_cf_gap"] += abs(color.colourfulness(hinted) - color.colourfulness(real))
        first = first or (L_n, fake_ab_n, real_ab_n)
    if not preds8:
        return Validation({}, None)
    scores = {name: value / len(preds8) for name, value in sums.items()}
    if lpips_net is not None:
        scores["lpips"] = float(np.nanmean(metrics.lpips_distances(lpips_net, preds8, truths8)))
    return Validation(scores, first)


def _l1_sum(pred_ab_n: torch.Tensor, true_ab_n: torch.Tensor) -> float:
    """Sum over the batch of each image's mean |ab error|, in Lab units."""
    return color.denormalize_ab((pred_ab_n - true_ab_n).abs()).mean(dim=(1, 2, 3)).sum().item()
