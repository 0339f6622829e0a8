"""Pretrain a generator with L1 on a*b*: `python tools/pretrain.py --data photos.zip --out runs/pre1`."""
import logging
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python tools/x.py` from a checkout

from gan_colorizer import checkpoint, config, runtime, train  # noqa: E402
from gan_colorizer.errors import ColorizerError  # noqa: E402

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "pretrain.yaml"


def resolve_config(config_path: Path | None, out: Path, resume: bool, flags: dict, sets: tuple[str, ...]) -> config.RunConfig:
    """Shipped defaults (or the run's stored config when resuming) < --config < named flags < --set."""
    overrides = {**flags, **dict(config.parse_override(s) for s in sets)}
    last = out / "last.pt"
    if resume and last.exists():
        stored = checkpoint.read(last).get("run_config", {})
        cfg = config.load_config(config_path, overrides, base=stored)
        if cfg.model != config.load_config(None, base=stored).model:
            raise ColorizerError(f"{config_path}: its model section differs from the run's in {last}; "
                                 f"resume without --config or start a new --out")
        return cfg
    return config.load_config(config_path or DEFAULT_CONFIG, overrides)


def common_options(func):
    """The flags every training tool shares."""
    options = [
        click.option("--data", "data_path", required=True, type=click.Path(path_type=Path),
                     help="Folder (searched recursively) or .zip of colour photos."),
        click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="YAML config (default: the tool's shipped config)."),
        click.option("--steps", type=click.IntRange(min=1), help="Total optimiser steps of the run."),
        click.option("--batch-size", type=click.IntRange(min=1)),
        click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"])),
        click.option("--resume", is_flag=True, help="Continue from --out/last.pt."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. train.lr=2.0e-4."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@common_options
def main(data_path: Path, out: Path, config_path: Path | None, steps: int | None, batch_size: int | None,
         device: str, resume: bool, sets: tuple[str, ...]) -> None:
    """Pretrain a colorization generator with L1 loss on a*b* (TensorBoard logs in --out)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cfg = resolve_config(config_path, out, resume, {"train.steps": steps, "train.batch_size": batch_size}, sets)
        result = train.pretrain(cfg, data_path, out, runtime.pick_device(device), resume=resume)
    except ColorizerError as err:
        raise click.ClickException(str(err)) from None
    summary = ", ".join(f"val {k} {v:.3f}" for k, v in result.metrics.items())
    click.echo(f"pretrain stopped at step {result.step}{' (interrupted)' if result.interrupted else ''}; {summary}")
    if result.interrupted:
        sys.exit(130)


if __name__ == "__main__":
    main()
