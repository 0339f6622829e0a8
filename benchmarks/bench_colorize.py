"""Colorizing speed: end-to-end seconds per photo size with the stage split, and the network vs pix2pix.

    python benchmarks/bench_colorize.py [--photo PATH] [--runs 5] [--threads N] [--clock wall|cpu]

Inputs are gray JPEGs (quality 95) made by resizing one real photo to 256x256, 2 MP and 12 MP (the
photo's aspect). End-to-end is `folder.colorize_folder` on the one file, with the model already
loaded: read, colorize, write. The stage split times the same steps one by one; the end-to-end can be
less than their sum, since reading, the network and writing overlap in threads. "CPU s" is the
process's CPU time (all threads) for the end-to-end run: on a machine busy with other jobs it shows
the work done when the wall time is inflated by waiting. On such a machine, `--threads 1 --clock cpu`
times every step by CPU time instead: close to what one quiet core takes. Every number is the median
of `--runs` runs after a warm-up: single runs vary by tens of percent on a shared machine.
With onnxruntime installed (`pip install .[onnx]`), a last table sets the generator exported to ONNX
against torch: network time at 256² and 1024², and the largest 8-bit difference of the colorized
photos (network run at that size), with onnxruntime given torch's thread count.
Prints Markdown tables (docs/performance.md holds a copy).
"""
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import cv2
import numpy as np
import torch
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from gan_colorizer import color, folder, image_writer, images, inference, memory, models, onnx_backend  # noqa: E402

SHARED_PHOTO = (Path(__file__).resolve().parents[2] / "shared" / "data" / "fullres"
                / "lomiri20_Kleiber_by_Lukas_Baubkus.jpg")
SIZES = (("256²", 256 * 256), ("2 MP", 2_000_000), ("12 MP", 12_000_000))
RENDER_SIZES = (256, 384, 512)


Clock = Callable[[], float]
CLOCKS: dict[str, Clock] = {"wall": time.perf_counter, "cpu": time.process_time}


def median_seconds(run: Callable[[], object], runs: int, clock: Clock) -> float:
    run()  # warm-up: oneDNN picks its kernels for a new shape on the first call
    times = []
    for _ in range(runs):
        start = clock()
        run()
        times.append(clock() - start)
    return statistics.median(times)


def source_gray(photo: Path | None) -> tuple[np.ndarray, str]:
    """(H, W) uint8 gray of the given photo, else the shared 20 MP photo, else skimage's astronaut."""
    path = photo or (SHARED_PHOTO if SHARED_PHOTO.is_file() else None)
    rgb8 = image_writer.to_uint8(images.read_image(path).rgb) if path else data.astronaut()
    source = path.name if path else "skimage.data.astronaut (512², upscaled)"
    return cv2.cvtColor(rgb8, cv2.COLOR_RGB2GRAY), source


def make_inputs(gray: np.ndarray, folder: Path) -> list[tuple[str, Path]]:
    """Gray JPEGs of each benchmark size, resized from `gray` (area when shrinking, cubic when growing)."""
    inputs = []
    for label, pixels in SIZES:
        height, width = gray.shape
        if label == "256²":
            side = min(height, width)
            crop = gray[(height - side) // 2:(height + side) // 2, (width - side) // 2:(width + side) // 2]
            size = (256, 256)
        else:
            scale = (pixels / (height * width)) ** 0.5
            crop, size = gray, (round(width * scale), round(height * scale))
        method = cv2.INTER_AREA if size[0] < crop.shape[1] else cv2.INTER_CUBIC
        path = folder / f"{label.replace('²', '').replace(' ', '')}.jpg"
        cv2.imwrite(str(path), cv2.resize(crop, size, interpolation=method), [cv2.IMWRITE_JPEG_QUALITY, 95])
        inputs.append((label, path))
    return inputs


def stage_times(colorizer: inference.Colorizer, path: Path, out: Path, runs: int, clock: Clock) -> dict[str, float]:
    """Median seconds of each step of the pipeline, run one at a time on one file (STAGES names them)."""
    picture = images.read_image(path)
    L = picture.L
    small = inference.shrink_L(L, colorizer.render_size)
    ab = inference.predict_ab(colorizer.generator, small[None])[0]
    lab = color.merge_lab(L, ab)
    rgb8 = color.lab_to_rgb8_in_gamut(lab)
    steps = (lambda: images.read_image(path), lambda: picture.L,
             lambda: inference.shrink_L(L, colorizer.render_size),
             lambda: inference.predict_ab(colorizer.generator, small[None]), lambda: color.merge_lab(L, ab),
             lambda: color.lab_to_rgb8_in_gamut(lab), lambda: image_writer.write_image(out / path.name, rgb8))
    return {name: median_seconds(step, runs, clock) for name, step in zip(STAGES, steps)}


# What each stage does per pixel, for docs/performance.md's profile.
STAGES = ("decode", "L", "shrink", "network", "chroma resize + merge", "Lab -> sRGB8 + gamut", "encode")


def network_ms(generators: dict[str, Callable[[torch.Tensor], torch.Tensor]], shape: tuple[int, int], runs: int,
               clock: Clock) -> dict[str, float]:
    """Median ms per (1, 1, *shape) call of each generator, runs interleaved so load hits all alike."""
    L_n = torch.rand(1, 1, *shape) * 2.0 - 1.0
    times: dict[str, list[float]] = {name: [] for name in generators}
    with torch.inference_mode():
        for generator in generators.values():
            generator(L_n)
        for _ in range(runs):
            for name, generator in generators.items():
                start = clock()
                generator(L_n)
                times[name].append(clock() - start)
    return {name: 1000.0 * statistics.median(values) for name, values in times.items()}


def machine() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout if platform.system() == "Linux" else ""
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")),
                 platform.processor() or "unknown CPU")
    return (f"{model}, {os.cpu_count()} logical CPUs; torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), numpy {np.__version__}, "
            f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.1f} at start")


def print_end_to_end(colorizer: inference.Colorizer, gray: np.ndarray, runs: int, clock: str) -> None:
    """The end-to-end table: one row per input size, with the CPU time and the stage split."""
    click.echo("| input | end-to-end s | MP/s | CPU s | " + " | ".join(STAGES) + " |")
    click.echo("|---|---|---|---|" + "---|" * len(STAGES))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        for label, path in make_inputs(gray, Path(tmp)):
            def colorize_file() -> None:
                folder.colorize_folder(path, out, colorizer)
            seconds = median_seconds(colorize_file, runs, CLOCKS[clock])
            cpu_seconds = seconds if clock == "cpu" else median_seconds(colorize_file, runs, time.process_time)
            megapixels = np.prod(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).shape) / 1e6
            stages = stage_times(colorizer, path, out, runs, CLOCKS[clock])
            split = " | ".join(f"{1000 * stages[name]:.0f} ms" for name in stages)
            click.echo(f"| {label} ({megapixels:.1f} MP) | {seconds:.3f} | {megapixels / seconds:.1f} | "
                       f"{cpu_seconds:.3f} | {split} |")


def print_networks(colorizer: inference.Colorizer, runs: int, clock: str) -> None:
    """The default generator against pix2pix at 256², then the default at each render size of a 12 MP photo."""
    prepared = {"default generator": colorizer.generator,
                "pix2pix_unet": inference.Colorizer(models.build("pix2pix_unet").eval()).generator}
    ms = network_ms(prepared, (256, 256), max(runs, 10), CLOCKS[clock])
    click.echo(f"\nNetwork, one 256² image, median of {max(runs, 10)} interleaved runs (both BatchNorm-folded, "
               f"channels_last):\n\n| generator | ms / image |\n|---|---|")
    for name, value in ms.items():
        click.echo(f"| {name} | {value:.1f} |")
    click.echo(f"| ratio default / pix2pix | {ms['default generator'] / ms['pix2pix_unet']:.3f} (target <= 0.2) |")

    click.echo("\nNetwork time for a 12 MP 16:9 photo by --render-size:\n")
    click.echo("| render size | network input | ms |\n|---|---|---|")
    for size in RENDER_SIZES:
        height, width = memory.working_size(2598, 4619, size)  # 12 MP at 16:9
        value = network_ms({"default": colorizer.generator}, (height, width), runs, CLOCKS[clock])["default"]
        click.echo(f"| {size} | {width}x{height} | {value:.0f} |")


def print_backends(colorizer: inference.Colorizer, gray: np.ndarray, runs: int, clock: str) -> None:
    """torch against onnxruntime on the same (BatchNorm-folded) generator, at 256² and 1024²."""
    if importlib.util.find_spec("onnxruntime") is None:
        click.echo("\nonnxruntime is not installed (pip install '.[onnx]'): no ONNX row")
        return
    with tempfile.TemporaryDirectory() as tmp:
        onnx_backend.export_onnx(colorizer.generator, Path(tmp) / "generator.onnx")
        # the session holds the model once loaded; it gets torch's thread count, so the two compare alike
        onnx_generator = onnx_backend.OnnxGenerator(Path(tmp) / "generator.onnx", threads=torch.get_num_threads())
    backends = {"torch": colorizer.generator, "onnxruntime": onnx_generator}
    sides = (256, 1024)
    ms = {side: network_ms(backends, (side, side), runs, CLOCKS[clock]) for side in sides}
    height, width = gray.shape
    short = min(height, width)
    crop = gray[(height - short) // 2:(height + short) // 2, (width - short) // 2:(width + short) // 2]  # centre square
    differences = []
    for side in sides:  # the network runs at the photo's own size
        square = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
        by_backend = [inference.Colorizer(generator, render_size=side)(square).astype(int)
                      for generator in backends.values()]
        differences.append(int(np.abs(by_backend[0] - by_backend[1]).max()))
    click.echo(f"\nNetwork by backend, one image, median of {runs} interleaved runs; the difference is the largest "
               f"over all pixels and channels of the two colorized photos:\n")
    click.echo("| backend | 256² ms | 1024² ms | max 8-bit difference from torch, 256² / 1024² |\n|---|---|---|---|")
    for name in backends:
        diff = "0 / 0" if name == "torch" else " / ".join(map(str, differences))
        click.echo(f"| {name} | {ms[256][name]:.1f} | {ms[1024][name]:.0f} | {diff} |")


@click.command()
@click.option("--photo", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Photo to resize into the inputs. [default: the shared 20 MP photo, else skimage's astronaut]")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Generator to time. [default: checkpoints/default.pt, else mobilenet_unet with random weights]")
@click.option("--runs", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--threads", type=click.IntRange(min=1), help="torch and OpenCV threads. [default: theirs]")
@click.option("--clock", type=click.Choice(list(CLOCKS)), default="wall", show_default=True,
              help="cpu: time by this process's CPU time, for a machine busy with other jobs.")
def main(photo: Path | None, checkpoint: Path | None, runs: int, threads: int | None, clock: str) -> None:
    """Print the end-to-end and per-stage times and the network comparison as Markdown tables."""
    if threads:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
    checkpoint = checkpoint or (inference.DEFAULT_CHECKPOINT if inference.DEFAULT_CHECKPOINT.is_file() else None)
    if checkpoint:
        colorizer, model_name = inference.Colorizer.from_checkpoint(checkpoint), checkpoint.name
    else:
        torch.manual_seed(0)
        colorizer, model_name = inference.Colorizer(models.build("mobilenet_unet").eval()), "mobilenet_unet (random)"
    gray, source = source_gray(photo)
    click.echo(f"Machine: {machine()}\nModel: {model_name}, render size {colorizer.render_size}; photo: {source}; "
               f"clock: {clock}\n")
    print_end_to_end(colorizer, gray, runs, clock)
    print_networks(colorizer, runs, clock)
    print_backends(colorizer, gray, runs, clock)
    click.echo(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
