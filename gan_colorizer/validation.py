"""Validation during training: a generator's metrics on the central squares of the val photos.

The trainer calls `validate` every `train.val_every` steps on the (EMA) generator. Predictions and
truths are rendered exactly as users receive them (the photo's own L, gamut-mapped chroma, 8 bits:
`visual.render_batch`) and scored by the evaluator's `metrics.Scorer`, so a val number and an `evaluate`
number measure the same thing under the same name (metrics.COLUMNS). LPIPS is scored when the run
loads its network (it picks best.pt in GAN runs). A generator that takes a colour hint is also run
with each truth's own statistics as the hint; those numbers carry a `hint_` prefix and show how
well it follows one. A generator that takes colour points is also run with VAL_POINTS simulated
clicks of the truth's colour per photo (`points.simulated_points`, the same places every
validation), reported with a `points_` prefix.
"""
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from gan_colorizer import hint, metrics, points
from gan_colorizer.models import Generator
from gan_colorizer.visual import render_batch

HINTED_KEYS = ("psnr", "delta_cf_per_image")  # what the hinted run reports: accuracy and colourfulness
POINTED_KEYS = ("psnr", "ab_rmse")  # what the pointed run reports: how far the points carried the truth
VAL_POINTS = 10  # simulated clicks per val photo


@dataclass
class Validation:
    """metrics: name -> value over the val photos (metrics.COLUMNS names, `hint_` for hinted runs).
    first: (gray, prediction, [prediction with points,] truth) renders of the first batch, each
    (B, S, S, 3) uint8, for the TensorBoard grid; None when there were no val photos."""

    metrics: dict[str, float]
    first: tuple[np.ndarray, ...] | None


@torch.inference_mode()
def validate(generator: Generator, loader: DataLoader, device: torch.device,
             autocast: Callable[[], AbstractContextManager], lpips_net: nn.Module | None = None) -> Validation:
    """Score `generator` (in eval mode; BatchNorm running statistics) on the loader's (L_n, ab_n) batches."""
    scorer = metrics.Scorer(lpips_net)
    first, count, rng = None, 0, torch.Generator().manual_seed(0)
    for L_n, real_ab_n in loader:
        runs = {"model": {}}
        if generator.takes_hint:
            runs["hint"] = {"hint": hint.stats_hint(real_ab_n).to(device)}
        if generator.takes_points:
            runs["points"] = {"points": points.simulated_points(real_ab_n, VAL_POINTS, rng).to(device)}
        with autocast():
            preds = {name: render_batch(L_n, generator(L_n.to(device), **inputs).float().cpu())
                     for name, inputs in runs.items()}
        truths, fakes = render_batch(L_n, real_ab_n), preds["model"]
        for index, truth in enumerate(truths):
            scorer.add(truth, {name: rendered[index] for name, rendered in preds.items()}, name=f"val{count}")
            count += 1
        if first is None:
            pointed = (preds["points"],) if "points" in preds else ()
            first = (render_batch(L_n, torch.zeros_like(real_ab_n)), fakes, *pointed, truths)
    if first is None:
        return Validation({}, None)
    table = scorer.result()
    scores = {key: value for key, value in table["model"].items() if key not in ("n", "fid_lite", "kid")}
    for run, keys in (("hint", HINTED_KEYS), ("points", POINTED_KEYS)):
        if run in table:
            scores.update({f"{run}_{key}": table[run][key] for key in keys})
    return Validation({key: value for key, value in scores.items() if np.isfinite(value)}, first)
