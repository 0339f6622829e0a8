"""Training loops: L1 pretraining of a generator (`pretrain`); validation, TensorBoard, resume.

A run dir holds `config.yaml` (resolved config), `split.json` (which photos trained and validated),
`last.pt` (written every `val_every` steps and on Ctrl-C / SIGTERM), `best.pt` (best val metric) and
TensorBoard event files. `--resume` reloads `last.pt` and continues at the same step with the same
optimiser, schedule and sample stream (see data.StepSampler), until `train.steps` in total.
"""
import logging
import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from gan_colorizer import checkpoint, color, data
from gan_colorizer.config import RunConfig, TrainConfig, save_config
from gan_colorizer.errors import CheckpointError, ConfigError
from gan_colorizer.images import to_uint8
from gan_colorizer.metrics import psnr
from gan_colorizer.models import build
from gan_colorizer.runtime import cached_weights, seed_everything
from gan_colorizer.visual import comparison_grid, lab_batch_to_rgb

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a training call achieved: the step it stopped at, its last val metrics, and why it stopped."""

    step: int
    metrics: dict[str, float]
    interrupted: bool


def build_generator(cfg: RunConfig) -> nn.Module:
    """Build the configured generator and load its encoder's ImageNet weights when it has an encoder."""
    generator = build(cfg.model.name, **cfg.model.args)
    weights_file = getattr(generator, "encoder_weights_file", None)
    if weights_file and cfg.model.encoder_weights != "none":
        explicit = None if cfg.model.encoder_weights == "imagenet" else cfg.model.encoder_weights
        state = checkpoint.load_state_dict_file(cached_weights(weights_file, explicit))
        missing, unexpected = generator.encoder.load_state_dict(state, strict=False)
        if missing:
            raise ConfigError(f"model.encoder_weights: {weights_file} lacks {len(missing)} encoder tensors "
                              f"(e.g. {missing[0]}); is it the right file?")
        log.info("encoder initialised from %s", weights_file)
    return generator


def freeze_encoder(generator: nn.Module, layers: int) -> list[nn.Parameter]:
    """Stop gradients into the first `layers` encoder blocks; returns the parameters left to train.

    Frozen blocks still update their BatchNorm statistics, which adapts them to gray input.
    """
    if layers:
        encoder = getattr(generator, "encoder", None)
        if encoder is None or layers > len(encoder):
            raise ConfigError(f"train.freeze_encoder_layers: {layers} is more than the generator's "
                              f"{0 if encoder is None else len(encoder)} encoder blocks")
        encoder[:layers].requires_grad_(False)
    return [p for p in generator.parameters() if p.requires_grad]


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine to 1 % (or x0.1 steps at 60 % and 85 %, or constant) over `cfg.steps`."""

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


@contextmanager
def stop_on_sigterm() -> Iterator[dict]:
    """Turn SIGTERM into a flag the loop checks between steps, so it can write last.pt and leave."""
    request = {"stop": False}
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        request["stop"] = True

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. inside a test runner thread): Ctrl-C still works
        previous = None
    try:
        yield request
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Session:
    """Shared set-up of a training run: data, loaders, TensorBoard, config and split files."""

    def __init__(self, cfg: RunConfig, data_path: Path, run_dir: Path, device: torch.device) -> None:
        self.cfg, self.run_dir, self.device = cfg, Path(run_dir), device
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.source = data.PhotoSource(data_path)
        self.split = data.scan(self.source, cfg.data)
        self.split.save(self.run_dir / "split.json")
        save_config(cfg, self.run_dir / "config.yaml")
        log.info("%d train / %d val photos (%d near-gray, %d unreadable left out)", len(self.split.train),
                 len(self.split.val), len(self.split.gray), len(self.split.unreadable))
        self.val_set = data.ValImages(self.source, self.split.val, cfg.data.size)
        self.writer = SummaryWriter(str(self.run_dir))

    def train_loader(self, start_step: int) -> DataLoader:
        t = self.cfg.train
        crops = data.TrainCrops(self.source, self.split, self.cfg.data, t.seed)
        sampler = data.StepSampler(start_step, t.steps, t.batch_size)
        workers = self.cfg.data.workers
        return DataLoader(crops, batch_size=t.batch_size, sampler=sampler, num_workers=workers,
                          pin_memory=self.device.type == "cuda", persistent_workers=False,
                          prefetch_factor=4 if workers else None)

    def val_loader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.cfg.train.batch_size, num_workers=min(self.cfg.data.workers, 1))

    def close(self) -> None:
        self.writer.close()


@torch.inference_mode()
def validate(generator: nn.Module, loader: DataLoader, device: torch.device) -> tuple[dict[str, float], tuple]:
    """Val L1 (in Lab ab units) and PSNR (8-bit RGB, input L + predicted ab vs truth), averaged over photos.

    Also returns the first batch (L_n, fake_ab_n, real_ab_n) for the image grid.
    """
    was_training = generator.training
    generator.eval()
    l1_sum, psnr_sum, count, first = 0.0, 0.0, 0, None
    for L_n, real_ab_n in loader:
        fake_ab_n = generator(L_n.to(device)).float().cpu()
        l1_sum += color.denormalize_ab((fake_ab_n - real_ab_n).abs()).mean(dim=(1, 2, 3)).sum().item()
        fake_rgb, real_rgb = lab_batch_to_rgb(L_n, fake_ab_n), lab_batch_to_rgb(L_n, real_ab_n)
        psnr_sum += sum(psnr(to_uint8(f), to_uint8(r)) for f, r in zip(fake_rgb, real_rgb))
        count += len(L_n)
        if first is None:
            first = (L_n, fake_ab_n, real_ab_n)
    generator.train(was_training)
    if count == 0:
        return {}, None
    return {"l1": l1_sum / count, "psnr": psnr_sum / count}, first


def _log_validation(writer: SummaryWriter, step: int, metrics: dict[str, float], first, grid_images: int) -> None:
    for name, value in metrics.items():
        writer.add_scalar(f"val/{name}", value, step)
    if first is not None and grid_images:
        L_n, fake_ab_n, real_ab_n = (t[:grid_images] for t in first)
        writer.add_image("images/val", comparison_grid(L_n, fake_ab_n, real_ab_n), step)
    writer.flush()


def _pretrain_payload(cfg: RunConfig, generator: nn.Module, optimizer, scheduler, step: int,
                      metrics: dict, best: float) -> dict:
    return {"kind": "training", "stage": "pretrain", "step": step, "run_config": asdict(cfg),
            "generator": checkpoint.network_entry(cfg.model.name, cfg.model.args, generator),
            "optimizers": {"g": optimizer.state_dict()}, "schedulers": {"g": scheduler.state_dict()},
            "metrics": dict(metrics), "best": best}


def resume_state(run_dir: Path, stage: str) -> dict | None:
    """The run's last.pt when it exists (checked to be of this stage), else None."""
    path = Path(run_dir) / "last.pt"
    if not path.exists():
        return None
    ckpt = checkpoint.read(path)
    if ckpt.get("kind") != "training" or ckpt.get("stage") != stage:
        raise CheckpointError(f"{path}: not a {stage} training checkpoint (stage {ckpt.get('stage')!r}); "
                              f"use another --out")
    return ckpt


def pretrain(cfg: RunConfig, data_path: Path, run_dir: Path, device: torch.device,
             resume: bool = False) -> RunResult:
    """L1 pretraining of the generator on a*b*; writes last.pt/best.pt/events into run_dir."""
    t = cfg.train
    state = resume_state(run_dir, "pretrain") if resume else None
    if resume and state is None:
        log.warning("%s has no last.pt: starting a new run", run_dir)
    if not resume and (Path(run_dir) / "last.pt").exists():
        raise ConfigError(f"{run_dir}: already holds a run (last.pt); pass --resume or choose another --out")
    seed_everything(t.seed)
    session = Session(cfg, data_path, run_dir, device)
    generator = build_generator(cfg) if state is None else checkpoint.build_network(state["generator"], run_dir / "last.pt")
    channels_last = torch.channels_last
    generator = generator.to(device, memory_format=channels_last).train()
    trainable = freeze_encoder(generator, t.freeze_encoder_layers)
    optimizer = torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay)
    scheduler = make_scheduler(optimizer, t)
    step, best, metrics = 0, -math.inf, {}
    if state is not None:
        optimizer.load_state_dict(state["optimizers"]["g"])
        scheduler.load_state_dict(state["schedulers"]["g"])
        step, best, metrics = state["step"], state.get("best", -math.inf), state.get("metrics", {})
        log.info("resuming %s at step %d of %d", run_dir, step, t.steps)
    use_amp = t.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp and amp_dtype == torch.float16)

    def save(name: str) -> None:
        checkpoint.save(session.run_dir / name, _pretrain_payload(cfg, generator, optimizer, scheduler, step, metrics, best))

    interrupted = False
    bar = tqdm(total=t.steps, initial=step, desc="pretrain", unit="step", disable=None, dynamic_ncols=True)
    tick, seen = time.perf_counter(), 0
    try:
        with stop_on_sigterm() as request:
            for L_n, real_ab_n in session.train_loader(step):
                L_n = L_n.to(device, non_blocking=True).contiguous(memory_format=channels_last)
                real_ab_n = real_ab_n.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    fake_ab_n = generator(L_n)
                loss = F.l1_loss(fake_ab_n.float(), real_ab_n)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if t.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(generator.parameters(), t.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                step += 1
                seen += len(L_n)
                bar.update(1)
                if step % t.log_every == 0 or step == t.steps:
                    rate = seen / (time.perf_counter() - tick)
                    session.writer.add_scalar("train/loss_l1", loss.item(), step)
                    session.writer.add_scalar("train/lr", scheduler.get_last_lr()[0], step)
                    session.writer.add_scalar("train/images_per_s", rate, step)
                    bar.set_postfix(l1=f"{loss.item():.4f}", img_s=f"{rate:.1f}")
                    tick, seen = time.perf_counter(), 0
                if step % t.val_every == 0 or step == t.steps:
                    metrics, first = validate(generator, session.val_loader(), device)
                    _log_validation(session.writer, step, metrics, first, t.grid_images)
                    if metrics:
                        tqdm.write(f"step {step}: val l1 {metrics['l1']:.3f}  psnr {metrics['psnr']:.2f} dB")
                    save("last.pt")
                    if not metrics or metrics["psnr"] > best:
                        best = metrics.get("psnr", best)
                        save("best.pt")
                if request["stop"]:
                    interrupted = True
                    break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    if interrupted:
        save("last.pt")
        log.warning("interrupted at step %d: last.pt written; continue with --resume", step)
    session.close()
    return RunResult(step=step, metrics=metrics, interrupted=interrupted)
