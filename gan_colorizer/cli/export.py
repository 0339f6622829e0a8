"""Export a generator to ONNX: `gan-colorizer-export --checkpoint best.pt --onnx model.onnx`
(in a checkout: `python tools/export.py ...`). Run it with `gan-colorizer-colorize --checkpoint model.onnx`.
"""
from pathlib import Path

import click

from gan_colorizer import cli
from gan_colorizer.errors import ColorizerError


@click.command()
@cli.version_option
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="Generator checkpoint (a training checkpoint or an export). [default: the bundled "
                   "checkpoints/default.pt]")
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="ONNX file to write: dynamic batch, height and width, BatchNorm folded, plus a colour hint "
                   "input when the model takes one.")
def main(checkpoint: Path | None, onnx_path: Path) -> None:
    """Write a generator as an ONNX model for onnxruntime (`--backend onnx` of colorize) or other runtimes."""
    from gan_colorizer import inference, onnx_backend  # torch: not needed for --help

    try:
        colorizer = inference.Colorizer.from_checkpoint(checkpoint, "cpu", backend="torch")  # folds BatchNorm
        inputs = onnx_backend.export_onnx(colorizer.generator, onnx_path)
    except ColorizerError as err:
        raise click.ClickException(str(err)) from None
    size_mb = onnx_path.stat().st_size / 1e6
    click.echo(f"wrote {onnx_path} ({size_mb:.1f} MB; inputs {', '.join(inputs)}; output {onnx_backend.OUTPUT_AB})")
