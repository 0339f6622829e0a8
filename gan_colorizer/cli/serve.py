"""Colorize photos in a web page on this computer: `gan-colorizer-serve` (in a checkout: `python tools/serve.py`).

The command of the web app (`gan_colorizer.app`), which this module imports only when the command runs,
so `--help` stays free of torch and an install without the app says so in one line.
"""
import importlib.util
import logging
import webbrowser
from pathlib import Path

import click

from gan_colorizer import cli
from gan_colorizer.errors import ColorizerError

DEFAULT_MAX_UPLOAD_MB = 100.0  # app.service.DEFAULT_MAX_UPLOAD_MB, pinned by tests/test_packaging.py


@click.command()
@cli.version_option
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path),
              help="Generator checkpoint. [default: the bundled checkpoints/default.pt]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default lets only this computer in.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--max-upload-mb", default=DEFAULT_MAX_UPLOAD_MB, show_default=True,
              type=click.FloatRange(min=0, min_open=True), help="Refuse photos larger than this many megabytes.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--open/--no-open", "open_browser", default=True, show_default=True,
              help="Open the page in the default web browser.")
def main(checkpoint: Path | None, host: str, port: int, max_upload_mb: float, device: str, open_browser: bool) -> None:
    """Start the colorizer's web page; stop it with Ctrl-C."""
    if importlib.util.find_spec("gan_colorizer.app") is None:
        raise click.ClickException("the web app (gan_colorizer.app) is not part of this install")
    from gan_colorizer import inference, runtime  # torch: not needed for --help
    from gan_colorizer.app import server, service

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        colorizer = inference.Colorizer.from_checkpoint(checkpoint, runtime.pick_device(device))
        app = server.make_server(service.PhotoService(colorizer, max_upload_mb), host, port)
    except ColorizerError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"Colorizer page: {app.url}  (Ctrl-C to stop)")
    if open_browser:
        webbrowser.open(app.url)
    try:
        app.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        app.server_close()
