"""Colorize gray photos at full resolution: `python tools/colorize.py --in old_scans/ --out colored/`."""
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python tools/x.py` from a checkout

from gan_colorizer import folder, inference, mood, runtime  # noqa: E402
from gan_colorizer.errors import ColorizerError  # noqa: E402

# One mood a line: click keeps the lines of a paragraph that starts with \b.
MOOD_HELP = "Average colour / mood, one of:\n\n\b\n" + "\n".join(
    f"{name}: {text}" for name, text in mood.MOOD_DESCRIPTIONS.items())


@click.command()
@click.option("--in", "src", required=True, type=click.Path(exists=True, path_type=Path),
              help="An image file, or a folder searched recursively.")
@click.option("--out", "dst", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; the input's sub-folders and file names are kept. Must be outside --in.")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="Generator checkpoint (a training checkpoint or an export). [default: the bundled "
                   "checkpoints/default.pt]")
@click.option("--render-size", default=inference.DEFAULT_RENDER_SIZE, show_default=True,
              type=click.IntRange(min=16), help="Shorter side, in pixels, at which the network predicts colour.")
@click.option("--format", "out_format", type=click.Choice(folder.OUTPUT_FORMATS),
              help="Output format. [default: each input's own]")
@click.option("--skip-existing", is_flag=True, help="Leave outputs that already exist untouched.")
@click.option("--max-pixels", default=folder.DEFAULT_MAX_PIXELS, show_default=True,
              type=click.IntRange(min=1), help="Refuse images with more pixels than this.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--mood", "mood_name", help=MOOD_HELP)
@click.option("--color", "target_color", help='Target average colour, e.g. "#c8a060".')
@click.option("--reference", type=click.Path(dir_okay=False, path_type=Path),
              help="Take the average colour and colour spread of this image.")
@click.option("--temperature", type=click.FloatRange(*mood.TEMPERATURE_RANGE), metavar="KELVIN",
              help="Colour of the light, in kelvin: 3200 tungsten (warm), 5600 sun, 6500 neutral, 10000 shade (cool).")
@click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Share of the way from the uncontrolled colours to the request (0 = none, 1 = arrive).")
@click.option("--shift", is_flag=True,
              help="Shift the uncontrolled colours' a*b* statistics onto the request instead of asking a model "
                   "that takes a colour hint to paint it: arrives alike, but looks more like a colour filter.")
def main(src: Path, dst: Path, checkpoint: Path | None, render_size: int, out_format: str | None,
         skip_existing: bool, max_pixels: int, device: str, mood_name: str | None, target_color: str | None,
         reference: Path | None, temperature: float | None, strength: float, shift: bool) -> None:
    """Colorize an image or every image under a folder into --out, each at its own resolution."""
    try:
        request = mood.control(mood_name, target_color, reference, strength, learned=not shift,
                               temperature=temperature)
        colorizer = inference.Colorizer.from_checkpoint(checkpoint, runtime.pick_device(device), render_size)
        report = folder.colorize_folder(src, dst, colorizer, request, out_format=out_format,
                                        skip_existing=skip_existing, max_pixels=max_pixels)
    except ColorizerError as err:
        raise click.ClickException(str(err)) from None
    extras = [f"{report.existing} already there" if report.existing else "",
              f"{report.colour_inputs} colour input(s) colorized from their lightness" if report.colour_inputs else ""]
    click.echo("; ".join([f"{report.written} image(s) colorized into {dst}", *filter(None, extras)]))
    if report.skipped:
        raise click.ClickException(f"{len(report.skipped)} file(s) skipped; reasons printed above")


if __name__ == "__main__":
    main()
