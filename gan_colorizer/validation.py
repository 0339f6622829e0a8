"""Validation during training: a generator's metrics on the central squares of the val photos.

The trainer calls `validate` every `train.val_every` steps on the (EMA) generator. Predictions and
truths are rendered exactly as users receive them (the photo's own L, gamut-mapped chroma, 8 bits:
`visual.render_batch`) and scored by the evaluator's `metrics.Scorer`, so a val number and an `evaluate`
number measure the same thing under the same name (metrics.COLUMNS). LPIPS is scored when the run
loads its network (it picks best.pt in GAN runs). A generator that takes a colour hint is also run
with each truth's own statistics as the hint; those numbers carry a `hint_` prefix and show how
well it follows one.
"""
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from gan_colorizer import hint, metrics
from gan_colorizer.models import Generator
from gan_colorizer.visual import render_batch

HINTED_KEYS = ("psnr", "delta_cf_per_image")  # what the hinted run reports: accuracy and colourfulness


@dataclass
class Validation:
    """metrics: name -> value over the val photos (metrics.COLUMNS names, `hint_` for hinted runs).
    first: (gray, prediction, truth) renders of the first batch, each (B, S, S, 3) uint8, for the
    TensorBoard grid; None when there were no val photos."""

    metrics: dict[str, float]
    first: tuple[np.ndarray, np.ndarray, np.ndarray] | None


@torch.inference_mode()
def validate(generator: Generator, loader: DataLoader, device: torch.device,
             autocast: Callable[[], AbstractContextManager], lpips_net: nn.Module | None = None) -> Validation:
    """Score `generator` (in eval mode; BatchNorm running statistics) on the loader's (L_n, ab_n) batches."""
    scorer = metrics.Scorer(lpips_net)
    first, count = None, 0
    for L_n, real_ab_n in loader:
        with autocast():
            fake_ab_n = generator(L_n.to(device)).float().cpu()
            hinted_ab_n = (generator(L_n.to(device), hint.stats_hint(real_ab_n).to(device)).float().cpu()
                           if generator.takes_hint else None)
        truths, fakes = render_batch(L_n, real_ab_n), render_batch(L_n, fake_ab_n)
        hinted = render_batch(L_n, hinted_ab_n) if hinted_ab_n is not None else [None] * len(fakes)
        for truth, fake, hinted_fake in zip(truths, fakes, hinted):
            preds = {"model": fake} if hinted_fake is None else {"model": fake, "hint": hinted_fake}
            scorer.add(truth, preds, name=f"val{count}")
            count += 1
        if first is None:
            first = (render_batch(L_n, torch.zeros_like(real_ab_n)), fakes, truths)
    if first is None:
        return Validation({}, None)
    table = scorer.result()
    scores = {key: value for key, value in table["model"].items() if key not in ("n", "fid_lite", "kid")}
    if "hint" in table:
        scores.update({f"hint_{key}": table["hint"][key] for key in HINTED_KEYS})
    return Validation({key: value for key, value in scores.items() if np.isfinite(value)}, first)
