"""The command-line tools, one module each, and what they share (this file), so each tool stays a few lines.

`gan_colorizer.cli.colorize`, `.pretrain`, `.train_gan`, `.evaluate`, `.export` and `.serve` each hold
one click command `main`: the console scripts `gan-colorizer-<tool>` call it, and `tools/<tool>.py`
in a checkout is a two-line wrapper around it. Every command answers `--help` and `--version` without
importing torch (a few seconds on a laptop): the tools import the package's torch-bound modules
inside their bodies, and this module imports none at load time.

Under torchrun every rank runs the tool; only rank 0 speaks (INFO logs, the summary, `Error:` lines),
the others log warnings only and exit with the same status.
"""
import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path

import click

from gan_colorizer import __version__, config
from gan_colorizer.assets import asset_path
from gan_colorizer.errors import ColorizerError

CONFIGS = asset_path("configs")
# What training and evaluation import beyond a colorizing install: setup.cfg's [train] extra, by module
# name (scikit-image, TensorBoard, LPIPS, pytorch-fid). tests/test_packaging.py keeps the two in step.
TRAIN_MODULES = ("skimage", "tensorboard", "lpips", "pytorch_fid")


def require_train_extra(command: str) -> None:
    """Stop in one line, before any work, when the [train] extra is not installed.

    Without it the command would fail minutes later (at the first validation) or with an import
    traceback; a photographer's `pip install gan_colorizer` leaves it out on purpose.
    """
    missing = [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise click.ClickException(f"{command} needs the [train] extra ({', '.join(missing)} not installed): "
                                   f"pip install 'gan_colorizer[train]'")


def version_option(func: Callable) -> Callable:
    """--version: the package's version, read from gan_colorizer.__version__ (no metadata lookup, so it
    holds in a clone that was never installed)."""
    return click.version_option(__version__, "--version", message="%(prog)s (gan_colorizer) %(version)s")(func)


def training_options(func: Callable) -> Callable:
    """--data --out --config --steps --batch-size --device --resume --progress-interval --set --export."""
    options = [
        click.option("--data", "data_paths", multiple=True, type=click.Path(path_type=Path),
                     help="Folder (searched recursively), .zip or .tar of colour photos, or a .txt listing them; "
                          "repeatable. [default with --resume: the run's own]"),
        click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="YAML config (default: the tool's config in configs/)."),
        click.option("--steps", type=click.IntRange(min=1), help="Total optimiser steps of the run."),
        click.option("--batch-size", type=click.IntRange(min=1)),
        click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"])),
        click.option("--resume", is_flag=True, help="Continue from --out/last.pt."),
        click.option("--progress-interval", type=click.FloatRange(min=0),
                     help="Seconds between progress lines (step, losses, images/s, ETA) when stderr is not a "
                          "terminal, e.g. under nohup; a terminal shows a bar. [default: 10]"),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override a config key, e.g. --set train.lr=2.0e-4 (repeatable)."),
        click.option("--export", type=click.Path(dir_okay=False, path_type=Path),
                     help="After training, write best.pt's generator alone (what inference reads) here."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def init_option(help_text: str) -> Callable:
    """--init FILE: a trained generator checkpoint a new run starts from."""
    return click.option("--init", type=click.Path(dir_okay=False, path_type=Path), help=help_text)


def start_run(stage: str, config_path: Path | None, default_config: str, out: Path, resume: bool,
              data_paths: tuple[Path, ...], steps: int | None, batch_size: int | None,
              sets: tuple[str, ...], progress_interval: float | None = None) -> tuple[config.RunConfig, dict | None]:
    """The run's config and, with --resume, its last.pt (read once here and handed to the trainer).

    Precedence: shipped config (or the run's stored one when resuming) < --config < named flags <
    --set. --data is recorded in the config as absolute paths (data.paths).
    """
    from gan_colorizer import training_setup  # torch: imported when a run starts, not for --help

    state = training_setup.resume_state(out, stage) if resume else None
    named = {"train.steps": steps, "train.batch_size": batch_size, "train.progress_interval": progress_interval,
             "data.paths": [str(Path(p).expanduser().resolve()) for p in data_paths] or None}
    overrides = {**named, **dict(config.parse_override(s) for s in sets)}
    stored = state.get("run_config", {}) if state else None
    return config.resolve_config(config_path, CONFIGS / default_config, overrides, stored), state


def finish(result, out: Path, export: Path | None) -> None:
    """Export if asked, print the one-line summary, exit 130 when interrupted (last.pt was written)."""
    if not is_main_process():
        if result.interrupted:
            raise SystemExit(130)
        return
    if export is not None and not result.interrupted:
        from gan_colorizer import checkpoint  # torch: imported when a run ends, not for --help

        checkpoint.export_generator(out / "best.pt", export)
        click.echo(f"exported the generator to {export}")
    summary = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items())
    click.echo(f"stopped at step {result.step}{' (interrupted)' if result.interrupted else ''}; val {summary}")
    if result.interrupted:
        raise SystemExit(130)


def is_main_process() -> bool:
    """Rank 0, or the only process (`runtime.world`, imported here so --help needs no torch)."""
    from gan_colorizer import runtime

    return runtime.world().is_main


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO if is_main_process() else logging.WARNING, format="%(message)s")


def fail(err: ColorizerError) -> click.ClickException | click.exceptions.Exit:
    """One `Error:` line and exit 1 on rank 0; the other ranks, which hit the same error, exit 1 silently."""
    return click.ClickException(str(err)) if is_main_process() else click.exceptions.Exit(1)
