"""Pretrain a generator with L1 on a*b*: `python tools/pretrain.py --data photos.zip --out runs/pre1`.

One process per GPU: `torchrun --nproc_per_node=8 tools/pretrain.py ...` (docs/distributed.md).
"""
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python tools/x.py` from a checkout

from gan_colorizer import cli, runtime, train  # noqa: E402
from gan_colorizer.errors import ColorizerError  # noqa: E402


@click.command()
@cli.training_options
def main(data_paths: tuple[Path, ...], out: Path, config_path: Path | None, steps: int | None, batch_size: int | None,
         device: str, resume: bool, sets: tuple[str, ...], export: Path | None) -> None:
    """Pretrain a colorization generator with L1 loss on a*b* (TensorBoard logs in --out)."""
    cli.setup_logging()
    try:
        with runtime.distributed(device) as process_device:  # joins torchrun's processes, if any
            cfg, state = cli.start_run("pretrain", config_path, "pretrain.yaml", out, resume, data_paths, steps,
                                       batch_size, sets)
            result = train.pretrain(cfg, out, process_device, state)
            cli.finish(result, out, export)
    except ColorizerError as err:
        raise cli.fail(err) from None


if __name__ == "__main__":
    main()
