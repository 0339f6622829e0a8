"""The web app's colour points on a 12 MP photo: seconds from a click to the updated preview.

    python benchmarks/bench_points.py [--checkpoint PATH] [--photo PATH] [--runs 5]

What the page waits for after each click, drag or colour change is one `PhotoService.recolor`: the
photo's L (kept from its upload), one network call with the points, the disc correction and the
1024-px preview. Also timed: the upload itself (decode, L, previews), the recommended colours for a
spot (`suggest`), and the full-size download rendered after the last click (`full_file`). The
photo is the shared 20 MP photo resized to 12 MP (skimage's astronaut, upscaled, without it), sent as a
quality-95 JPEG as a browser would. Medians of `--runs` after a warm-up; prints a Markdown table
(docs/performance.md holds a copy).
"""
import statistics
import sys
import time
from pathlib import Path

import click
import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from benchmarks.bench_colorize import source_gray  # noqa: E402
from gan_colorizer.app.service import PhotoService, Settings  # noqa: E402
from gan_colorizer.inference import Colorizer  # noqa: E402

PIXELS = 12_000_000


def median(run, runs: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@click.command()
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), help="[default: the bundled model]")
@click.option("--photo", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--runs", default=5, show_default=True, type=click.IntRange(min=1))
def main(checkpoint: Path | None, photo: Path | None, runs: int) -> None:
    gray, source = source_gray(photo)
    scale = (PIXELS / gray.size) ** 0.5
    size = (round(gray.shape[1] * scale), round(gray.shape[0] * scale))
    gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    ok, jpeg = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 95])
    service = PhotoService(Colorizer.from_checkpoint(checkpoint), max_upload_mb=200)
    try:
        height, width = gray.shape
        first = service.colorize(jpeg.tobytes(), "photo.jpg", Settings())
        clicks = [(width * 0.3, height * 0.4, "#c03020"), (width * 0.6, height * 0.5, "#3060a0"),
                  (width * 0.5, height * 0.8, "#40a040")]
        times = {
            "upload (decode, L, before preview, first colouring)": median(
                lambda: service.colorize(jpeg.tobytes(), "photo.jpg", Settings()), runs),
            "click -> preview, 1 point": median(lambda: service.recolor(first.id, Settings(), clicks[:1]), runs),
            "click -> preview, 3 points": median(lambda: service.recolor(first.id, Settings(), clicks), runs),
            "click -> preview, 3 points and a mood": median(
                lambda: service.recolor(first.id, Settings(mood="warm", strength=0.7), clicks), runs),
            "recommended colours for a spot": median(lambda: service.suggest(first.id, *clicks[0][:2]), runs),
        }
        last = service.recolor(first.id, Settings(), clicks)
        start = time.perf_counter()
        service.full_file(last)
        times["full-size PNG download, rendered once"] = time.perf_counter() - start
    finally:
        service.close()
    print(f"{width} x {height} px ({width * height / 1e6:.1f} MP) from {source}; medians of {runs} runs\n")
    print("| step | seconds |\n|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
