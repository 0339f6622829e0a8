"""Before/after gallery of held-back photos: `python examples/gallery.py photos256.zip docs/gallery.jpg`.

Takes the val photos of a data set (the seeded split the bundled model held out in training, so it
never saw them), colorizes each from its gray version with a checkpoint, and writes one row per photo:
gray input | colorized | original.
"""
from pathlib import Path

import click
import numpy as np

from gan_colorizer import checkpoint as checkpoints
from gan_colorizer import data, images
from gan_colorizer.config import load_config
from gan_colorizer.evaluate import gray_version
from gan_colorizer.inference import DEFAULT_CHECKPOINT, Colorizer
from gan_colorizer.visual import label_tile

TILE = 256  # side of each square tile, px


@click.command()
@click.argument("photos", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Generator checkpoint (default: the bundled model).")
@click.option("--count", default=6, show_default=True, type=click.IntRange(min=1), help="Photos shown.")
def main(photos: Path, out: Path, checkpoint: Path | None, count: int) -> None:
    path = checkpoint or DEFAULT_CHECKPOINT
    ckpt = checkpoints.read(path)
    colorizer = Colorizer(checkpoints.generator_from(ckpt, path))
    data_cfg = load_config(None, base={"data": {k: v for k, v in ckpt["run_config"]["data"].items()
                                                 if k != "paths"}}).data
    source = data.PhotoSource(photos)
    keys = data.scan(source, data_cfg).val[:count]
    rows = []
    for key in keys:
        truth = images.to_uint8(data.center_square(source.decode(key).rgb, TILE))
        gray = gray_version(truth)
        rows.append(np.concatenate([label_tile(gray, "gray input"), label_tile(colorizer(gray), "colorized"),
                                    label_tile(truth, "original")], axis=1))
    images.write_image(out, np.concatenate(rows, axis=0), quality=88)
    click.echo(f"wrote {out}: {len(keys)} held-back photos")


if __name__ == "__main__":
    main()
