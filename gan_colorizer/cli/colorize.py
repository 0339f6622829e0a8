"""Colorize gray photos at full resolution: `gan-colorizer-colorize --in old_scans/ --out colored/`
(in a checkout: `python tools/colorize.py ...`)."""
from pathlib import Path

import click

from gan_colorizer import cli
from gan_colorizer.errors import ColorizerError

# Shown by --help, which must not import torch, while the modules that own these values do
# (inference, folder, mood). tests/test_packaging.py pins each one to its owner's value.
DEFAULT_RENDER_SIZE = 256  # inference.DEFAULT_RENDER_SIZE
OUTPUT_FORMATS = ("jpg", "png", "webp", "tif", "bmp")  # folder.OUTPUT_FORMATS
DEFAULT_MAX_PIXELS = 100_000_000  # folder.DEFAULT_MAX_PIXELS
MOOD_NAMES = ("warm", "cool", "vivid", "muted", "sepia", "golden-hour", "vintage", "moonlight")  # mood.mood_names()
BACKENDS = ("torch", "onnx")  # inference.Colorizer.from_checkpoint(backend=...)


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
@click.option("--format", "out_format", type=click.Choice(OUTPUT_FORMATS),
              help="Output format. [default: each input's own]")
@click.option("--skip-existing", is_flag=True, help="Leave outputs that already exist untouched.")
@click.option("--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True,
              type=click.IntRange(min=1), help="Refuse images with more pixels than this.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--mood", "mood_name", help=f"Average colour / mood: {', '.join(MOOD_NAMES)}.")
@click.option("--color", "target_color", help='Target average colour, e.g. "#c8a060".')
@click.option("--reference", type=click.Path(dir_okay=False, path_type=Path),
              help="Take the average colour and colour spread of this image.")
@click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="How far to move toward --mood/--color/--reference (0 = not at all).")
@click.option("--shift", is_flag=True,
              help="Shift the prediction's a*b* statistics onto the target even when the model takes a colour "
                   "hint: reaches the target exactly, but looks more like a colour filter.")
def main(src: Path, dst: Path, checkpoint: Path | None, backend: str | None, render_size: int,
         out_format: str | None, skip_existing: bool, max_pixels: int, device: str, mood_name: str | None,
         target_color: str | None, reference: Path | None, strength: float, shift: bool) -> None:
    """Colorize an image or every image under a folder into --out, each at its own resolution."""
    from gan_colorizer import folder, inference, mood, runtime  # torch: not needed for --help

    try:
        request = mood.control(mood_name, target_color, reference, strength, learned=not shift)
        colorizer = inference.Colorizer.from_checkpoint(checkpoint, runtime.pick_device(device), render_size,
                                                        backend=backend)
        report = folder.colorize_folder(src, dst, colorizer, request, out_format=out_format,
                                        skip_existing=skip_existing, max_pixels=max_pixels)
    except ColorizerError as err:
        raise click.ClickException(str(err)) from None
    extras = [f"{report.existing} already there" if report.existing else "",
              f"{report.colour_inputs} colour input(s) colorized from their lightness" if report.colour_inputs else ""]
    click.echo("; ".join([f"{report.written} image(s) colorized into {dst}", *filter(None, extras)]))
    if report.skipped:
        raise click.ClickException(f"{len(report.skipped)} file(s) skipped; reasons printed above")
