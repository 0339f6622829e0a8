"""Adversarial fine-tuning (`train_gan`): a pretrained generator against a discriminator (a conditional
PatchGAN, or heads on frozen ImageNet features), with optional regularisers of D for a small photo set."""
import copy
import logging
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from gan_colorizer import checkpoint, color, losses, metrics
from gan_colorizer.config import RunConfig
from gan_colorizer.errors import ConfigError
from gan_colorizer.loaders import Photos, open_photos
from gan_colorizer.models import ChromaPrediction, build
from gan_colorizer.runtime import seed_everything, unwrap
from gan_colorizer.train import RunResult, Trainer
from gan_colorizer.training_setup import (check_run_dir, distribute, freeze_encoder, generator_from_init,
                                          lpips_if_needed, make_scheduler, parameter_groups, seed_head, with_bins)

log = logging.getLogger(__name__)


class GanTrainer(Trainer):
    """pix2pix-style conditional GAN fine-tuning of a pretrained generator against a discriminator.

    G loss = l1_weight * L1 + adv_weight * adv + train.perceptual_weight * LPIPS
    + train.colourfulness_weight * CF.
    Adam with TTUR learning rates and beta1 0.5; D trains alone for `d_pretrain_steps` first ("NoGAN",
    DeOldify), so G's first adversarial gradients come from a D that already tells real from fake.
    An EMA copy of G is validated, saved as best.pt's generator and exported.

    Under torchrun both networks are DDP-wrapped. G's adversarial loss runs the bare D with its
    parameters frozen: D's gradients from G's loss are never used, so D computes only the input
    gradient G needs, and no rank all-reduces a second D-sized gradient per step for nothing.

    D's regularisers (gan.diffaugment, gan.instance_noise, gan.r1_gamma; all off by default) live in
    `critic_input` and `d_step`. Their random draws come from (seed, step, rank), as the hints' do,
    so a resumed run draws alike.
    """

    stage = "gan"

    def __init__(self, cfg: RunConfig, run_dir: Path, device: torch.device, photos: Photos, state: dict | None,
                 generator: nn.Module, disc: nn.Module, lpips_net: nn.Module | None = None) -> None:
        super().__init__(cfg, run_dir, device, photos, state, lpips_net)
        t, g = cfg.train, cfg.gan
        self.generator = generator.to(device, memory_format=torch.channels_last).train()
        self.disc = disc.to(device, memory_format=torch.channels_last).train()
        # A pretrained backbone stays frozen: only these are trained, and only these are toggled in g_step.
        self.d_params = [p for p in self.disc.parameters() if p.requires_grad]
        self.d_takes_rgb = getattr(disc, "takes_rgb", False)  # a D on ImageNet features scores sRGB
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        trainable = freeze_encoder(self.generator, t.freeze_encoder_layers, cfg.distribution.head_only)
        self.generator, self.disc = distribute(self.generator, device), distribute(self.disc, device)
        self.opt_g = torch.optim.Adam(parameter_groups(self.generator, trainable, cfg), betas=(g.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.d_params, lr=g.lr_d, betas=(g.beta1, 0.999))
        self.sched_g, self.sched_d = make_scheduler(self.opt_g, t), make_scheduler(self.opt_d, t)
        if self.state:
            self.ema.load_state_dict(self.state["ema"])
            for name, opt in (("g", self.opt_g), ("d", self.opt_d)):
                opt.load_state_dict(self.state["optimizers"][name])
            self.sched_g.load_state_dict(self.state["schedulers"]["g"])
            self.sched_d.load_state_dict(self.state["schedulers"]["d"])
        self.low_d_steps = 0
        self.last_r1 = 0.0  # the latest R1 penalty, logged every step though lazy R1 computes it every k-th
        self.rng = torch.Generator()  # re-seeded per step in train_step

    def critic_input(self, L_n: torch.Tensor, ab_n: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) L_n and (B, 2, H, W) ab_n -> what D sees, (B, 3, H, W).

        In order: DiffAugment (gan.diffaugment, in Lab, so it changes lightness and chroma but never
        hue); then cat([L_n, gan.d_chroma_gain * ab_n]), or for a D on ImageNet features the sRGB
        picture in [0, 1] (differentiable, so G's gradient reaches ab; no chroma gain: the backbone
        expects natural pictures); then instance noise (gan.instance_noise, in those units).
        """
        g = self.cfg.gan
        if g.diffaugment_ops:
            L_n, ab_n = losses.diff_augment(L_n, ab_n, g.diffaugment_ops, self.rng)
        if self.d_takes_rgb:
            pair = color.lab_to_rgb_torch(L_n, ab_n)
        else:
            pair = torch.cat([L_n, g.d_chroma_gain * ab_n], dim=1)
        return losses.add_instance_noise(pair, g.instance_noise, self.step / self.cfg.train.steps, self.rng)

    def d_step(self, L_n: torch.Tensor, real_ab_n: torch.Tensor, fake_ab_n: torch.Tensor) -> dict[str, float]:
        """One D update on (L, ab) pairs; fakes are detached so D's loss never trains G.

        With gan.r1_gamma, every gan.r1_every-th step adds gamma / 2 * r1_every * R1 on the real batch
        (lazy regularisation, Karras et al. 2020: the same total weight at a fraction of the cost).
        """
        g = self.cfg.gan
        regularise = g.r1_gamma > 0 and self.step % g.r1_every == 0
        real_ab_n = real_ab_n.detach().requires_grad_(regularise)  # R1 differentiates D's score by it
        real = self.disc(self.critic_input(L_n, real_ab_n))  # patch logits, (B, 1, h, w) for a PatchGAN
        fake = self.disc(self.critic_input(L_n, fake_ab_n.detach()))
        loss_real = losses.gan_loss(real, True, g.mode)
        loss_fake = losses.gan_loss(fake, False, g.mode)
        loss = 0.5 * (loss_real + loss_fake)
        total = loss
        if regularise:
            r1 = losses.r1_penalty(real, real_ab_n)
            total = loss + 0.5 * g.r1_gamma * g.r1_every * r1
            self.last_r1 = r1.item()
        self.backward_and_step(total, self.opt_d, self.sched_d)
        scalars = {"loss_d": loss.item(), "loss_d_real": loss_real.item(), "loss_d_fake": loss_fake.item(),
                   "d_real": real.mean().item(), "d_fake": fake.mean().item()}
        if g.r1_gamma:  # loss_d stays the adversarial part, comparable with runs without R1
            scalars["d_r1"] = self.last_r1
        return scalars

    def g_step(self, L_n: torch.Tensor, real_ab_n: torch.Tensor, prediction: ChromaPrediction) -> dict[str, float]:
        """G's update: gan.l1_weight x L1 of the colour D sees (decoded, for a distribution head) and
        gan.adv_weight x the adversarial loss, plus the terms both stages share."""
        g, fake_ab_n = self.cfg.gan, prediction.ab_n.float()
        l1 = losses.l1_loss(fake_ab_n, real_ab_n)
        for p in self.d_params:  # G's loss trains G only; D's input still gets its gradient
            p.requires_grad_(False)
        adv = losses.generator_adv_loss(unwrap(self.disc)(self.critic_input(L_n, fake_ab_n)), g.mode)
        for p in self.d_params:
            p.requires_grad_(True)
        total = g.l1_weight * l1 + g.adv_weight * adv
        terms = {"loss_g_l1": l1.item(), "loss_g_adv": adv.item()}
        extra, extra_terms = self.generator_terms(L_n, fake_ab_n, real_ab_n, prefix="loss_g_")
        spread, spread_terms = self.distribution_terms(prediction, real_ab_n, prefix="loss_g_")
        total, terms = total + extra + spread, {**terms, **extra_terms, **spread_terms}
        self.backward_and_step(total, self.opt_g, self.sched_g, clip=self.generator)
        self.update_ema()
        return terms

    @torch.no_grad()
    def update_ema(self) -> None:
        decay = self.cfg.gan.ema_decay
        for ema_p, p in zip(self.ema.parameters(), self.generator.parameters()):
            ema_p.lerp_(p, 1.0 - decay)
        for ema_b, b in zip(self.ema.buffers(), self.generator.buffers()):
            ema_b.copy_(b)

    def train_step(self, L_n: torch.Tensor, real_ab_n: torch.Tensor) -> dict[str, float]:
        joint = self.step >= self.cfg.gan.d_pretrain_steps
        # D's augmentation and noise draws: another stream than the hints' (generate), from the same inputs
        self.rng.manual_seed(self.cfg.train.seed * 1_000_003 + self.step * 1009 + self.world.rank + 7919)
        with self.autocast():
            if joint:
                prediction = self.generate(L_n, real_ab_n)
            else:  # NoGAN phase: G is frozen, D learns what the pretrained G gets wrong
                with torch.no_grad():
                    prediction = self.generate(L_n, real_ab_n)
            fake_ab_n = prediction.ab_n.float()
            scalars = self.d_step(L_n, real_ab_n, fake_ab_n)
            if joint:
                scalars.update(self.g_step(L_n, real_ab_n, prediction))
        self.scaler.update()  # once per step, after both optimisers used this scale
        self.watch_collapse(scalars["loss_d"])
        return scalars

    def watch_collapse(self, loss_d: float) -> None:
        """Warn once per stretch when D's loss sits near 0: D has won and G's gradients vanish."""
        self.low_d_steps = self.low_d_steps + 1 if loss_d < 0.02 else 0
        if self.low_d_steps == self.cfg.gan.collapse_steps and self.world.is_main:
            log.warning("step %d: discriminator loss below 0.02 for %d steps: training may have collapsed "
                        "(lower gan.lr_d or raise gan.l1_weight)", self.step, self.low_d_steps)

    def after_validation(self) -> None:
        if self.metrics.get("cf_pred", 0.0) < 0.5 * self.metrics.get("cf_gt", 0.0):
            log.warning("step %d: val colourfulness %.1f is falling toward gray (truth %.1f)", self.step,
                        self.metrics["cf_pred"], self.metrics["cf_gt"])

    def val_generator(self) -> nn.Module:
        return self.ema

    def learning_rates(self) -> dict[str, float]:
        return {"lr_g": self.sched_g.get_last_lr()[0], "lr_d": self.sched_d.get_last_lr()[0]}

    def payload(self) -> dict:
        g = self.cfg.gan
        return {"generator": checkpoint.network_entry(self.cfg.model.name, self.cfg.model.args, self.generator),
                "discriminator": checkpoint.network_entry(g.discriminator, g.discriminator_args, self.disc),
                "ema": self.ema.state_dict(),
                "optimizers": {"g": self.opt_g.state_dict(), "d": self.opt_d.state_dict()},
                "schedulers": {"g": self.sched_g.state_dict(), "d": self.sched_d.state_dict()}}


def train_gan(cfg: RunConfig, run_dir: Path, device: torch.device, state: dict | None = None,
              init: Path | None = None) -> RunResult:
    """Adversarial fine-tuning from a pretrained generator (--init) or a GAN run's last.pt (`state`).

    A new run takes its model section from the --init checkpoint, read once. Everything that can
    fail on the user's input is checked before the trainer exists and before anything is written.
    """
    check_run_dir(run_dir, state)
    seed_everything(cfg.train.seed)
    g = cfg.gan
    if state is None and init is None:
        raise ConfigError("train_gan needs --init (a pretrained generator checkpoint) or --resume of a GAN run")
    photos = open_photos(cfg)
    cfg = with_bins(cfg, photos)
    if state is None:
        cfg, generator = generator_from_init(cfg, init)
        seed_head(generator, photos, cfg)
        disc = build(g.discriminator, kind="discriminator", weights=g.discriminator_weights, **g.discriminator_args)
    else:
        where = Path(run_dir) / "last.pt"
        generator = checkpoint.build_network(state["generator"], where)
        disc = checkpoint.build_network(state["discriminator"], where)
    metrics.better(cfg.train.best_metric)
    lpips_net = lpips_if_needed(cfg, device)
    return GanTrainer(cfg, run_dir, device, replace(photos, cfg=cfg), state, generator, disc, lpips_net).run()
