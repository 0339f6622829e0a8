"""Before/after gallery of held-back photos: `python examples/gallery.py photos256.zip docs/gallery.jpg`.

Takes the val photos of a data set (the seeded split the bundled model held out in training, so it
never saw them), colorizes each from its gray version with a checkpoint, and writes one row per photo:
gray input | colorized | original. `--name` picks val photos by name (e.g. the worst rows of
`evaluate --csv`, for a model card's failure cases); `--degrade` ages each gray input as an archive
scan first, as `evaluate --degrade` does; `--points 5` adds a column colorized with 5 simulated colour
points of the truth's colours (`evaluate --points`' clicks), each marked with a ring. Several
`--checkpoint`s (each with its `--label`) make one colorized column each, for an ablation's rows side
by side on the same photos; `--vividness` colours them at that vividness (models with a distribution head).
PHOTOS is a folder, a .zip or a .txt list of them, as training's --data.
"""
from pathlib import Path

import click
import cv2
import numpy as np

from gan_colorizer import checkpoint as checkpoints
from gan_colorizer import data, image_writer
from gan_colorizer.config import load_config
from gan_colorizer.evaluate import degraded_gray, gray_version, simulated_clicks
from gan_colorizer.inference import DEFAULT_CHECKPOINT, Colorizer
from gan_colorizer.visual import label_tile

TILE = 256  # side of each square tile, px


@click.command()
@click.argument("photos", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--checkpoint", "checkpoints_", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Generator checkpoint (default: the bundled model); repeatable, a column each.")
@click.option("--label", "labels", multiple=True, help="The column title of each --checkpoint, in order.")
@click.option("--vividness", type=click.FloatRange(0.0, 1.0), help="Colour at this vividness (a distribution head).")
@click.option("--count", default=6, show_default=True, type=click.IntRange(min=1), help="Photos shown.")
@click.option("--name", "names", multiple=True, help="A val photo to show, by its name in PHOTOS (repeatable).")
@click.option("--degrade", is_flag=True, help="Age each gray input as an archive scan (seeded per photo).")
@click.option("--points", default=0, show_default=True, type=click.IntRange(min=0),
              help="Add a column with this many simulated colour points of the truth's colours.")
def main(photos: Path, out: Path, checkpoints_: tuple[Path, ...], labels: tuple[str, ...], vividness: float | None,
         count: int, names: tuple[str, ...], degrade: bool, points: int) -> None:
    paths = checkpoints_ or (DEFAULT_CHECKPOINT,)
    if labels and len(labels) != len(paths):
        raise click.ClickException(f"{len(labels)} --label for {len(paths)} --checkpoint")
    labels = labels or (("colorized",) if len(paths) == 1 else tuple(path.parent.name for path in paths))
    ckpts = [checkpoints.read(path) for path in paths]
    colorizers = [Colorizer(checkpoints.generator_from(ckpt, path), vividness=vividness) for ckpt, path in zip(ckpts, paths)]
    colorizer = colorizers[0]
    data_cfg = load_config(None, base={"data": {k: v for k, v in ckpts[0]["run_config"]["data"].items()
                                                 if k != "paths"}}).data
    source = data.open_sources([photos])
    val = data.scan(source, data_cfg).val
    unknown = [name for name in names if name not in val]
    if unknown:
        raise click.ClickException(f"not val photos of {photos}: {', '.join(unknown)}")
    keys = list(names) or val[:count]
    rows = []
    for key in keys:
        truth = image_writer.to_uint8(data.center_square(source.decode(key).rgb, TILE))
        gray = degraded_gray(truth, key) if degrade else gray_version(truth)
        tiles = [label_tile(gray, "aged gray input" if degrade else "gray input"),
                 *(label_tile(each(gray), label) for each, label in zip(colorizers, labels))]
        if points:
            clicks = simulated_clicks(truth, points, key)
            pointed = colorizer(gray, points=clicks).copy()
            for click_ in clicks:  # a ring around each point's disc, white over black so it shows on any colour
                centre, radius = (round(click_.x), round(click_.y)), round(click_.radius_in(TILE, TILE)) + 2
                cv2.circle(pointed, centre, radius + 1, (0, 0, 0), 1, cv2.LINE_AA)
                cv2.circle(pointed, centre, radius, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(label_tile(pointed, f"{points} colour points"))
        rows.append(np.concatenate([*tiles, label_tile(truth, "original")], axis=1))
    image_writer.write_image(out, np.concatenate(rows, axis=0), quality=88)
    click.echo(f"wrote {out}: {len(keys)} held-back photos")


if __name__ == "__main__":
    main()
