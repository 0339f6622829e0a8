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
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from gan_colorizer import checkpoint, color, data, hint, losses, metrics, points, progress, runtime, validation
from gan_colorizer.config import RunConfig, plain, save_config
from gan_colorizer.errors import ColorizerError
from gan_colorizer.loaders import Photos, open_photos
from gan_colorizer.models import ChromaPrediction
from gan_colorizer.runtime import seed_everything, unwrap
from gan_colorizer.training_setup import (build_generator, check_run_dir, distribute, freeze_encoder,
                                          generator_from_init, lpips_if_needed, make_scheduler, parameter_groups,
                                          seed_head, with_bins)
from gan_colorizer.visual import comparison_grid

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """Where a training call stopped, its last val metrics, and whether it was interrupted."""

    step: int
    metrics: dict[str, float]
    interrupted: bool


class Trainer:
    """The shared loop. Subclasses define `stage`, `train_step`, `val_generator` and their state."""

    stage = ""

    def __init__(self, cfg: RunConfig, run_dir: Path, device: torch.device, photos: Photos, state: dict | None,
                 lpips_net: nn.Module | None = None) -> None:
        """state: the run's last.pt when resuming (`resume_state`), else None. lpips_net: for val LPIPS
        and the perceptual loss, loaded by the command before the data, so missing weights stop it early."""
        self.cfg, self.run_dir, self.device, self.photos, self.state = cfg, Path(run_dir), device, photos, state
        self.lpips = lpips_net
        self.world = runtime.world()
        self.use_amp = cfg.train.amp and device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.use_amp and torch.cuda.is_bf16_supported() else torch.float16
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none (the scaler passes through)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.step = state["step"] if state else 0
        self.metrics: dict[str, float] = state.get("metrics", {}) if state else {}
        self.higher_is_better = metrics.better(cfg.train.best_metric) == "max"
        self.best = state.get("best", -math.inf if self.higher_is_better else math.inf) if state else (
            -math.inf if self.higher_is_better else math.inf)

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

    def conditioning(self, L_n: torch.Tensor, real_ab_n: torch.Tensor,
                     recolour: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """What G is handed beside L_n in one training step, what its output is scored against, and the
        colour hints drawn (None without them) for the statistics loss.

        A generator that takes a colour hint gets the truth's own statistics, dropped at random, or
        with `recolour` those of a recoloured truth, which then becomes the target
        (`hint.training_hints`); one that takes colour points gets patches of the target's colour
        (`points.training_points`). Both draws come from (seed, step, rank), in streams of their
        own, so a resumed run draws alike.
        """
        generator, t = unwrap(self.generator), self.cfg.train
        inputs, target, hints = {}, real_ab_n, None
        if generator.takes_hint:
            rng = hint.step_generator(t.seed, self.step, self.world.rank)
            drawn = hint.training_hints(real_ab_n, self.cfg.hint, rng, recolour=recolour, L_n=L_n)
            inputs["hint"], target, hints = drawn.hints, drawn.target_ab_n, drawn.hints
        if generator.takes_points:
            rng = hint.step_generator(t.seed + points.STREAM, self.step, self.world.rank)
            inputs["points"] = points.training_points(target, self.cfg.points, rng)
        return inputs, target, hints

    def generate(self, L_n: torch.Tensor, real_ab_n: torch.Tensor) -> ChromaPrediction:
        """G's training forward in the GAN stage: hints and points of the truth, never recoloured (the
        discriminator must see true photos' colours)."""
        inputs, _, _ = self.conditioning(L_n, real_ab_n, recolour=False)
        return self.generator(L_n, **inputs, details=True)

    @cached_property
    def class_weights(self) -> torch.Tensor:
        """(Q,) the rebalancing weight of each bin of G's distribution head (`losses.rebalance_weights`)."""
        d, generator = self.cfg.distribution, unwrap(self.generator)
        prior = data.colour_prior(self.photos.source, self.photos.split, d.prior_photos, self.cfg.data.seed)
        bins_prior = torch.from_numpy(data.class_prior(prior, generator.bins, d.sigma)).float()
        return losses.rebalance_weights(bins_prior, d.rebalance_mix).to(self.device)

    def distribution_terms(self, prediction: ChromaPrediction, real_ab_n: torch.Tensor,
                           prefix: str) -> tuple[torch.Tensor | float, dict[str, float]]:
        """For a G with a distribution head (both stages): distribution.ce_weight x the rebalanced
        cross-entropy and distribution.decoded_l1_weight x L1 on the decoded colour, summed and logged as
        `<prefix>ce` / `<prefix>decoded_l1`; (0, {}) for a regression-only G."""
        if prediction.logits is None:
            return 0.0, {}
        d = self.cfg.distribution
        ce = losses.distribution_loss(prediction.logits, real_ab_n, unwrap(self.generator).bin_centres,
                                      self.class_weights, d.neighbours, d.sigma / color.AB_SCALE)
        total, terms = d.ce_weight * ce, {f"{prefix}ce": ce.item()}
        if d.decoded_l1_weight:
            decoded = losses.l1_loss(prediction.ab_n.float(), real_ab_n)
            total, terms[f"{prefix}decoded_l1"] = total + d.decoded_l1_weight * decoded, decoded.item()
        return total, terms

    def generator_terms(self, L_n: torch.Tensor, fake_ab_n: torch.Tensor, real_ab_n: torch.Tensor,
                        prefix: str) -> tuple[torch.Tensor | float, dict[str, float]]:
        """G's loss terms beside L1 that both stages share: train.perceptual_weight x LPIPS and
        train.colourfulness_weight x CF (each 0 = off), summed, and their values logged as
        `<prefix>lpips` / `<prefix>cf`."""
        t, total, terms = self.cfg.train, 0.0, {}
        if t.perceptual_weight:
            perceptual = losses.perceptual_loss(self.lpips, L_n, fake_ab_n, real_ab_n)
            total, terms[f"{prefix}lpips"] = total + t.perceptual_weight * perceptual, perceptual.item()
        if t.colourfulness_weight:
            cf = losses.colourfulness_loss(fake_ab_n, real_ab_n)
            total, terms[f"{prefix}cf"] = total + t.colourfulness_weight * cf, cf.item()
        return total, terms

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def save(self, name: str) -> None:
        base = {"kind": "training", "stage": self.stage, "step": self.step, "run_config": plain(self.cfg),
                "metrics": dict(self.metrics), "best": self.best}
        checkpoint.save(self.run_dir / name, {**base, **self.payload()})

    def is_better(self, value: float) -> bool:
        return value > self.best if self.higher_is_better else value < self.best

    def validate(self) -> None:
        """Val metrics of the (EMA) generator (`validation.validate`) to TensorBoard, plus the grid."""
        generator = unwrap(self.val_generator())
        was_training = generator.training
        generator.eval()
        result = validation.validate(generator, self.photos.val_loader(), self.device, self.autocast, self.lpips)
        generator.train(was_training)
        if result.first is None:
            return
        self.metrics = result.metrics
        for name, value in self.metrics.items():
            self.writer.add_scalar(f"val/{name}", value, self.step)
        if self.cfg.train.grid_images:
            grid = comparison_grid(*(t[:self.cfg.train.grid_images] for t in result.first))
            self.writer.add_image("images/val", grid, self.step)
        tqdm.write(f"step {self.step}: " + "  ".join(f"val {k} {v:.3f}" for k, v in self.metrics.items()))

    def run(self) -> RunResult:
        """Step until `train.steps`, validating and saving every `val_every` steps.

        SIGTERM (a scheduler's or torchrun's stop) ends the run after the current step, with last.pt
        written. Under torchrun, SIGINT too: Ctrl-C reaches the torchrun agent, which passes SIGINT on
        to every worker, and a flag lets all ranks stop after the same step.
        """
        if self.state:
            log.info("resuming %s at step %d of %d", self.run_dir, self.step, self.cfg.train.steps)
        self.writer: SummaryWriter | None = None
        signums = (signal.SIGTERM,) if self.world.size == 1 else (signal.SIGTERM, signal.SIGINT)
        try:
            with runtime.stop_on_signals(signums) as request:  # also shields the final save from a second signal
                first_step = self.step
                interrupted = self.loop(request)
                if interrupted and self.step > first_step:  # before any step there is nothing new to keep
                    self.save_interrupted()
        finally:
            if self.writer is not None:
                self.writer.close()
        return RunResult(step=self.step, metrics=self.metrics, interrupted=interrupted)

    def open_run_dir(self) -> None:
        """Rank 0 creates the run dir with its config, split and TensorBoard writer once the first step
        has succeeded, so a run that fails before it leaves nothing behind."""
        if self.world.is_main and self.writer is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.photos.split.save(self.run_dir / "split.json")
            save_config(self.cfg, self.run_dir / "config.yaml")
            self.writer = SummaryWriter(str(self.run_dir))

    def save_interrupted(self) -> None:
        """Rank 0 writes last.pt; the other ranks leave only after it, as torchrun stops every rank
        (SIGTERM) as soon as one exits with a non-zero status."""
        if self.world.is_main:
            self.save("last.pt")
            log.warning("interrupted at step %d: last.pt written; continue with --resume", self.step)
        runtime.share_from_main(None)

    def loop(self, request: dict) -> bool:
        """The steps themselves; True when Ctrl-C or a stop request (on any rank) ended them early."""
        t = self.cfg.train
        bar = progress.progress(self.stage, t.steps, self.step, t.progress_interval, self.world.is_main, unit="step")
        tick, seen, deadline = time.perf_counter(), 0, time.monotonic() + t.max_minutes * 60
        try:
            for L_n, real_ab_n in self.photos.train_loader(self.step, self.world, self.device):
                L_n = L_n.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                scalars = self.train_step(L_n, real_ab_n.to(self.device, non_blocking=True))
                self.step += 1
                self.open_run_dir()
                seen += len(L_n)
                bar.update(1)
                if self.step % t.log_every == 0 or self.step == t.steps:
                    images_per_s = seen * self.world.size / (time.perf_counter() - tick)
                    self.log_train(bar, {**runtime.mean_over_ranks(scalars, self.device),
                                                 "images_per_s": images_per_s})
                    tick, seen = time.perf_counter(), 0
                if self.step % t.val_every == 0 or self.step == t.steps:
                    self.validate_and_save()
                if runtime.any_rank(request["stop"], self.device):
                    return True
                if t.max_minutes and runtime.any_rank(time.monotonic() > deadline, self.device):
                    if self.step % t.val_every:
                        self.validate_and_save()
                    log.warning("step %d: the time budget of %g min is spent; continue with --resume", self.step,
                                t.max_minutes)
                    return False
        except KeyboardInterrupt:
            return True
        finally:
            bar.close()
        return False

    def log_train(self, bar: tqdm | progress.ProgressLines, scalars: dict[str, float]) -> None:
        """Training scalars (averaged over ranks) to TensorBoard and the progress bar, on rank 0."""
        if self.writer is None:
            return
        for name, value in {**scalars, **self.learning_rates()}.items():
            self.writer.add_scalar(f"train/{name}", value, self.step)
        bar.set_postfix({k: f"{v:.3g}" for k, v in scalars.items()})

    def validate_and_save(self) -> None:
        """Rank 0 validates and writes last.pt (and best.pt) while the other ranks wait for it.

        A user error there (full disk, missing LPIPS weights) is raised on every rank, so all stop.
        """
        if not self.world.is_main:
            error = runtime.share_from_main(None)
            if error is not None:
                raise ColorizerError(error)  # rank 0 reports it; the tools keep the other ranks quiet
            return
        try:
            self.validate()
            self.after_validation()
            self.save("last.pt")
            best_metric = self.cfg.train.best_metric
            if best_metric in self.metrics and self.is_better(self.metrics[best_metric]):
                self.best = self.metrics[best_metric]
                self.save("best.pt")
            self.writer.flush()
        except ColorizerError as err:
            runtime.share_from_main(str(err))
            raise
        runtime.share_from_main(None)

    def after_validation(self) -> None:
        """Hook for checks on fresh val metrics (the GAN trainer warns about collapse to gray)."""


class Pretrainer(Trainer):
    """L1 on a*b* (+ train.perceptual_weight x LPIPS + train.colourfulness_weight x CF) with AdamW,
    warm-up + cosine, gradient clipping."""

    stage = "pretrain"

    def __init__(self, cfg: RunConfig, run_dir: Path, device: torch.device, photos: Photos, state: dict | None,
                 generator: nn.Module, lpips_net: nn.Module | None = None) -> None:
        super().__init__(cfg, run_dir, device, photos, state, lpips_net)
        t = cfg.train
        self.generator = generator.to(device, memory_format=torch.channels_last).train()
        trainable = freeze_encoder(self.generator, t.freeze_encoder_layers, cfg.distribution.head_only)
        self.generator = distribute(self.generator, device)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.generator, trainable, cfg), weight_decay=t.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, t)
        if self.state:
            self.optimizer.load_state_dict(self.state["optimizers"]["g"])
            self.scheduler.load_state_dict(self.state["schedulers"]["g"])

    def train_step(self, L_n: torch.Tensor, real_ab_n: torch.Tensor) -> dict[str, float]:
        """L1 of the calm (regression) estimate against the truth; a hinted generator is scored against the
        (maybe recoloured) truth its hint describes (`conditioning`), plus hint.stats_weight x the
        statistics it was asked for; a distribution head adds its terms (`distribution_terms`)."""
        scalars, stats = {}, None
        with self.autocast():
            inputs, real_ab_n, hints = self.conditioning(L_n, real_ab_n, recolour=True)
            prediction = self.generator(L_n, **inputs, details=True)
            fake_ab_n = prediction.ab_n.float()
            if hints is not None:
                stats = losses.hint_stats_loss(fake_ab_n, *hint.unpack(hints))
        loss = l1 = losses.l1_loss(prediction.calm_ab_n.float(), real_ab_n)
        scalars["loss_l1"] = l1.item()
        if stats is not None:
            loss = loss + self.cfg.hint.stats_weight * stats
            scalars["loss_hint_stats"] = stats.item()
        extra, terms = self.generator_terms(L_n, fake_ab_n, real_ab_n, prefix="loss_")
        spread, spread_terms = self.distribution_terms(prediction, real_ab_n, prefix="loss_")
        loss, scalars = loss + extra + spread, {**scalars, **terms, **spread_terms}
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


def pretrain(cfg: RunConfig, run_dir: Path, device: torch.device, state: dict | None = None,
             init: Path | None = None) -> RunResult:
    """L1 pretraining of the generator on a*b*; writes last.pt/best.pt/events into run_dir.

    state: the run's last.pt (`resume_state`) to continue from, or None for a new run, which starts
    from the configured model with ImageNet encoder weights, or from a trained generator (`init`:
    fine-tuning on your own photos, or a longer schedule on more data). Everything
    that can fail on the user's input (run dir, metric name, encoder weights, photos) is checked
    here, before the trainer exists and before anything is written.
    """
    check_run_dir(run_dir, state)
    metrics.better(cfg.train.best_metric)
    seed_everything(cfg.train.seed)
    photos = open_photos(cfg)
    cfg = with_bins(cfg, photos)
    if state is not None:
        generator = checkpoint.build_network(state["generator"], Path(run_dir) / "last.pt")
    elif init is not None:
        cfg, generator = generator_from_init(cfg, init)
    else:
        generator = build_generator(cfg)
    if state is None:
        seed_head(generator, photos, cfg)
    lpips_net = lpips_if_needed(cfg, device)
    return Pretrainer(cfg, run_dir, device, replace(photos, cfg=cfg), state, generator, lpips_net).run()
