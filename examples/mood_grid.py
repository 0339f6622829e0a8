"""One photo under every named mood and a colour temperature, three ways side by side: docs/moods.jpg.

    python examples/mood_grid.py examples/chelsea_gray.jpg docs/moods.jpg [--checkpoint model.pt]

One row per request; columns: no control, the learned colour hint with the residual correction
(models that take a hint), and the shift of the uncontrolled colours' statistics. Both controlled
columns arrive at the same mean a*b* (printed on the tile), so what differs is how the colour is
laid on: as light in the scene, or as a filter over the picture.
"""
from pathlib import Path

import click
import cv2
import numpy as np

from gan_colorizer import image_writer, images
from gan_colorizer.inference import Colorizer
from gan_colorizer.mood import control, mood_names
from gan_colorizer.visual import label_tile

TILE = 200  # shorter side of each tile, px
TEMPERATURE = 3200  # kelvin: tungsten light, the one temperature shown


@click.command()
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Generator checkpoint (default: the bundled model).")
def main(photo: Path, out: Path, checkpoint: Path | None) -> None:
    picture = images.read_image(photo)
    height, width = picture.rgb.shape[:2]
    scale = TILE / min(height, width)
    rgb = cv2.resize(picture.rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    colorizer = Colorizer.from_checkpoint(checkpoint)
    plain = colorizer(rgb)
    paths = {"learned+residual": True, "shift": False} if colorizer.takes_hint else {"shift": False}
    requests = [{"mood": name} for name in mood_names()] + [{"temperature": TEMPERATURE}]
    rows = []
    for args in requests:
        name = args.get("mood") or f"{TEMPERATURE} K"
        tiles = [label_tile(plain, name, "no control")]
        for path, learned in paths.items():
            rgb8, report, _ = colorizer.colorize_with_report(rgb, control(**args, learned=learned))
            reached = report.reached
            stats = ("a*b* ({:+.0f}, {:+.0f})".format(*reached.mean_ab) if report.requested.mean_ab else "") + \
                (f" spread {reached.spread:.0f}" if report.requested.spread is not None else "")
            tiles.append(label_tile(rgb8, f"{name}: {path}", stats.strip()))
        rows.append(np.concatenate(tiles, axis=1))
    image_writer.write_image(out, np.concatenate(rows, axis=0), quality=90)
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
