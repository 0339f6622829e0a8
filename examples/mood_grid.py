"""One photo in every named mood, learned hint above and statistics shift below: docs/moods.jpg.

    python examples/mood_grid.py examples/chelsea_gray.jpg docs/moods.jpg [--checkpoint model.pt]

Columns: no control, then each mood of `gan_colorizer.mood.MOODS`. Rows: the model's learned colour
hint (models that take one) and the fallback shift of its a*b* statistics. Each tile is labelled.
"""
from pathlib import Path

import click
import cv2
import numpy as np

from gan_colorizer import images
from gan_colorizer.inference import Colorizer
from gan_colorizer.mood import mood_names

TILE = 256  # shorter side of each tile, px


def label(tile: np.ndarray, text: str) -> np.ndarray:
    """Write `text` in a dark band along the tile's top edge."""
    out = tile.copy()
    out[:22] = (out[:22] * 0.35).astype(np.uint8)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


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
    plain = Colorizer.from_checkpoint(checkpoint)
    rows = []
    for learned in ((True, False) if plain.takes_hint else (False,)):
        path = "learned" if learned else "shift"
        tiles = [label(plain(rgb), "no control")]
        for name in mood_names():
            tiles.append(label(plain(rgb, mood=name, learned=learned), f"{name} ({path})"))
        rows.append(np.concatenate(tiles, axis=1))
    images.write_image(out, np.concatenate(rows, axis=0), quality=90)
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
