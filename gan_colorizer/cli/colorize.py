"""Colorize gray photos at full resolution: `gan-colorizer-colorize --in old_scans/ --out colored/`
(in a checkout: `python tools/colorize.py ...`).

Under `torchrun --nproc_per_node=N` each process takes every N-th file (on GPU LOCAL_RANK, or the CPU)
and rank 0 prints the summary of all of them.
"""
from pathlib import Path

import click

from gan_colorizer import cli
from gan_colorizer.errors import ColorizerError, ConfigError
from gan_colorizer.mood_names import MOOD_DESCRIPTIONS, TEMPERATURE_RANGE

# Shown by --help, which must not import torch, while the modules that own these values do
# (inference, folder). tests/test_packaging.py pins each one to its owner's value.
DEFAULT_RENDER_SIZE = 256  # inference.DEFAULT_RENDER_SIZE
OUTPUT_FORMATS = ("jpg", "png", "webp", "tif", "bmp")  # folder.OUTPUT_FORMATS
DEFAULT_MAX_PIXELS = 100_000_000  # folder.DEFAULT_MAX_PIXELS
DEFAULT_PROGRESS_INTERVAL = 10.0  # folder.DEFAULT_PROGRESS_INTERVAL
# One mood a line: click keeps the lines of a paragraph that starts with \b.
MOOD_HELP = "Average colour / mood, one of:\n\n\b\n" + "\n".join(
    f"{name}: {text}" for name, text in MOOD_DESCRIPTIONS.items())
BACKENDS = ("torch", "onnx")  # inference.Colorizer.from_checkpoint(backend=...)
# The largest --render-size allowed without raising --max-render-size: a 4:3 photo needs about 1.6 GB
# at 1536 and 4.8 GB at 2048 (the network's memory grows with the square of the pixels), so 1536
# leaves room on an 8 GB laptop.
DEFAULT_MAX_RENDER_SIZE = 1536


def check_options(render_size: int, max_render_size: int, out_format: str | None, bit_depth: str) -> None:
    """Refuse option combinations that could only fail, before the model loads."""
    if render_size > max_render_size:
        from gan_colorizer.memory import memory_needed

        needed = memory_needed(render_size, render_size * 4 // 3, render_size)
        raise ConfigError(f"--render-size {render_size} is above --max-render-size {max_render_size}: a 4:3 "
                          f"photo needs about {needed / 1e9:.1f} GB at that size; raise --max-render-size to allow it")
    if bit_depth == "16" and out_format not in (None, "png", "tif"):
        raise ConfigError(f"--bit-depth 16 needs --format png or tif; {out_format} holds 8 bits per channel")


@click.command()
@cli.version_option
@click.option("--in", "src", required=True, type=click.Path(exists=True, path_type=Path),
              help="An image file, or a folder searched recursively.")
@click.option("--out", "dst", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; the input's sub-folders and file names are kept. Must be outside --in.")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="Generator checkpoint (a training checkpoint, an export, or an .onnx file from "
                   "gan-colorizer-export). [default: the bundled checkpoints/default.pt]")
@click.option("--backend", type=click.Choice(BACKENDS),
              help="Run the network with torch, or with onnxruntime (CPU; pip install .[onnx]). "
                   "[default: onnx for an .onnx checkpoint, else torch]")
@click.option("--render-size", default=DEFAULT_RENDER_SIZE, show_default=True,
              type=click.IntRange(min=16), help="Shorter side, in pixels, at which the network predicts colour.")
@click.option("--max-render-size", default=DEFAULT_MAX_RENDER_SIZE, show_default=True, type=click.IntRange(min=16),
              help="Refuse a larger --render-size: the network's memory grows with the square of its pixels.")
@click.option("--format", "out_format", type=click.Choice(OUTPUT_FORMATS),
              help="Output format. [default: each input's own]")
@click.option("--skip-existing", is_flag=True, help="Leave outputs that already exist untouched (resumes a run).")
@click.option("--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True,
              type=click.IntRange(min=1), help="Refuse images with more pixels than this.")
@click.option("--jpeg-quality", default=95, show_default=True, type=click.IntRange(1, 100),
              help="Quality of JPEG (and WebP) outputs.")
@click.option("--bit-depth", default="same", show_default=True, type=click.Choice(["8", "16", "same"]),
              help="Bits per channel of the outputs; 16 only for PNG and TIFF. same: the input's, where the "
                   "output format holds it.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--progress-interval", default=DEFAULT_PROGRESS_INTERVAL, show_default=True,
              type=click.FloatRange(min=0), help="Seconds between progress lines when stderr is not a terminal.")
@click.option("--mood", "mood_name", help=MOOD_HELP)
@click.option("--color", "target_color", help='Target average colour, e.g. "#c8a060".')
@click.option("--reference", type=click.Path(dir_okay=False, path_type=Path),
              help="Take the average colour and colour spread of this image.")
@click.option("--temperature", type=click.FloatRange(*TEMPERATURE_RANGE), metavar="KELVIN",
              help="Colour of the light, in kelvin: 3200 tungsten (warm), 5600 sun, 6500 neutral, 10000 shade (cool).")
@click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Share of the way from the uncontrolled colours to the request (0 = none, 1 = arrive).")
@click.option("--shift", is_flag=True,
              help="Shift the uncontrolled colours' a*b* statistics onto the request instead of asking a model "
                   "that takes a colour hint to paint it: arrives alike, but looks more like a colour filter.")
@click.option("--hints", type=click.Path(dir_okay=False, path_type=Path),
              help="A hint file (colour points and look, as the web app saves it) for a single --in photo, or a "
                   "video's hints by shot (see 'Old film: videos' in the README). In a folder, each photo's or "
                   "video's own name.hints.json beside it is used.")
@click.option("--vividness", type=click.FloatRange(0.0, 1.0),
              help="From the calm colours (0) to the colour distribution's vivid ones (1), added where the model is "
                   "sure; for a model with a colour-distribution head (checkpoints/README.md says whether the bundled "
                   "one has it); default: the model's own.")
@click.option("--crf", default=18, show_default=True, type=click.IntRange(0, 51),
              help="Videos: quality as FFmpeg's x264 takes it, 0 (lossless) to 51; 18 looks like the input.")
@click.option("--codec", default="libx264", show_default=True,
              help="Videos: FFmpeg encoder of the colour frames (libx264, libx265, libvpx-vp9, ...).")
@click.option("--preset", default="veryfast", show_default=True,
              help="Videos: the encoder's speed/size preset (x264: ultrafast ... veryslow).")
@click.option("--network-every", default=2, show_default=True, type=click.IntRange(min=1), metavar="N",
              help="Videos: run the network on every N-th frame only; the frames between follow the motion "
                   "(and a cut always gets the network). 2 is 1.4-1.8x as fast as 1 at the same chroma error "
                   "(docs/video.md).")
@click.option("--save-uncertainty", is_flag=True,
              help="Also write <name>.uncertainty.png beside each output: white where the model is unsure of the "
                   "colour (where a colour point helps most).")
def main(src: Path, dst: Path, checkpoint: Path | None, backend: str | None, render_size: int, max_render_size: int,
         out_format: str | None, skip_existing: bool, max_pixels: int, jpeg_quality: int, bit_depth: str,
         device: str, progress_interval: float, mood_name: str | None, target_color: str | None,
         reference: Path | None, temperature: float | None, strength: float, shift: bool, hints: Path | None,
         vividness: float | None, crf: int, codec: str, preset: str, network_every: int,
         save_uncertainty: bool) -> None:
    """Colorize an image or a video, or every image and video under a folder, into --out, each at its own
    resolution. A video's colour holds still along the motion; its audio and subtitles are copied
    (needs pip install 'gan-colorizer[video]'); `--out film.mp4` names the output of one video."""
    from gan_colorizer import folder, images, inference, memory, mood, runtime, video  # torch: not needed for --help

    try:
        check_options(render_size, max_render_size, out_format, bit_depth)
        memory.reuse_freed_memory()
        with runtime.distributed(device) as run_device:
            request = mood.control(mood_name, target_color, reference, strength, learned=not shift,
                                   temperature=temperature)
            colorizer = inference.Colorizer.from_checkpoint(checkpoint, run_device, render_size, backend=backend,
                                                            vividness=vividness)
            films = video.plan_videos(src, dst)
            has_photos = (images.is_image_name(src.name) if src.is_file()
                          else any(p.is_file() and images.is_image_name(p.name) for p in src.rglob("*")))
            report = (folder.colorize_folder(src, dst, colorizer, request, out_format=out_format,
                                             skip_existing=skip_existing, max_pixels=max_pixels,
                                             jpeg_quality=jpeg_quality,
                                             bit_depth=None if bit_depth == "same" else int(bit_depth),
                                             progress_interval=progress_interval, hints=hints,
                                             save_uncertainty=save_uncertainty)
                      if has_photos or not films else folder.FolderReport())
            film_reports, film_skips = ([], []) if report.interrupted or not films else video.colorize_videos(
                films, colorizer, request, video.VideoEncoding(codec, crf, preset), progress_interval, network_every,
                hints if not has_photos else None)
    except ColorizerError as err:
        raise cli.fail(err) from None
    except KeyboardInterrupt:  # before the folder runner took over Ctrl-C: nothing was written yet
        if runtime.world().is_main:
            click.echo("interrupted before any image was written")
        raise SystemExit(130) from None
    if not runtime.world().is_main:  # the reports are every rank's: rank 0 prints them, all exit alike
        interrupted = report.interrupted or any(film.interrupted for film in film_reports)
        raise SystemExit(130 if interrupted else 1 if report.skipped or film_skips else 0)
    if any(film.interrupted for film in film_reports):
        film = next(film for film in film_reports if film.interrupted)
        click.echo(f"interrupted: {film.source} stopped after {film.frames} frames; its partial output was removed")
        raise SystemExit(130)
    if report.interrupted:
        again = " again" if skip_existing else " with --skip-existing"
        click.echo(f"interrupted: {report.written + report.existing} of {report.total} written into {dst}; "
                   f"run the same command{again} to continue")
        raise SystemExit(130)
    extras = [f"{report.existing} already there" if report.existing else "",
              f"{report.colour_inputs} colour input(s) colorized from their lightness" if report.colour_inputs else ""]
    if report.total or not films:
        click.echo("; ".join([f"{report.written} image(s) colorized into {dst}", *filter(None, extras)]))
    for film in film_reports:
        click.echo(film.line())
    if report.skipped or film_skips:
        raise click.ClickException(f"{len(report.skipped) + len(film_skips)} file(s) skipped; reasons printed above")
