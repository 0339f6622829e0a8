"""Training throughput of each generator: images/s at 256², fwd + bwd + AdamW step, same batch, same run.

    python benchmarks/bench_train.py [--batch-size 16] [--steps 6]

Each model is built and frozen as its shipped config says (configs/pretrain.yaml freezes the first
four MobileNetV2 blocks; configs/pix2pix.yaml trains everything). Random weights and synthetic
batches (speed depends on neither); medians of the timed steps.
"""
import statistics
import sys
import time
from pathlib import Path

import click
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_colorizer.config import load_config  # noqa: E402
from gan_colorizer.models import build  # noqa: E402
from gan_colorizer.training_setup import freeze_encoder  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
MODELS = {"mobilenet_unet": load_config(CONFIGS / "pretrain.yaml"), "pix2pix_unet": load_config(CONFIGS / "pix2pix.yaml")}


def step_seconds(name: str, batch_size: int, size: int, steps: int, channels_last: bool) -> tuple[float, float]:
    """Median seconds of one training step, and of one batch-1 inference forward."""
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    cfg = MODELS[name]
    model = build(cfg.model.name, kind="generator", **cfg.model.args).to(memory_format=fmt).train()
    optimizer = torch.optim.AdamW(freeze_encoder(model, cfg.train.freeze_encoder_layers), lr=1e-4)
    L_n = torch.rand(batch_size, 1, size, size).mul(2).sub(1).contiguous(memory_format=fmt)
    ab_n = torch.rand(batch_size, 2, size, size).mul(2).sub(1) * 0.3
    times = []
    for index in range(steps + 1):  # the first step warms up allocators and kernels
        start = time.perf_counter()
        loss = F.l1_loss(model(L_n), ab_n)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if index:
            times.append(time.perf_counter() - start)
    model.eval()
    one = L_n[:1]
    forward = []
    with torch.inference_mode():
        for index in range(8):
            start = time.perf_counter()
            model(one)
            if index > 1:
                forward.append(time.perf_counter() - start)
    return statistics.median(times), statistics.median(forward)


@click.command()
@click.option("--batch-size", default=16, show_default=True)
@click.option("--size", default=256, show_default=True)
@click.option("--steps", default=6, show_default=True)
@click.option("--channels-last/--no-channels-last", default=True, show_default=True)
def main(batch_size: int, size: int, steps: int, channels_last: bool) -> None:
    """Print images/s for training and ms per image for inference, per model, and the ratio."""
    click.echo(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch_size}, {size}², "
               f"channels_last={channels_last}")
    rates, forwards = {}, {}
    for name in MODELS:
        step, forward = step_seconds(name, batch_size, size, steps, channels_last)
        rates[name], forwards[name] = batch_size / step, forward * 1000
        click.echo(f"{name:16s} train {rates[name]:6.2f} img/s   forward (bs 1) {forwards[name]:7.1f} ms")
    click.echo(f"ratio mobilenet_unet / pix2pix_unet: training {rates['mobilenet_unet'] / rates['pix2pix_unet']:.1f}x, "
               f"forward {forwards['pix2pix_unet'] / forwards['mobilenet_unet']:.1f}x faster")


if __name__ == "__main__":
    main()
