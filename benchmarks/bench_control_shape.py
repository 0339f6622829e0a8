"""Does LPIPS tell coloured light from a colour filter? The same reached mean a*b*, three shapes.

    python benchmarks/bench_control_shape.py --photos DIR [--checkpoint FILE] [--request warm ...]

For each photo (long side 256) the model's uncontrolled colours are moved to the request's mean
a*b* in three shapes, each solved through the gamut mapping to land on the same mean:
  uniform  every pixel by the same offset (the `--shift` filter)
  light    offset in proportion to L* (coloured light: lit surfaces take it, blacks stay black)
  shadow   offset in proportion to 100 - L* (the opposite, a tinted shadow)
beside the learned hint + residual (`Colorizer` with the request). It prints, per request and
shape, LPIPS to the uncontrolled output, the change of LPIPS to the truth, and the mean miss (ΔE).
Issue 13 asked the learned result to move LPIPS at most half as much as the uniform shift; this
measures whether any shape of the same change can.
"""
import sys
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_colorizer import Colorizer, images  # noqa: E402
from gan_colorizer.color import lab_to_rgb_in_gamut, rgb_to_lab  # noqa: E402
from gan_colorizer.control_scores import achieved_stats  # noqa: E402
from gan_colorizer.evaluate import gray_version  # noqa: E402
from gan_colorizer.feature_metrics import load_lpips, lpips_distances  # noqa: E402
from gan_colorizer.image_writer import to_uint8  # noqa: E402
from gan_colorizer.mood import resolve  # noqa: E402


def mean_ab(rgb8: np.ndarray) -> np.ndarray:
    """The written image's mean a*b*, measured as the evaluator measures it."""
    return np.array(achieved_stats(rgb8).mean_ab)


def shaped_shift(rgb8: np.ndarray, weight: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """rgb8 with weight * d added to a*b*, d solved by fixed-point steps so the written mean is `goal`."""
    lab, offset = rgb_to_lab(rgb8.astype(np.float32) / 255.0), np.zeros(2)
    for _ in range(10):
        moved = lab.copy()
        moved[..., 1:] += weight[..., None] * offset
        out = to_uint8(lab_to_rgb_in_gamut(moved))
        miss = goal - mean_ab(out)
        if np.hypot(*miss) < 0.3:
            break
        offset = offset + miss
    return out


def weights(rgb8: np.ndarray) -> dict[str, np.ndarray]:
    L = rgb_to_lab(rgb8.astype(np.float32) / 255.0)[..., 0]
    return {"uniform": np.ones_like(L), "light": L / max(float(L.mean()), 1e-3),
            "shadow": (100.0 - L) / max(float((100.0 - L).mean()), 1e-3)}


@click.command()
@click.option("--photos", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--request", "requests", multiple=True, default=("warm", "cool", "golden-hour", "#4080c0"),
              help="a mood name or a #rrggbb colour; repeatable")
def main(photos: Path, checkpoint: Path | None, requests: tuple[str, ...]) -> None:
    truths = [to_uint8(images.fit_within(images.read_image(p).rgb, 256)) for p in images.list_image_files(photos)]
    grays = [gray_version(t) for t in truths]
    colorizer, lpips = Colorizer.from_checkpoint(checkpoint), load_lpips("squeeze")
    plain = [colorizer(g) for g in grays]
    base = lpips_distances(lpips, plain, truths).mean()
    print("| request | shape | LPIPS to uncontrolled | ΔLPIPS to truth | mean ΔE |\n|---|---|---|---|---|")
    for request in requests:
        is_colour = request.startswith("#")
        goal = np.array(resolve(None if is_colour else request, request if is_colour else None, None).mean_ab)
        shapes = {name: [shaped_shift(u, weights(u)[name], goal) for u in plain]
                  for name in ("uniform", "light", "shadow")}
        shapes["learned + residual"] = [colorizer(g, **({"color": request} if is_colour else {"mood": request}))
                                        for g in grays]
        for name, outs in shapes.items():
            to_plain, to_truth = lpips_distances(lpips, outs, plain).mean(), lpips_distances(lpips, outs, truths).mean()
            miss = np.mean([np.hypot(*(mean_ab(o) - goal)) for o in outs])
            print(f"| {request} | {name} | {to_plain:.4f} | {to_truth - base:+.4f} | {miss:.2f} |", flush=True)


if __name__ == "__main__":
    main()
