"""The frame strip of docs/video.md: a colour clip made gray, coloured per frame and with stable colour.

    python examples/video_strip.py --clip ../shared/data/video/bikes.mp4 --frames 40,41,42,43 --out docs/video_strip.jpg

Rows: gray input, per-frame colouring, stable colour, truth; columns: the frames asked for (consecutive
frames show flicker best). Uses the bundled model unless --checkpoint.
"""
import sys
from pathlib import Path

import av
import click
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from gan_colorizer import color, image_writer, inference, video

ROWS = ("gray", "per-frame", "stable", "truth")


@click.command()
@click.option("--clip", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--frames", "frame_list", required=True, help="Comma-separated frame numbers, e.g. 40,41,42,43.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--width", default=320, show_default=True, help="Width of each tile.")
def main(clip: Path, frame_list: str, out: Path, checkpoint: Path | None, width: int) -> None:
    wanted = [int(number) for number in frame_list.split(",")]
    colorizer = inference.Colorizer.from_checkpoint(checkpoint)
    stabilizer = video.StableChroma()
    tiles: dict[str, list[np.ndarray]] = {row: [] for row in ROWS}
    with av.open(str(clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index > max(wanted):
                break
            L = color.gray_to_L(frame.to_ndarray(format="gray"))
            per_frame = colorizer.predict([L])[0].ab
            stable, _ = stabilizer(inference.shrink_L(L, colorizer.render_size), per_frame)
            if index in wanted:
                gray = frame.to_ndarray(format="gray")
                images = {"gray": np.dstack([gray] * 3), "per-frame": colorizer.render(L, per_frame),
                          "stable": colorizer.render(L, stable), "truth": frame.to_ndarray(format="rgb24")}
                for row, image in images.items():
                    height = round(image.shape[0] * width / image.shape[1])
                    tile = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                    cv2.putText(tile, f"{row} #{index}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                                cv2.LINE_AA)
                    tiles[row].append(tile)
    sheet = np.vstack([np.hstack(tiles[row]) for row in ROWS])
    image_writer.write_image(out, sheet, quality=88)
    click.echo(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
