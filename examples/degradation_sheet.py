"""One photo's lightness, clean and under 8 random old-scan degradations: docs/degradation.jpg.

    python examples/degradation_sheet.py examples/astronaut_gray.jpg docs/degradation.jpg [--preset train]

The photo is reduced to its L and shrunk to a 256-px short side (what the network sees), then
degraded with `gan_colorizer.degrade.degrade_L`: preset `eval` is DEGRADE_EVAL ("a typical aged
scan", what `evaluate --degrade` uses), `train` is DegradeConfig's per-effect defaults with p = 1.
Each tile is labelled with the effects it got, in the order they were applied.
"""
from dataclasses import replace
from pathlib import Path

import click
import cv2
import numpy as np

from gan_colorizer import color, degrade, image_writer, images
from gan_colorizer.config import DegradeConfig
from gan_colorizer.visual import label_tile

TILE = 256  # shorter side of each tile, px
PRESETS = {"eval": degrade.DEGRADE_EVAL, "train": replace(DegradeConfig(), p=1.0)}


@click.command()
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="eval", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="First of the 8 seeds.")
def main(photo: Path, out: Path, preset: str, seed: int) -> None:
    rgb = images.read_image(photo).rgb
    height, width = rgb.shape[:2]
    scale = TILE / min(height, width)
    rgb = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    L = color.rgb_to_L(rgb)
    cfg = PRESETS[preset]
    tiles = [label_tile(cv2.cvtColor(image_writer.to_uint8(L / 100.0), cv2.COLOR_GRAY2RGB), "clean", font_scale=0.32)]
    for tile_seed in range(seed, seed + 8):
        rng = np.random.default_rng(tile_seed)  # what degrade_L(L, cfg, rng) does, keeping the effects' names
        effects = degrade.choose_effects(cfg, rng)
        damaged = degrade.apply_effects(L, effects, cfg, rng)
        tiles.append(label_tile(cv2.cvtColor(image_writer.to_uint8(damaged / 100.0), cv2.COLOR_GRAY2RGB),
                                " ".join(effects), font_scale=0.32))
    rows = [np.concatenate(tiles[i:i + 3], axis=1) for i in (0, 3, 6)]
    image_writer.write_image(out, np.concatenate(rows, axis=0), quality=80)
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
