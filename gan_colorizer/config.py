"""Run configuration: frozen dataclasses loaded from YAML, overridden by flags, checked once.

Flow: `configs/*.yaml` -> dict -> dotted overrides (`train.lr=1e-4`) -> `RunConfig`. Every error
names its key (`train.stpes: unknown key; did you mean 'steps'?`). Nothing after `load_config`
sees a raw dict, except `model.args`, which goes to the registry as builder keyword arguments.
"""
import dataclasses
import difflib
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gan_colorizer.errors import ConfigError


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: {message}")


@dataclass(frozen=True)
class DegradeConfig:
    """Old-print/scan damage applied to training inputs (gan_colorizer.degrade): `p`, then each effect.

    `p` is the chance that a sample is degraded at all (0 = never: inputs are the clean photos); a
    degraded sample gets each effect with its own `*_p`, strength drawn uniformly from its [low, high]
    range. Lengths are pixels of a 256-px short side and scale with the image. Why each effect and
    its order: the docstring of gan_colorizer.degrade.
    """

    p: float = 0.0
    exposure_p: float = 0.4
    exposure: tuple[float, float] = (2.0, 8.0)  # std of a smooth brightness drift, L units
    vignette_p: float = 0.3
    vignette: tuple[float, float] = (0.1, 0.35)  # share of L lost in the corners
    grain_p: float = 0.6
    grain: tuple[float, float] = (1.5, 6.0)  # film grain std at mid-gray, L units
    grain_size: tuple[float, float] = (0.7, 2.0)  # grain clump size, px
    fade_p: float = 0.7
    fade_black: tuple[float, float] = (0.0, 20.0)  # L of the faded print's deepest black
    fade_white: tuple[float, float] = (0.0, 12.0)  # L lost by the paper white
    fade_gamma: tuple[float, float] = (0.8, 1.25)  # midtone curve (> 1 darkens)
    fade_clip: tuple[float, float] = (0.0, 8.0)  # L clipped at each end: crushed shadows, blown whites
    texture_p: float = 0.1
    texture: tuple[float, float] = (0.5, 2.5)  # paper surface relief, L units
    scratch_p: float = 0.3
    scratches: tuple[int, int] = (1, 5)  # lines per image
    dust_p: float = 0.4
    dust: tuple[int, int] = (3, 40)  # specks per 256 x 256 px
    blur_p: float = 0.5
    blur: tuple[float, float] = (0.4, 1.5)  # gaussian sigma, px (defocus disks of similar size)
    noise_p: float = 0.5
    noise: tuple[float, float] = (0.5, 2.5)  # scanner noise std, L units
    jpeg_p: float = 0.5
    jpeg_quality: tuple[int, int] = (30, 90)

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            key, value = f"data.degrade.{item.name}", getattr(self, item.name)
            if item.name == "p" or item.name.endswith("_p"):
                _check(0.0 <= value <= 1.0, key, f"must be a probability in [0, 1], got {value}")
            else:
                _check(0 <= value[0] <= value[1], key, f"must be a range [low, high] with 0 <= low <= high, got {list(value)}")
        _check(self.fade_gamma[0] > 0, "data.degrade.fade_gamma", f"must be positive, got {list(self.fade_gamma)}")
        _check(self.fade_black[1] + self.fade_white[1] < 100, "data.degrade.fade_black",
               f"plus fade_white must stay under 100 L, got {self.fade_black[1]} + {self.fade_white[1]}")
        _check(self.fade_clip[1] < 50, "data.degrade.fade_clip", f"must stay under 50 L, got {list(self.fade_clip)}")
        _check(1 <= self.jpeg_quality[0] and self.jpeg_quality[1] <= 100, "data.degrade.jpeg_quality",
               f"must lie in [1, 100], got {list(self.jpeg_quality)}")


@dataclass(frozen=True)
class DataConfig:
    """Which photos, how they are split and how training crops are cut."""

    paths: tuple[str, ...] = ()  # the photo folders / .zip files (--data); recorded so a run says what it saw
    val_fraction: float = 0.1  # share of photos held out for validation
    seed: int = 0  # split seed: the same seed gives the same split from a folder or its zip
    size: int = 256  # training crop side in pixels
    min_crop: float = 0.7  # smallest crop side, as a share of min(short side, size): zoom-in range
    gray_threshold: float = 5.0  # photos with Hasler-Süsstrunk colourfulness below this are left out
    workers: int = 2  # DataLoader decode processes (0 = decode in the main process)
    # Per-photo sampling weight by source label or key pattern, e.g. {extra/endlesssky_*: 0.2}: 251 game
    # landscapes then weigh like 50 photos. Weights of several matches multiply; unmatched photos weigh 1.
    source_weights: dict = field(default_factory=dict)
    degrade: DegradeConfig = field(default_factory=DegradeConfig)  # old-scan damage on training inputs

    def __post_init__(self) -> None:
        _check(0.0 <= self.val_fraction < 1.0, "data.val_fraction", f"must be in [0, 1), got {self.val_fraction}")
        _check(self.size >= 32, "data.size", f"must be at least 32, got {self.size}")
        _check(0.1 <= self.min_crop <= 1.0, "data.min_crop", f"must be in [0.1, 1], got {self.min_crop}")
        _check(self.gray_threshold >= 0, "data.gray_threshold", f"must be >= 0, got {self.gray_threshold}")
        _check(self.workers >= 0, "data.workers", f"must be >= 0, got {self.workers}")
        for pattern, weight in self.source_weights.items():
            _check(isinstance(weight, (int, float)) and not isinstance(weight, bool) and weight >= 0,
                   f"data.source_weights.{pattern}", f"must be a number >= 0, got {weight!r}")


@dataclass(frozen=True)
class ModelConfig:
    """A registry name and its builder's arguments, plus where the encoder's ImageNet weights come from."""

    name: str = "mobilenet_unet"
    args: dict = field(default_factory=dict)
    encoder_weights: str = "imagenet"  # "imagenet" (from the torch cache), "none" (random), or a file path


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping of one training run."""

    steps: int = 1600  # total optimiser steps of the run; a resumed run stops at this total
    batch_size: int = 16
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    warmup_steps: int = 200  # linear warm-up keeps early Adam steps from wrecking pretrained features
    schedule: str = "cosine"  # cosine | step | constant, after the warm-up
    grad_clip: float = 1.0  # max global gradient norm (0 = off)
    freeze_encoder_layers: int = 0  # first N pretrained encoder blocks kept fixed: generic edges, ~30 % faster steps
    val_every: int = 500
    log_every: int = 25
    progress_interval: float = 10.0  # s between progress lines when stderr is not a terminal (a log, nohup)
    grid_images: int = 6  # fixed val photos shown in TensorBoard
    seed: int = 0  # weight init and augmentation
    amp: bool = True  # mixed precision, used on CUDA only
    max_minutes: float = 0.0  # wall-clock budget of one invocation (0 = none): then validate, save and end
    best_metric: str = "psnr"  # the val metric (metrics.COLUMNS, one with a better direction) that picks best.pt
    perceptual_weight: float = 0.0  # G's LPIPS on the rendered RGB, in either stage (0 = off, no LPIPS net loaded)
    colourfulness_weight: float = 0.0  # G's one-sided push against predictions grayer than the truth, either stage

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "val_every", "log_every"):
            _check(getattr(self, key) >= 1, f"train.{key}", f"must be at least 1, got {getattr(self, key)}")
        _check(self.lr > 0, "train.lr", f"must be positive, got {self.lr}")
        _check(self.weight_decay >= 0, "train.weight_decay", f"must be >= 0, got {self.weight_decay}")
        _check(self.warmup_steps >= 0, "train.warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        _check(self.schedule in ("cosine", "step", "constant"), "train.schedule",
               f"must be cosine, step or constant, got {self.schedule!r}")
        _check(self.grad_clip >= 0, "train.grad_clip", f"must be >= 0, got {self.grad_clip}")
        _check(self.freeze_encoder_layers >= 0, "train.freeze_encoder_layers",
               f"must be >= 0, got {self.freeze_encoder_layers}")
        _check(self.grid_images >= 0, "train.grid_images", f"must be >= 0, got {self.grid_images}")
        for key in ("perceptual_weight", "colourfulness_weight"):
            _check(getattr(self, key) >= 0, f"train.{key}", f"must be >= 0, got {getattr(self, key)}")
        _check(self.progress_interval >= 0, "train.progress_interval",
               f"must be >= 0, got {self.progress_interval}")
        _check(self.max_minutes >= 0, "train.max_minutes", f"must be >= 0 (0 = no limit), got {self.max_minutes}")


GAN_MODES = ("vanilla", "lsgan", "hinge")  # the adversarial losses of losses.gan_loss
DIFFAUGMENT_OPS = ("color", "translation", "cutout")  # losses.diff_augment's ops (Zhao et al. 2020's names)


@dataclass(frozen=True)
class GanConfig:
    """Adversarial fine-tuning: the discriminator, the loss weights and the stabilisers."""

    discriminator: str = "patchgan"
    discriminator_args: dict = field(default_factory=dict)
    mode: str = "lsgan"  # vanilla | lsgan | hinge
    l1_weight: float = 10.0  # on ab_n; keeps G near the truth while D is still weak
    adv_weight: float = 1.0
    lr_d: float = 4.0e-4  # TTUR (Heusel et al. 2017): D learns faster than G (train.lr)
    # D sees cat([L_n, d_chroma_gain * ab_n]). Photos' ab_n spread is ~0.13 against L_n's ~0.5, so at
    # gain 1 chroma is a faint signal to D's first conv: a PatchGAN sat at chance (BCE 0.693) for 100+
    # steps; at 4 it reached BCE 0.54 and told held-out real from pretrained-G crops every time.
    d_chroma_gain: float = 4.0
    beta1: float = 0.5  # pix2pix/DCGAN: a short momentum memory suits a moving adversarial target
    d_pretrain_steps: int = 100  # "NoGAN": D alone against the frozen pretrained G before joint steps
    ema_decay: float = 0.999  # the EMA generator is what validation, best.pt and export use
    collapse_steps: int = 200  # warn when D's loss stays near 0 this many steps in a row
    # Where a discriminator with a pretrained backbone (projected_patchgan) gets it: "imagenet" (the torch
    # cache), a file path, or "none" (random: tests only). patchgan has no pretrained part and ignores it.
    discriminator_weights: str = "imagenet"
    # D's regularisers for a few hundred photos, all off by default (losses.diff_augment, r1_penalty,
    # add_instance_noise say why and how). diffaugment: comma-separated DIFFAUGMENT_OPS, e.g. "translation,cutout".
    diffaugment: str = ""
    r1_gamma: float = 0.0  # R1 weight gamma: the D loss gains gamma / 2 * E|grad_ab D(real)|^2 (0 = off)
    r1_every: int = 1  # lazy R1 (StyleGAN2): the penalty on every k-th D step only, weighted by k
    instance_noise: float = 0.0  # std of Gaussian noise on D's inputs at step 0, linearly down to 0 at train.steps

    def __post_init__(self) -> None:
        _check(self.mode in GAN_MODES, "gan.mode", f"must be one of {', '.join(GAN_MODES)}, got {self.mode!r}")
        for key in ("l1_weight", "adv_weight", "d_pretrain_steps",
                    "r1_gamma", "instance_noise"):
            _check(getattr(self, key) >= 0, f"gan.{key}", f"must be >= 0, got {getattr(self, key)}")
        _check(self.r1_every >= 1, "gan.r1_every", f"must be at least 1, got {self.r1_every}")
        ops = self.diffaugment_ops
        unknown = [op for op in ops if op not in DIFFAUGMENT_OPS]
        _check(not unknown and len(set(ops)) == len(ops), "gan.diffaugment",
               f"must be a comma-separated list of distinct ops from {', '.join(DIFFAUGMENT_OPS)}, "
               f"got {self.diffaugment!r}")
        _check(self.lr_d > 0, "gan.lr_d", f"must be positive, got {self.lr_d}")
        _check(self.d_chroma_gain > 0, "gan.d_chroma_gain", f"must be positive, got {self.d_chroma_gain}")
        _check(0.0 <= self.beta1 < 1.0, "gan.beta1", f"must be in [0, 1), got {self.beta1}")
        _check(0.0 <= self.ema_decay < 1.0, "gan.ema_decay", f"must be in [0, 1), got {self.ema_decay}")
        _check(self.collapse_steps >= 1, "gan.collapse_steps", f"must be at least 1, got {self.collapse_steps}")

    @property
    def diffaugment_ops(self) -> tuple[str, ...]:
        """`diffaugment` split into op names, in the order given ("" -> ())."""
        return tuple(op.strip() for op in self.diffaugment.split(",") if op.strip())


@dataclass(frozen=True)
class HintConfig:
    """How a generator that takes a colour hint is trained to follow one (gan_colorizer.hint).

    Each sample gets no hint (p_none: the blind task), both statistics (p_both), the mean only
    (p_mean_only) or the spread only (the rest). Of the hinted samples, a share p_recolour first has
    its truth recoloured (its mean a*b* moved by a normal draw of std shift_std Lab units per axis,
    its spread scaled by a log-uniform factor in [spread_scale_min, spread_scale_max]) and is hinted
    and scored on that: hints beyond the photos' own range, as moods ask. stats_weight scales a loss
    on the mean and spread of hinted predictions against their hint (pretraining; 0 = off).
    """

    p_none: float = 0.3
    p_both: float = 0.4
    p_mean_only: float = 0.15
    p_recolour: float = 0.5
    shift_std: float = 15.0  # photos' own mean a*b* spans about ±10 (p10-p90); moods ask up to 39 away
    spread_scale_min: float = 0.2  # sepia asks 3 of a typical 14
    spread_scale_max: float = 2.0  # vivid asks 24 of a typical 14
    stats_weight: float = 1.0

    def __post_init__(self) -> None:
        for key in ("p_none", "p_both", "p_mean_only", "p_recolour"):
            _check(0.0 <= getattr(self, key) <= 1.0, f"hint.{key}", f"must be in [0, 1], got {getattr(self, key)}")
        _check(self.p_none + self.p_both + self.p_mean_only <= 1.0, "hint.p_none",
               "p_none + p_both + p_mean_only must be at most 1 (the rest is spread only)")
        _check(self.shift_std >= 0, "hint.shift_std", f"must be >= 0, got {self.shift_std}")
        _check(0.0 < self.spread_scale_min <= self.spread_scale_max, "hint.spread_scale_min",
               f"must be positive and at most spread_scale_max, got {self.spread_scale_min}")
        _check(self.stats_weight >= 0, "hint.stats_weight", f"must be >= 0, got {self.stats_weight}")


@dataclass(frozen=True)
class PointsConfig:
    """How a generator that takes colour points is taught to follow them (gan_colorizer.points).

    Zhang et al. 2017's sampler: a share p_none of the samples gets no points (the automatic task);
    the others a geometric number of points with mean mean_count (at least 1), each a square patch
    of side uniform in [patch_min, patch_max] px whose colour is the truth's mean a*b* over it,
    centred at a normal draw around the crop's centre (std centre_std of its side; users click on
    subjects more than on borders).
    """

    p_none: float = 0.25
    mean_count: float = 7.0
    patch_min: int = 1
    patch_max: int = 9
    centre_std: float = 0.25

    def __post_init__(self) -> None:
        _check(0.0 <= self.p_none <= 1.0, "points.p_none", f"must be in [0, 1], got {self.p_none}")
        _check(self.mean_count >= 1.0, "points.mean_count", f"must be at least 1, got {self.mean_count}")
        _check(1 <= self.patch_min <= self.patch_max, "points.patch_min",
               f"must be at least 1 and at most patch_max, got {self.patch_min}")
        _check(self.centre_std > 0, "points.centre_std", f"must be positive, got {self.centre_std}")


@dataclass(frozen=True)
class DistributionConfig:
    """How a generator's colour-distribution head (models.chroma_bins) is added and trained.

    head: a run from a model without one gains it (its bins: the grid cells the training photos
    reach, from `data.colour_prior`). Its loss is ce_weight x the class-rebalanced cross-entropy
    against soft-encoded truths (Zhang et al. 2016: the `neighbours` nearest bins, Gaussian weights
    of std `sigma` a*b* units), where a pixel of bin q weighs 1 / ((1 - rebalance_mix) p(q) +
    rebalance_mix / Q), p the smoothed colour prior: mix 1 weighs every colour alike (no
    rebalancing), the paper's 0.5 lifts rare saturated colours. decoded_l1_weight adds L1 on the
    decoded colour (at the model's default vividness), ChromaGAN's pairing of the two losses. The
    regression head keeps its L1 in every run: it is the calm estimate the decode starts from. A head
    that starts at zero (new, or just gained) starts from the prior instead (`training_setup.seed_head`),
    and learns at head_lr_mult x train.lr.
    """

    head: bool = False
    ce_weight: float = 0.1
    rebalance_mix: float = 1.0
    decoded_l1_weight: float = 0.0
    neighbours: int = 5
    sigma: float = 5.0
    prior_photos: int = 1000  # training photos (a seeded sample) whose a*b* histogram is the prior
    head_lr_mult: float = 10.0  # the head's learning rate over train.lr: a new layer on a trained network
    head_only: bool = False  # train the distribution head alone: the rest (the calm estimate) stays as it was

    def __post_init__(self) -> None:
        for key in ("ce_weight", "decoded_l1_weight"):
            _check(getattr(self, key) >= 0, f"distribution.{key}", f"must be >= 0, got {getattr(self, key)}")
        _check(0.0 <= self.rebalance_mix <= 1.0, "distribution.rebalance_mix",
               f"must be in [0, 1], got {self.rebalance_mix}")
        _check(self.neighbours >= 1, "distribution.neighbours", f"must be at least 1, got {self.neighbours}")
        _check(self.sigma > 0, "distribution.sigma", f"must be positive, got {self.sigma}")
        _check(self.prior_photos >= 1, "distribution.prior_photos", f"must be at least 1, got {self.prior_photos}")
        _check(self.head_lr_mult > 0, "distribution.head_lr_mult", f"must be positive, got {self.head_lr_mult}")


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    hint: HintConfig = field(default_factory=HintConfig)
    points: PointsConfig = field(default_factory=PointsConfig)
    distribution: DistributionConfig = field(default_factory=DistributionConfig)


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """Check one value against its field type; numeric strings pass for floats (YAML reads 2e-4 as str)."""
    if kind is bool:
        _check(isinstance(value, bool), key, f"expected true or false, got {value!r}")
        return value
    if kind is int:
        _check(isinstance(value, int) and not isinstance(value, bool), key, f"expected int, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        _check(isinstance(value, (int, float)) and not isinstance(value, bool), key, f"expected a number, got {value!r}")
        return float(value)
    if kind is str:
        _check(isinstance(value, str), key, f"expected a string, got {value!r}")
        return value
    if kind is dict:
        _check(isinstance(value, dict), key, f"expected a mapping, got {value!r}")
        return value
    if typing.get_origin(kind) is tuple:  # YAML and --set give lists
        items = typing.get_args(kind)
        if items[-1] is Ellipsis:  # tuple[str, ...], e.g. data.paths: a list, or one value alone
            value = [value] if isinstance(value, str) else value
            _check(isinstance(value, (list, tuple)), key, f"expected a list, got {value!r}")
            return tuple(_coerce(item, items[0], key) for item in value)
        _check(isinstance(value, (list, tuple)) and len(value) == len(items), key,  # a range [low, high]
               f"expected a list of {len(items)} numbers, e.g. [1, 2], got {value!r}")
        return tuple(_coerce(item, kind_of_item, key) for item, kind_of_item in zip(value, items))
    return _from_dict(kind, value, key)


def _from_dict(cls: type, raw: Any, prefix: str) -> Any:
    """Build dataclass `cls` from a nested dict, naming the first wrong key."""
    where = prefix or "config"
    _check(isinstance(raw, dict), where, f"expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in raw.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(names)}"
            raise ConfigError(f"{dotted}: unknown key{hint}")
        values[key] = _coerce(value, hints[key], dotted)
    return cls(**values)


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        _check(isinstance(node, dict), dotted, "cannot set a key inside a non-mapping value")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`train.lr=1e-4` -> ("train.lr", 1e-4); the value is read as YAML (numbers, bools, lists)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. train.lr=2.0e-4")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def load_config(path: Path | None, overrides: dict[str, Any] | None = None, base: dict | None = None) -> RunConfig:
    """YAML file (or `base`, e.g. a checkpoint's stored config) plus dotted overrides -> RunConfig."""
    tree: dict = dict(base or {})
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as err:
            raise ConfigError(f"{path}: cannot read config ({err.strerror})") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
        tree = _merge(tree, loaded or {})
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(tree, key, value)
    return _from_dict(RunConfig, tree, "")


def _merge(base: dict, update: dict) -> dict:
    """Deep-merge `update` into a copy of `base` (a YAML file refines, not replaces, a stored config)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "args":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_config(config_path: Path | None, default: Path, overrides: dict, stored: dict | None = None) -> RunConfig:
    """A run's config: shipped defaults < --config < named flags < --set; when resuming, the run's
    stored config (`stored`, from its last.pt) stands in for the defaults, and its model must stay."""
    if stored is None:
        return load_config(config_path or default, overrides)
    cfg = load_config(config_path, overrides, base=stored)
    if cfg.model != load_config(None, base=stored).model:
        raise ConfigError(f"{config_path}: its model section differs from the run's own; "
                          f"resume without --config or start a new --out")
    return cfg


def save_config(cfg: RunConfig, path: Path) -> None:
    """Write the resolved config, so a run dir records exactly what produced it."""
    Path(path).write_text(yaml.safe_dump(plain(cfg), sort_keys=False))


def plain(cfg: RunConfig) -> dict:
    """The config as nested dicts of plain values (lists for tuples): what YAML and checkpoints store."""
    def listify(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: listify(item) for key, item in value.items()}
        return list(value) if isinstance(value, tuple) else value
    return listify(asdict(cfg))
