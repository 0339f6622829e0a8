"""What a training run is built from before its first step: the generator (new, --init or resumed, with
the bins of a distribution head),
its frozen encoder blocks, the DDP wrapper, the learning-rate schedule, the run dir's last.pt and
the LPIPS network, each checked so a run fails before any work rather than an hour in.

Both stages (train.py, adversarial.py) and the tools' `cli.start_run` build their runs from these.
"""
import logging
import math
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gan_colorizer import checkpoint, data, feature_metrics, runtime
from gan_colorizer.config import ModelConfig, RunConfig, TrainConfig
from gan_colorizer.errors import CheckpointError, ConfigError
from gan_colorizer.loaders import Photos
from gan_colorizer.models import Generator, build

log = logging.getLogger(__name__)


def build_generator(cfg: RunConfig) -> Generator:
    """The configured generator, its encoder initialised as model.encoder_weights says."""
    return build(cfg.model.name, kind="generator", weights=cfg.model.encoder_weights, **cfg.model.args)


def generator_from_init(cfg: RunConfig, init: Path) -> tuple[RunConfig, Generator]:
    """A new run's generator from a trained checkpoint (--init: a run's last.pt/best.pt, its EMA
    generator if it has one, or an export), read once; the run's model section becomes the
    checkpoint's own, so the run's checkpoints rebuild the same network. A capability the run's
    config asks for and the checkpoint lacks (`checkpoint.ADDABLE_ARGS`: colour points) is added,
    its new weights starting at zero (colour points; a distribution head, `with_bins`)."""
    init_ckpt = checkpoint.read(init)
    entry = init_ckpt["generator"]
    added = {key: cfg.model.args[key] for key in checkpoint.ADDABLE_ARGS
             if cfg.model.args.get(key) and not entry["args"].get(key)}
    cfg = replace(cfg, model=ModelConfig(name=entry["name"], args={**entry["args"], **added}, encoder_weights="none"))
    return cfg, checkpoint.generator_from(init_ckpt, init, use_ema=True, added=added)


def with_bins(cfg: RunConfig, photos: Photos) -> RunConfig:
    """A run that asks for a distribution head (distribution.head) and names no bins gets the grid
    cells its training photos reach (`data.colour_prior`); any other run is returned as it is."""
    if not cfg.distribution.head or cfg.model.args.get("bins"):
        return cfg
    prior = data.colour_prior(photos.source, photos.split, cfg.distribution.prior_photos, cfg.data.seed)
    bins = data.bins_of(prior)
    log.info("distribution head: %d a*b* bins", len(bins))
    return replace(cfg, model=replace(cfg.model, args={**cfg.model.args, "bins": list(bins)}))


def seed_head(generator: Generator, photos: Photos, cfg: RunConfig) -> None:
    """A distribution head still at zero (new, or just gained) predicts the training photos' smoothed
    colour prior (bias = log prior) rather than a uniform spread: a fine-tuning learning rate would
    take hundreds of steps to learn the prior alone. Any other generator is left as it is."""
    head = getattr(generator, "bins_head", None)
    if head is None or head.weight.any() or head.bias.any():
        return
    prior = data.colour_prior(photos.source, photos.split, cfg.distribution.prior_photos, cfg.data.seed)
    smoothed = data.class_prior(prior, generator.bins, cfg.distribution.sigma)
    with torch.no_grad():
        head.bias.copy_(torch.from_numpy(smoothed).log().clamp_min(-20.0))


def parameter_groups(generator: Generator, trainable: list[nn.Parameter], cfg: RunConfig) -> list[dict]:
    """The optimiser's groups: a distribution head's parameters at distribution.head_lr_mult x train.lr,
    the rest at train.lr (one group for a generator without a head)."""
    head = {id(p) for p in getattr(runtime.unwrap(generator), "bins_head", nn.Identity()).parameters()}
    rest = [p for p in trainable if id(p) not in head]
    chosen = [p for p in trainable if id(p) in head]
    groups = [{"params": rest, "lr": cfg.train.lr}]
    return groups + [{"params": chosen, "lr": cfg.train.lr * cfg.distribution.head_lr_mult}] if chosen else groups


def freeze_encoder(generator: Generator, layers: int, head_only: bool = False) -> list[nn.Parameter]:
    """Stop gradients into the first `layers` encoder stages; returns the parameters left to train.

    Frozen blocks still update their BatchNorm statistics, which adapts them to gray input.
    head_only (distribution.head_only): train the distribution head alone, every other weight and
    BatchNorm statistic kept, so the calm estimate stays exactly the trained one.
    """
    if head_only:
        head = getattr(generator, "bins_head", None)
        if head is None:
            raise ConfigError("distribution.head_only: this generator has no distribution head; "
                              "add one with distribution.head: true")
        generator.requires_grad_(False).eval()  # eval: BatchNorm statistics stay the trained ones
        return list(head.requires_grad_(True).parameters())
    if layers:
        stages = generator.encoder_stages()
        if stages is None or layers > len(stages):
            raise ConfigError(f"train.freeze_encoder_layers: {layers} is more than the generator's "
                              f"{0 if stages is None else len(stages)} encoder blocks")
        stages[:layers].requires_grad_(False)
    return [p for p in generator.parameters() if p.requires_grad]


def distribute(module: nn.Module, device: torch.device) -> nn.Module:
    """Wrap in DistributedDataParallel when several processes train; a plain run gets `module` back.

    Call after `freeze_encoder`: DDP synchronises the parameters that require grad when it is built
    (frozen ones are left out, so find_unused_parameters can stay off). On CUDA, BatchNorm becomes
    SyncBatchNorm so its statistics come from the global batch, as in a one-process run; PyTorch's
    SyncBatchNorm has no CPU kernel, so gloo runs normalise by each rank's own batch.
    """
    if runtime.world().size == 1:
        return module
    if device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine to 1 % (or x0.1 at 60 % and 85 %, or constant) over `cfg.steps`."""

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
        if cfg.schedule == "cosine":
            return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))
        if cfg.schedule == "step":
            return 0.1 ** sum(progress >= mark for mark in (0.6, 0.85))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def resume_state(run_dir: Path, stage: str) -> dict | None:
    """The run's last.pt when it exists (checked to be of this stage), else None (with a warning: a new run).

    Read once per command: its stored config resolves the run's config and its state resumes it.
    """
    path = Path(run_dir) / "last.pt"
    if not path.exists():
        log.warning("%s has no last.pt: starting a new run", run_dir)
        return None
    ckpt = checkpoint.read(path)
    if ckpt.get("kind") != "training" or ckpt.get("stage") != stage:
        raise CheckpointError(f"{path}: not a {stage} training checkpoint (stage {ckpt.get('stage')!r}); "
                              f"use another --out")
    return ckpt


def lpips_if_needed(cfg: RunConfig, device: torch.device) -> nn.Module | None:
    """The frozen LPIPS network when the run scores or trains with it (best.pt by LPIPS, a perceptual
    loss), loaded before the data so missing weights are a one-line error before any work."""
    if cfg.train.best_metric != "lpips" and not cfg.train.perceptual_weight:
        return None
    return feature_metrics.load_lpips("squeeze", device).requires_grad_(False)


def check_run_dir(run_dir: Path, state: dict | None) -> None:
    """A new run must not land on an old one: a run dir holding last.pt is only continued with --resume."""
    if state is None and (Path(run_dir) / "last.pt").exists():
        raise ConfigError(f"{run_dir}: already holds a run (last.pt); pass --resume or choose another --out")
