"""Pretrain a generator with L1 on a*b*: `gan-colorizer-pretrain --data photos.zip --out runs/pre1`
(in a checkout: `python tools/pretrain.py ...`).

One process per GPU: `torchrun --nproc_per_node=8 tools/pretrain.py ...` (docs/distributed.md).
"""
from pathlib import Path

import click

from gan_colorizer import cli
from gan_colorizer.errors import ColorizerError


@click.command()
@cli.version_option
@cli.training_options
@cli.init_option("Trained generator checkpoint to start from instead of ImageNet encoder weights (a run's "
                 "best.pt or an export such as checkpoints/default.pt): fine-tune it on your photos.")
def main(data_paths: tuple[Path, ...], out: Path, config_path: Path | None, steps: int | None, batch_size: int | None,
         device: str, resume: bool, progress_interval: float | None, sets: tuple[str, ...], export: Path | None,
         init: Path | None) -> None:
    """Pretrain a colorization generator with L1 loss on a*b* (TensorBoard logs in --out)."""
    cli.require_train_extra("pretrain")
    from gan_colorizer import runtime, train  # torch: not needed for --help

    cli.setup_logging()
    try:
        with runtime.distributed(device) as process_device:  # joins torchrun's processes, if any
            cfg, state = cli.start_run("pretrain", config_path, "pretrain.yaml", out, resume, data_paths, steps,
                                       batch_size, sets, progress_interval)
            result = train.pretrain(cfg, out, process_device, state, init=init)
            cli.finish(result, out, export)
    except ColorizerError as err:
        raise cli.fail(err) from None
