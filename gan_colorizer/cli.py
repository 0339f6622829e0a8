"""Click options and error handling that the training tools share, so each tool stays a few lines.

Under torchrun every rank runs the tool; only rank 0 speaks (INFO logs, the summary, `Error:` lines),
the others log warnings only and exit with the same status.
"""
import logging
from collections.abc import Callable
from pathlib import Path

import click

from gan_colorizer import checkpoint, config, runtime, train
from gan_colorizer.errors import ColorizerError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def training_options(func: Callable) -> Callable:
    """--data --out --config --steps --batch-size --device --resume --set --export."""
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
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override a config key, e.g. --set train.lr=2.0e-4 (repeatable)."),
        click.option("--export", type=click.Path(dir_okay=False, path_type=Path),
                     help="After training, write best.pt's generator alone (what inference reads) here."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def start_run(stage: str, config_path: Path | None, default_config: str, out: Path, resume: bool,
              data_paths: tuple[Path, ...], steps: int | None, batch_size: int | None,
              sets: tuple[str, ...]) -> tuple[config.RunConfig, dict | None]:
    """The run's config and, with --resume, its last.pt (read once here and handed to the trainer).

    Precedence: shipped config (or the run's stored one when resuming) < --config < named flags <
    --set. --data is recorded in the config as absolute paths (data.paths).
    """
    state = train.resume_state(out, stage) if resume else None
    named = {"train.steps": steps, "train.batch_size": batch_size,
             "data.paths": [str(Path(p).expanduser().resolve()) for p in data_paths] or None}
    overrides = {**named, **dict(config.parse_override(s) for s in sets)}
    stored = state.get("run_config", {}) if state else None
    return config.resolve_config(config_path, CONFIGS / default_config, overrides, stored), state


def finish(result, out: Path, export: Path | None) -> None:
    """Export if asked, print the one-line summary, exit 130 when interrupted (last.pt was written)."""
    if not runtime.world().is_main:
        if result.interrupted:
            raise SystemExit(130)
        return
    if export is not None and not result.interrupted:
        checkpoint.export_generator(out / "best.pt", export)
        click.echo(f"exported the generator to {export}")
    summary = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items())
    click.echo(f"stopped at step {result.step}{' (interrupted)' if result.interrupted else ''}; val {summary}")
    if result.interrupted:
        raise SystemExit(130)


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO if runtime.world().is_main else logging.WARNING, format="%(message)s")


def fail(err: ColorizerError) -> click.ClickException | click.exceptions.Exit:
    """One `Error:` line and exit 1 on rank 0; the other ranks, which hit the same error, exit 1 silently."""
    return click.ClickException(str(err)) if runtime.world().is_main else click.exceptions.Exit(1)
