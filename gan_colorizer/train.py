"""Training: the loop every stage shares (`Trainer`) and L1 pretraining of a generator (`pretrain`).

Pretraining and adversarial fine-tuning (adversarial.py) share one loop (`Trainer.run`): sample stream, logging, validation, best/last checkpoints,
Ctrl-C / SIGTERM handling and resume. A run dir holds `config.yaml` (resolved config), `split.json`
(which photos trained and validated), `last.pt` (every `val_every` steps and on interruption),
`best.pt` (best val metric) and TensorBoard events. `--resume` reloads `last.pt` and continues at the
same step with the same optimiser, schedule and sample stream (data.StepSampler) up to `train.steps`.

Under torchrun (docs/distributed.md) every rank runs this loop on its share of each global batch
(`train.batch_size` per rank), DistributedDataParallel averages the gradients, and rank 0 alone
validates and writes files while the other ranks wait for it. A SIGTERM on any rank stops all of
them after the same step.
"""
import logging
import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from gan_colorizer import checkpoint, data, hint, losses, metrics, runtime, validation
from gan_colorizer.config import BEST_METRICS, RunConfig, TrainConfig, load_config, save_config
from gan_colorizer.errors import CheckpointError, ColorizerError, ConfigError
from gan_colorizer.models import build
from gan_colorizer.runtime import cached_weights, seed_everything
from gan_colorizer.visual import comparison_grid

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """Where a training call stopped, its last val metrics, and whether it was interrupted."""

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
        missing, _ = generator.encoder.load_state_dict(state, strict=False)
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


def bare(module: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper: for rank-0-only work (validation) that must not sync."""
    return module.module if isinstance(module, DistributedDataParallel) else module


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


@contextmanager
def stop_on_signals(signums: tuple[int, ...]) -> Iterator[dict]:
    """Turn these signals into a flag the loop checks between steps, so it can write last.pt and leave."""
    request = {"stop": False}
    previous = {}  # signal number -> the handler to put back
    try:
        for signum in signums:
            previous[signum] = signal.signal(signum, lambda signum, frame: request.update(stop=True))
    except ValueError:  # not the main thread (e.g. a test runner's thread): Ctrl-C still works
        pass
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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


def ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers leave SIGTERM and SIGINT to the main process.

    A scheduler (or `kill` of the process group, or Ctrl-C) signals every process; a worker that
    died of it would crash the main process before it could write last.pt.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Trainer:
    """The shared loop. Subclasses define `stage`, `train_step`, `val_generator` and their state."""

    stage = ""
    best_metric = "psnr"

    def __init__(self, cfg: RunConfig, data_path: Path, run_dir: Path, device: torch.device, resume: bool) -> None:
        self.cfg, self.run_dir, self.device = cfg, Path(run_dir), device
        self.world = runtime.world()
        self.state = resume_state(self.run_dir, self.stage) if resume else None
        if resume and self.state is None:
            log.warning("%s has no last.pt: starting a new run", self.run_dir)
        if not resume and (self.run_dir / "last.pt").exists():
            raise ConfigError(f"{self.run_dir}: already holds a run (last.pt); pass --resume or choose another --out")
        seed_everything(cfg.train.seed)
        self.source = data.PhotoSource(data_path)
        self.split = data.scan(self.source, cfg.data)
        if self.world.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.split.save(self.run_dir / "split.json")
            save_config(cfg, self.run_dir / "config.yaml")
        log.info("%d train / %d val photos (%d near-gray, %d unreadable left out)", len(self.split.train),
                 len(self.split.val), len(self.split.gray), len(self.split.unreadable))
        self.use_amp = cfg.train.amp and device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.use_amp and torch.cuda.is_bf16_supported() else torch.float16
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none (the scaler passes through)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.step = self.state["step"] if self.state else 0
        self.metrics: dict[str, float] = self.state.get("metrics", {}) if self.state else {}
        worst = math.inf if BEST_METRICS[self.best_metric] == "min" else -math.inf
        self.best = self.state.get("best", worst) if self.state else worst

    # -- what a subclass provides -----------------------------------------------------------------
    def train_step(self, L_n: torch.Tensor, real_ab_n: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError

    def val_generator(self) -> nn.Module:
        raise NotImplementedError

    def payload(self) -> dict:
        raise NotImplementedError

    def learning_rates(self) -> dict[str, float]:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------------
    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, scheduler,
                          clip: nn.Module | None = None) -> None:
        """Scaled backward, optional gradient clipping of `clip`, one optimiser and schedule step.

        The caller calls `self.scaler.update()` once per training step, after every optimiser of it.
        """
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if clip is not None and self.cfg.train.grad_clip:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(clip.parameters(), self.cfg.train.grad_clip)
        self.scaler.step(optimizer)
        scheduler.step()

    def generate(self, L_n: torch.Tensor, real_ab_n: torch.Tensor) -> torch.Tensor:
        """G's training forward; a generator that takes a colour hint gets the truth's own statistics,
        dropped at random (`hint.training_hints`, never recoloured: the target here stays the truth),
        drawn from (seed, step, rank) so a resumed run draws alike."""
        if not getattr(bare(self.generator), "takes_hint", False):
            return self.generator(L_n)
        rng = hint.step_generator(self.cfg.train.seed, self.step, self.world.rank)
        return self.generator(L_n, hint.training_hints(real_ab_n, self.cfg.hint, rng, recolour=False).hints)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def save(self, name: str) -> None:
        base = {"kind": "training", "stage": self.stage, "step": self.step, "run_config": asdict(self.cfg),
                "metrics": dict(self.metrics), "best": self.best}
        checkpoint.save(self.run_dir / name, {**base, **self.payload()})

    def is_better(self, value: float) -> bool:
        return value < self.best if BEST_METRICS[self.best_metric] == "min" else value > self.best

    def train_loader(self) -> DataLoader:
        t, workers = self.cfg.train, self.cfg.data.workers
        crops = data.TrainCrops(self.source, self.split, self.cfg.data, t.seed)
        sampler = data.StepSampler(self.step, t.steps, t.batch_size, self.world.rank, self.world.size)
        return DataLoader(crops, batch_size=t.batch_size, sampler=sampler, num_workers=workers,
                          pin_memory=self.device.type == "cuda", prefetch_factor=4 if workers else None,
                          worker_init_fn=ignore_stop_signals)

    def validate(self, writer: SummaryWriter) -> None:
        """Val metrics of the (EMA) generator (`validation.validate`) to TensorBoard, plus the grid."""
        generator = bare(self.val_generator())
        was_training = generator.training
        generator.eval()
        loader = DataLoader(data.ValImages(self.source, self.split.val, self.cfg.data.size),
                            batch_size=self.cfg.train.batch_size, num_workers=min(self.cfg.data.workers, 1))
        result = validation.validate(generator, loader, self.device, self.autocast,
                                     self.lpips_net() if self.best_metric == "lpips" else None)
        generator.train(was_training)
        if result.first is None:
            return
        self.metrics = result.metrics
        for name, value in self.metrics.items():
            writer.add_scalar(f"val/{name}", value, self.step)
        if self.cfg.train.grid_images:
            grid = comparison_grid(*(t[:self.cfg.train.grid_images] for t in result.first))
            writer.add_image("images/val", grid, self.step)
        tqdm.write(f"step {self.step}: " + "  ".join(f"val {k} {v:.3f}" for k, v in self.metrics.items()))

    def lpips_net(self) -> nn.Module:
        if not hasattr(self, "_lpips"):
            self._lpips = metrics.load_lpips("squeeze", self.device).requires_grad_(False)
        return self._lpips

    def run(self) -> RunResult:
        """Step until `train.steps`, validating and saving every `val_every` steps.

        SIGTERM (a scheduler's or torchrun's stop) ends the run after the current step, with last.pt
        written. Under torchrun, SIGINT too: Ctrl-C reaches the torchrun agent, which passes SIGINT on
        to every worker, and a flag lets all ranks stop after the same step.
        """
        if self.state:
            log.info("resuming %s at step %d of %d", self.run_dir, self.step, self.cfg.train.steps)
        writer = SummaryWriter(str(self.run_dir)) if self.world.is_main else None
        signums = (signal.SIGTERM,) if self.world.size == 1 else (signal.SIGTERM, signal.SIGINT)
        try:
            with stop_on_signals(signums) as request:  # also shields the final save from a second signal
                interrupted = self.loop(writer, request)
                if interrupted:
                    self.save_interrupted()
        finally:
            if writer is not None:
                writer.close()
        return RunResult(step=self.step, metrics=self.metrics, interrupted=interrupted)

    def save_interrupted(self) -> None:
        """Rank 0 writes last.pt; the other ranks leave only after it, as torchrun stops every rank
        (SIGTERM) as soon as one exits with a non-zero status."""
        if self.world.is_main:
            self.save("last.pt")
            log.warning("interrupted at step %d: last.pt written; continue with --resume", self.step)
        runtime.share_from_main(None)

    def loop(self, writer: SummaryWriter | None, request: dict) -> bool:
        """The steps themselves; True when Ctrl-C or a stop request (on any rank) ended them early."""
        t = self.cfg.train
        bar = tqdm(total=t.steps, initial=self.step, desc=self.stage, unit="step", dynamic_ncols=True,
                   disable=None if self.world.is_main else True)
        tick, seen, deadline = time.perf_counter(), 0, time.monotonic() + t.max_minutes * 60
        try:
            for L_n, real_ab_n in self.train_loader():
                L_n = L_n.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                scalars = self.train_step(L_n, real_ab_n.to(self.device, non_blocking=True))
                self.step += 1
                seen += len(L_n)
                bar.update(1)
                if self.step % t.log_every == 0 or self.step == t.steps:
                    images_per_s = seen * self.world.size / (time.perf_counter() - tick)
                    self.log_train(writer, bar, {**runtime.mean_over_ranks(scalars, self.device),
                                                 "images_per_s": images_per_s})
                    tick, seen = time.perf_counter(), 0
                if self.step % t.val_every == 0 or self.step == t.steps:
                    self.validate_and_save(writer)
                if runtime.any_rank(request["stop"], self.device):
                    return True
                if t.max_minutes and runtime.any_rank(time.monotonic() > deadline, self.device):
                    if self.step % t.val_every:
                        self.validate_and_save(writer)
                    log.warning("step %d: the time budget of %g min is spent; continue with --resume", self.step,
                                t.max_minutes)
                    return False
        except KeyboardInterrupt:
            return True
        finally:
            bar.close()
        return False

    def log_train(self, writer: SummaryWriter | None, bar: tqdm, scalars: dict[str, float]) -> None:
        """Training scalars (averaged over ranks) to TensorBoard and the progress bar, on rank 0."""
        if writer is None:
            return
        for name, value in {**scalars, **self.learning_rates()}.items():
            writer.add_scalar(f"train/{name}", value, self.step)
        bar.set_postfix({k: f"{v:.3g}" for k, v in scalars.items()})

    def validate_and_save(self, writer: SummaryWriter | None) -> None:
        """Rank 0 validates and writes last.pt (and best.pt) while the other ranks wait for it.

        A user error there (full disk, missing LPIPS weights) is raised on every rank, so all stop.
        """
        if not self.world.is_main:
            error = runtime.share_from_main(None)
            if error is not None:
                raise ColorizerError(error)  # rank 0 reports it; the tools keep the other ranks quiet
            return
        try:
            self.validate(writer)
            self.after_validation()
            self.save("last.pt")
            if self.best_metric in self.metrics and self.is_better(self.metrics[self.best_metric]):
                self.best = self.metrics[self.best_metric]
                self.save("best.pt")
            writer.flush()
        except ColorizerError as err:
            runtime.share_from_main(str(err))
            raise
        runtime.share_from_main(None)

    def after_validation(self) -> None:
        """Hook for checks on fresh val metrics (the GAN trainer warns about collapse to gray)."""


class Pretrainer(Trainer):
    """L1 on a*b* with AdamW, warm-up + cosine, gradient clipping."""

    stage = "pretrain"

    def __init__(self, cfg: RunConfig, data_path: Path, run_dir: Path, device: torch.device, resume: bool) -> None:
        super().__init__(cfg, data_path, run_dir, device, resume)
        t = cfg.train
        self.generator = (build_generator(cfg) if self.state is None
                          else checkpoint.build_network(self.state["generator"], self.run_dir / "last.pt"))
        self.generator.to(device, memory_format=torch.channels_last).train()
        trainable = freeze_encoder(self.generator, t.freeze_encoder_layers)
        self.generator = distribute(self.generator, device)
        self.optimizer = torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, t)
        if self.state:
            self.optimizer.load_state_dict(self.state["optimizers"]["g"])
            self.scheduler.load_state_dict(self.state["schedulers"]["g"])

    def train_step(self, L_n: torch.Tensor, real_ab_n: torch.Tensor) -> dict[str, float]:
        """L1 against the truth; a hinted generator is scored against the (maybe recoloured) truth its
        hint describes (`hint.training_hints`), plus hint.stats_weight x the statistics it was asked for."""
        scalars, stats = {}, None
        with self.autocast():
            if getattr(bare(self.generator), "takes_hint", False):
                rng = hint.step_generator(self.cfg.train.seed, self.step, self.world.rank)
                drawn = hint.training_hints(real_ab_n, self.cfg.hint, rng)
                fake_ab_n, real_ab_n = self.generator(L_n, drawn.hints), drawn.target_ab_n
                stats = losses.hint_stats_loss(fake_ab_n.float(), *hint.unpack(drawn.hints))
            else:
                fake_ab_n = self.generator(L_n)
        loss = l1 = losses.l1_loss(fake_ab_n.float(), real_ab_n)
        scalars["loss_l1"] = l1.item()
        if stats is not None:
            loss = l1 + self.cfg.hint.stats_weight * stats
            scalars["loss_hint_stats"] = stats.item()
        self.backward_and_step(loss, self.optimizer, self.scheduler, clip=self.generator)
        self.scaler.update()
        return scalars

    def val_generator(self) -> nn.Module:
        return self.generator

    def learning_rates(self) -> dict[str, float]:
        return {"lr": self.scheduler.get_last_lr()[0]}

    def payload(self) -> dict:
        return {"generator": checkpoint.network_entry(self.cfg.model.name, self.cfg.model.args, self.generator),
                "optimizers": {"g": self.optimizer.state_dict()}, "schedulers": {"g": self.scheduler.state_dict()}}


def pretrain(cfg: RunConfig, data_path: Path, run_dir: Path, device: torch.device, resume: bool = False) -> RunResult:
    """L1 pretraining of the generator on a*b*; writes last.pt/best.pt/events into run_dir."""
    return Pretrainer(cfg, data_path, run_dir, device, resume).run()


def resolve_config(config_path: Path | None, default: Path, run_dir: Path, resume: bool,
                   overrides: dict) -> RunConfig:
    """Shipped defaults (or the run's stored config when resuming) < --config < named flags < --set."""
    last = Path(run_dir) / "last.pt"
    if not (resume and last.exists()):
        return load_config(config_path or default, overrides)
    stored = checkpoint.read(last).get("run_config", {})
    cfg = load_config(config_path, overrides, base=stored)
    if cfg.model != load_config(None, base=stored).model:
        raise ConfigError(f"{config_path}: its model section differs from the run's in {last}; "
                          f"resume without --config or start a new --out")
    return cfg
