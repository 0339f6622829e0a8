"""Fine-tune a pretrained generator adversarially against a PatchGAN discriminator.

    gan-colorizer-train-gan --data photos.zip --init runs/pre1/best.pt --out runs/gan1

(in a checkout: `python tools/train_gan.py ...`). One process per GPU:
`torchrun --nproc_per_node=8 tools/train_gan.py ...` (docs/distributed.md).
"""
from pathlib import Path

import click

from gan_colorizer import cli
from gan_colorizer.errors import ColorizerError


@click.command()
@cli.version_option
@cli.training_options
@cli.init_option("Pretrained generator checkpoint to start from (pretrain last.pt/best.pt or an export).")
def main(data_paths: tuple[Path, ...], out: Path, config_path: Path | None, steps: int | None, batch_size: int | None,
         device: str, resume: bool, progress_interval: float | None, sets: tuple[str, ...], export: Path | None,
         init: Path | None) -> None:
    """GAN fine-tuning with L1 + adversarial (+ optional LPIPS and colourfulness) generator losses."""
    cli.require_train_extra("train-gan")
    from gan_colorizer import adversarial, runtime  # torch: not needed for --help

    cli.setup_logging()
    try:
        with runtime.distributed(device) as process_device:  # joins torchrun's processes, if any
            cfg, state = cli.start_run("gan", config_path, "gan.yaml", out, resume, data_paths, steps,
                                       batch_size, sets, progress_interval)
            result = adversarial.train_gan(cfg, out, process_device, state, init=init)
            cli.finish(result, out, export)
    except ColorizerError as err:
        raise cli.fail(err) from None
