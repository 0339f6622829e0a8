"""The colour-control rows of a checkpoint evaluation (`evaluate --mood/--color/--temperature/--reference`):
each request's predictions, what they reached against what was asked, and the one line that says so.

Arrival is measured on the written image (`achieved_stats`: mean a*b* and spread after gamut mapping
and 8-bit rounding), the same statistics `mood.arrive` lands on.
"""
import math

import numpy as np
import torch

from gan_colorizer import color, feature_metrics
from gan_colorizer import mood as moods
from gan_colorizer.inference import Colorizer


def achieved_stats(rgb8: np.ndarray) -> moods.ColorTarget:
    """(H, W, 3) uint8 sRGB -> its mean a*b* and spread (mood.ab_stats), in Lab units."""
    return moods.ab_stats(color.rgb_to_lab(rgb8.astype(np.float32) / 255.0)[..., 1:])


def control_distances(goals: list[moods.ColorTarget], achieved: list[moods.ColorTarget]) -> dict[str, float]:
    """How close each prediction came to its image's requested statistics, averaged over images.

    goals: per image what the request asked of it (`mood.Control.goal`; the target itself at
    strength 1), achieved: what its written image has. delta_e: mean per-image distance of the
    achieved mean a*b* from the requested one (Lab units; the a*b* plane of ΔE76, since L is the
    photo's own); spread_error: mean per-image |achieved spread - requested spread|; arrived: how
    many images are within `mood.ControlReport.arrived`'s tolerance. A statistic the request leaves
    open is reported as nan.
    """
    reports = [moods.ControlReport("", goal, stats) for goal, stats in zip(goals, achieved)]
    means = np.array([stats.mean_ab for stats in achieved])
    out = {"achieved_a": float(means[:, 0].mean()), "achieved_b": float(means[:, 1].mean()),
           "achieved_spread": float(np.mean([stats.spread for stats in achieved])),
           "delta_e": math.nan, "spread_error": math.nan, "arrived": sum(report.arrived for report in reports)}
    if goals[0].mean_ab is not None:
        out["delta_e"] = float(np.mean([report.delta_e for report in reports]))
    if goals[0].spread is not None:
        out["spread_error"] = float(np.mean([report.spread_error for report in reports]))
    return out


class ControlRuns:
    """The colour-controlled rows of a checkpoint evaluation: "learned" (a hinted model paints the
    request, then `mood.arrive` corrects the rest) and "fallback" (the uncontrolled colours shifted
    onto it), each with what it reached per image."""

    def __init__(self, colorizer: Colorizer, control: dict, lpips_model: torch.nn.Module | None) -> None:
        paths = ("learned", "fallback") if colorizer.takes_hint else ("fallback",)
        requests = {path: moods.control(**control, learned=path == "learned") for path in paths}
        self.requests = {path: request for path, request in requests.items() if request is not None}
        self.colorizer, self.lpips_model = colorizer, lpips_model
        self.goals: list[moods.ColorTarget] = []
        self.achieved: dict[str, list[moods.ColorTarget]] = {name: [] for name in ("model", *self.requests)}
        self.shares: list[float] = []
        self.lpips_vs_model: dict[str, list[float]] = {name: [] for name in self.requests}

    def add(self, truth: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
        """Colorize one photo (H, W, 3) uint8 under every request and record what each reached; `pred`
        is its uncontrolled prediction. Returns the controlled predictions by row name."""
        preds = {}
        for name, request in self.requests.items():
            preds[name], report, _ = self.colorizer.colorize_with_report(truth, request)
            self.achieved[name].append(achieved_stats(preds[name]))
            if name == "learned" and report.network_share is not None:
                self.shares.append(report.network_share)
            if self.lpips_model is not None:
                self.lpips_vs_model[name].append(float(feature_metrics.lpips_distances(self.lpips_model, [preds[name]],
                                                                               [pred])[0]))
        if self.requests:
            self.goals.append(report.requested)  # one goal per photo: both paths start from `pred`
            self.achieved["model"].append(achieved_stats(pred))
        return preds

    def summary(self, table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        """Evaluation.control: "requested" (the target and strength), then per row its distances
        (`control_distances`), network_share (mean share of the way the hinted network went alone,
        learned row), lpips_vs_model (LPIPS against the uncontrolled output) and how LPIPS, FID-lite
        and KID against the truth moved from the "model" row (change_*)."""
        if not self.goals:
            return {}
        request = next(iter(self.requests.values()))
        target = request.target
        out = {"requested": {"a": target.mean_ab[0] if target.mean_ab else math.nan,
                             "b": target.mean_ab[1] if target.mean_ab else math.nan,
                             "spread": math.nan if target.spread is None else target.spread,
                             "strength": request.strength}}
        for name, stats in self.achieved.items():
            row = {**control_distances(self.goals, stats), "network_share": math.nan, "lpips_vs_model": math.nan}
            if name == "learned" and self.shares:
                row["network_share"] = float(np.mean(self.shares))
            if self.lpips_vs_model.get(name):
                row["lpips_vs_model"] = float(np.mean(self.lpips_vs_model[name]))
            for metric in ("lpips", "fid_lite", "kid"):
                row[f"change_{metric}"] = table[name][metric] - table["model"][metric]
            out[name] = row
        return out


def format_control(name: str, requested: dict[str, float], row: dict[str, float]) -> str:
    """One line per control row: requested vs achieved statistics, how many photos arrived, the share
    of the way the network went alone, and how the perceptual metrics moved."""
    parts = [f"{name:<8}"]
    if math.isfinite(requested["a"]):
        parts.append(f"mean a*b* ({row['achieved_a']:+.1f}, {row['achieved_b']:+.1f}) for "
                     f"({requested['a']:+.1f}, {requested['b']:+.1f}): delta E {row['delta_e']:.2f}")
    if math.isfinite(requested["spread"]):
        parts.append(f"spread {row['achieved_spread']:.1f} for {requested['spread']:.1f}: "
                     f"error {row['spread_error']:.2f}")
    if name != "model":
        parts.append(f"{row['arrived']} arrived")
        if math.isfinite(row["network_share"]):
            parts.append(f"network alone {100 * row['network_share']:.0f} % of the way")
        parts.append(f"LPIPS {row['change_lpips']:+.4f}, FID-lite {row['change_fid_lite']:+.2f}, "
                     f"KID {row['change_kid']:+.4f} vs model; LPIPS to model {row['lpips_vs_model']:.4f}")
    return "; ".join(parts)
