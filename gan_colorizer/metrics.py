"""Image-quality metrics for colorization: PSNR, SSIM, LPIPS, FID-lite, KID and colourfulness.

Every input image is `rgb8`: (H, W, 3) uint8 sRGB, prediction and ground truth of equal size. Why
each metric is here and how the numbers compare with published ones: docs/metrics.md.

- `psnr`, `ssim`: per image, averaged over images. They reward the safe, desaturated answer.
- LPIPS (`lpips` package): per image, network `squeeze` (default), `alex` or `vgg`.
- FID-lite and KID: set-level distances between Inception-v3 pool features (pytorch-fid's network)
  of all predictions and all ground truths. FID needs n >= 2 and depends on n; KID is unbiased.
- Colourfulness: Hasler-Süsstrunk M^(3) on 0-255 sRGB (`color.colourfulness`); ΔCF shows sepia.
- Chroma accuracy (`chroma_errors`): per image a*b* RMSE, Zhang et al.'s AuC and the share of pixels
  more than 20 units off.

The pretrained networks come only from the torch cache (`runtime.cached_weights`): a missing file is
a MissingWeightsError naming it, never a download.
"""
import contextlib
import io
import math
import pickle
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import lpips
import numpy as np
import torch
import torch.nn.functional as F
from pytorch_fid.fid_score import calculate_frechet_distance
from pytorch_fid.inception import InceptionV3
from skimage.metrics import structural_similarity
from torch import nn

from gan_colorizer import color, runtime
from gan_colorizer.errors import ConfigError, MissingWeightsError

PSNR_CAP_DB = 100.0  # identical images: MSE 0 gives +inf, which JSON cannot hold and means cannot average
LPIPS_NETS = {  # torchvision's ImageNet backbone files, which lpips loads from the torch cache
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
}
LPIPS_MAX_SIDE = 512  # LPIPS runs at the image's own size, downscaled (area) when the long side is larger
LPIPS_MIN_SIDE = 32  # below this the backbones' pooling stacks run out of pixels (squeezenet at 16)
INCEPTION_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_SIZE = 299  # pytorch-fid resizes every image bilinearly to 299 x 299
INCEPTION_DIMS = 2048  # pool3 features, the layer FID is defined on


@dataclass(frozen=True)
class Column:
    """How one summary number is shown and compared: its table title, format and better direction.

    better: "max" or "min" when a model should push the number that way (best.pt may be chosen by
    it); "" for descriptions of the images (cf_pred, cf_gt, delta_cf_means, where 0 is best).
    """

    title: str
    spec: str
    better: str = ""


# Every summary number, in table order: the one list that validation, TensorBoard (val/<key>),
# `evaluate`'s table, JSON and CSV read. A new metric is a row here plus its computation in
# `per_image` (one number per image) or in `Scorer.result` (a number over the set).
COLUMNS: dict[str, Column] = {
    "n": Column("n", "9d"),
    "psnr": Column("PSNR", "9.2f", "max"),
    "ssim": Column("SSIM", "9.4f", "max"),
    "lpips": Column("LPIPS", "9.4f", "min"),
    "fid_lite": Column("FID-lite", "9.2f", "min"),
    "kid": Column("KID", "9.4f", "min"),
    "cf_pred": Column("CF pred", "9.1f"),
    "cf_gt": Column("CF truth", "9.1f"),
    "delta_cf_means": Column("dCF means", "+9.1f"),
    "delta_cf_per_image": Column("|dCF| img", "9.1f", "min"),
    "ab_rmse": Column("ab RMSE", "9.2f", "min"),
    "ab_auc": Column("ab AuC", "9.4f", "max"),
    "ab_far": Column("ab >20", "9.4f", "min"),
}
METRIC_KEYS = tuple(COLUMNS)


def better(name: str, key: str = "train.best_metric") -> str:
    """"max" or "min" for a metric a model can be chosen by; a ConfigError naming `key` otherwise."""
    column = COLUMNS.get(name)
    if column is None or not column.better:
        choices = ", ".join(k for k, c in COLUMNS.items() if c.better)
        raise ConfigError(f"{key}: {name!r} is not a metric to choose a model by; choose one of {choices}")
    return column.better
PER_IMAGE_KEYS = ("psnr", "ssim", "lpips", "cf_pred", "cf_gt", "ab_rmse", "ab_auc", "ab_far")  # numbers every image gets; lpips comes batched
ROW_KEYS = ("image", "prediction", *PER_IMAGE_KEYS)  # per-image CSV rows


def psnr(pred_rgb8: np.ndarray, gt_rgb8: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels (peak 255).

    Identical images give PSNR_CAP_DB (100 dB) instead of infinity. The cap clips only differences
    that tiny (one pixel one level off in a 12-megapixel image is 124 dB).
    """
    mse = np.mean((pred_rgb8.astype(np.float64) - gt_rgb8.astype(np.float64)) ** 2)
    if mse == 0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, float(10.0 * np.log10(255.0**2 / mse)))


def ssim(pred_rgb8: np.ndarray, gt_rgb8: np.ndarray) -> float:
    """Mean structural similarity (scikit-image, 7 x 7 uniform window, per channel), 1 for identical images.

    Images under 7 px on a side use the largest odd window that fits; under 3 px, SSIM reduces to its
    luminance term (a 1 x 1 window has no variance).
    """
    short = min(pred_rgb8.shape[:2])
    win_size = min(7, short if short % 2 else short - 1)
    return float(structural_similarity(pred_rgb8, gt_rgb8, data_range=255, channel_axis=2,
                                       win_size=max(win_size, 1), use_sample_covariance=win_size >= 3))


def colourfulness8(rgb8: np.ndarray) -> float:
    """Hasler-Süsstrunk M^(3) of an (H, W, 3) uint8 image on the 0-255 scale; 0 for any gray image."""
    return color.colourfulness(rgb8.astype(np.float32) / 255.0)


AUC_MAX_DISTANCE = 150  # Zhang et al. (ECCV 2016) sweep a*b* thresholds 0..150
FAR_DISTANCE = 20.0  # a*b* units: another colour, not a shade of it (a just-noticeable difference is ~2.3)


def _ab_distances(pred_ab: np.ndarray, true_ab: np.ndarray) -> np.ndarray:
    """(H, W) Euclidean a*b* distance of (H, W, 2) predictions from (H, W, 2) truths, in Lab units."""
    if pred_ab.shape != true_ab.shape or pred_ab.ndim != 3 or pred_ab.shape[2] != 2:
        raise ValueError(f"a*b* arrays must both be (H, W, 2), got {pred_ab.shape} and {true_ab.shape}")
    return _plane_distances(*(cv2.split(np.ascontiguousarray(ab, dtype=np.float32)) for ab in (pred_ab, true_ab)))


def _plane_distances(pred_planes: tuple[np.ndarray, ...], true_planes: tuple[np.ndarray, ...]) -> np.ndarray:
    """(H, W) distance between (a, b) planes; cv2 on contiguous planes, 10x faster than numpy on a
    channel-last array's strided views (0.9 s for 12 MP)."""
    return cv2.magnitude(*(cv2.subtract(pred, true) for pred, true in zip(pred_planes, true_planes)))


def ab_rmse(pred_ab: np.ndarray, true_ab: np.ndarray) -> float:
    """Root mean square a*b* distance over pixels, Lab units (0 = identical chroma).

    Minimised by the conditional mean colour, which averages competing hues to brown-gray: read it
    with colourfulness and KID (docs/metrics.md).
    """
    return _rms(_ab_distances(pred_ab, true_ab))


def ab_auc(pred_ab: np.ndarray, true_ab: np.ndarray, max_distance: int = AUC_MAX_DISTANCE) -> float:
    """Zhang et al. (ECCV 2016) AuC, as a fraction in [0, 1] (the paper prints it as a percentage).

    The share of pixels whose a*b* lies within distance t of the truth (d <= t), averaged over
    t = 0, 1, ..., max_distance: the normalised area under that cumulative curve. A pixel counts
    for the thresholds t >= ceil(d), so the average is 1 - mean(min(ceil(d), T + 1)) / (T + 1)
    with T = max_distance: one pass, no histogram. Every pixel off by 5 gives 1 - 5 / 151. This is
    the plain variant; the paper also reports one reweighted by colour rarity.
    """
    return _auc(_ab_distances(pred_ab, true_ab), max_distance)


def ab_far_share(pred_ab: np.ndarray, true_ab: np.ndarray, threshold: float = FAR_DISTANCE) -> float:
    """Share of pixels whose a*b* is more than `threshold` Lab units from the truth: visibly wrong colour."""
    return _share_above(_ab_distances(pred_ab, true_ab), threshold)


def chroma_errors(pred_rgb8: np.ndarray, true_rgb8: np.ndarray) -> dict[str, float]:
    """{"ab_rmse", "ab_auc", "ab_far"} of an (H, W, 3) uint8 prediction against its (H, W, 3) uint8 truth.

    Defaults as in ab_auc (t = 0..150) and ab_far_share (> 20). Each image goes to Lab once
    (color.rgb_to_lab, float) and the distances are computed once for all three.
    """
    if pred_rgb8.shape != true_rgb8.shape:
        raise ValueError(f"prediction is {pred_rgb8.shape}, truth is {true_rgb8.shape}")
    pred_planes, true_planes = (cv2.split(color.rgb_to_lab(rgb8.astype(np.float32) / 255.0))[1:]
                                for rgb8 in (pred_rgb8, true_rgb8))
    distances = _plane_distances(pred_planes, true_planes)
    return {"ab_rmse": _rms(distances), "ab_auc": _auc(distances, AUC_MAX_DISTANCE),
            "ab_far": _share_above(distances, FAR_DISTANCE)}


def _rms(distances: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(distances), dtype=np.float64)))


def _auc(distances: np.ndarray, max_distance: int) -> float:
    steps_missed = np.minimum(np.ceil(distances), max_distance + 1)
    return float(1.0 - steps_missed.mean(dtype=np.float64) / (max_distance + 1))


def _share_above(distances: np.ndarray, threshold: float) -> float:
    return float(np.mean(distances > threshold, dtype=np.float64))


def per_image(pred_rgb8: np.ndarray, gt_rgb8: np.ndarray, cf_gt: float) -> dict[str, float]:
    """Every per-image number of PER_IMAGE_KEYS but LPIPS (a network, run in batches by Scorer).

    cf_gt: the truth's colourfulness, computed once per truth however many predictions it has.
    """
    return {"psnr": psnr(pred_rgb8, gt_rgb8), "ssim": ssim(pred_rgb8, gt_rgb8), "lpips": math.nan,
            "cf_pred": colourfulness8(pred_rgb8), "cf_gt": cf_gt, **chroma_errors(pred_rgb8, gt_rgb8)}


def _to_tensor(images: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """Same-size (H, W, 3) uint8 images -> (B, 3, H, W) float32 in [0, 1] on `device`."""
    batch = torch.from_numpy(np.stack(images)).to(device)
    return batch.permute(0, 3, 1, 2).float().div_(255.0)


def _build_quietly(builder: Callable[[], nn.Module], weights: Path) -> nn.Module:
    """Build a network whose weights file was found, without its prints and deprecation warnings."""
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return builder()
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as err:  # foreign or cut file
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MissingWeightsError(f"{weights}: not a usable {weights.name} ({reason}); replace it") from None


def load_lpips(net: str = "squeeze", device: torch.device | str = "cpu") -> nn.Module:
    """The LPIPS v0.1 model (ImageNet backbone + the package's calibrated linear heads), in eval mode.

    Checks for the backbone file in the torch cache first, so a missing file is a
    MissingWeightsError naming it instead of an attempted download.
    """
    if net not in LPIPS_NETS:
        raise ValueError(f"LPIPS network must be one of {', '.join(LPIPS_NETS)}, got {net!r}")
    weights = runtime.cached_weights(LPIPS_NETS[net])
    model = _build_quietly(lambda: lpips.LPIPS(net=net, pretrained=True, verbose=False), weights)
    return model.to(device).eval()


def _lpips_size(rgb8: np.ndarray) -> np.ndarray:
    height, width = rgb8.shape[:2]
    scale = LPIPS_MAX_SIDE / max(height, width)
    if scale >= 1:
        return rgb8
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb8, size, interpolation=cv2.INTER_AREA)


@torch.inference_mode()
def lpips_distances(model: nn.Module, preds: list[np.ndarray], gts: list[np.ndarray],
                    batch_size: int = 16) -> np.ndarray:
    """LPIPS of each (pred, gt) pair, 0 for identical images; (n,) float64.

    Pairs are compared at their own size (long side capped at LPIPS_MAX_SIDE); pairs of equal size
    share network calls of up to `batch_size`. Under LPIPS_MIN_SIDE px a pair gets nan.
    """
    device = next(model.parameters()).device
    distances = np.full(len(preds), np.nan)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    resized = [(_lpips_size(p), _lpips_size(g)) for p, g in zip(preds, gts)]
    for index, (pred, _) in enumerate(resized):
        by_shape.setdefault(pred.shape, []).append(index)
    for shape, same_size in by_shape.items():
        if min(shape[:2]) < LPIPS_MIN_SIDE:
            continue
        for start in range(0, len(same_size), batch_size):
            indices = same_size[start:start + batch_size]
            pred = _to_tensor([resized[i][0] for i in indices], device)
            gt = _to_tensor([resized[i][1] for i in indices], device)
            distances[indices] = model(pred, gt, normalize=True).flatten().double().cpu().numpy()
    return distances


def load_inception(device: torch.device | str = "cpu") -> nn.Module:
    """pytorch-fid's InceptionV3 (TF FID weights) returning 2048-d pool3 features, in eval mode."""
    weights = runtime.cached_weights(INCEPTION_WEIGHTS)
    block = InceptionV3.BLOCK_INDEX_BY_DIM[INCEPTION_DIMS]
    # resize_input=False: inception_features resizes each image itself, so sizes may differ in a batch
    model = _build_quietly(lambda: InceptionV3([block], resize_input=False), weights)
    # channels_last: the same function, ~25% less CPU time per image in oneDNN's convolutions
    return model.to(device, memory_format=torch.channels_last).eval()


@torch.inference_mode()
def inception_features(model: nn.Module, images: list[np.ndarray], batch_size: int = 16) -> np.ndarray:
    """(n, 2048) float64 pool3 features of (H, W, 3) uint8 images of any sizes.

    Each image is resized bilinearly to 299 x 299 exactly as pytorch-fid's network does internally
    (no antialiasing), so features match pytorch-fid's for the same image.
    """
    device = next(model.parameters()).device
    features = [np.empty((0, INCEPTION_DIMS))]
    for start in range(0, len(images), batch_size):
        batch = torch.cat([F.interpolate(_to_tensor([image], device), size=(INCEPTION_SIZE, INCEPTION_SIZE),
                                         mode="bilinear", align_corners=False)
                           for image in images[start:start + batch_size]])
        pooled = model(batch.contiguous(memory_format=torch.channels_last))[0]  # (B, 2048, 1, 1)
        features.append(pooled.flatten(1).double().cpu().numpy())
    return np.concatenate(features)


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (n, d) and (m, d); nan if n or m < 2.

    With n or m <= d (the usual case: 2048-d features, a few hundred photos), the covariances have
    rank < n and Tr sqrt(S_a S_b) equals the nuclear norm of A B^T / sqrt((n-1)(m-1)) (A, B the
    centred features): exact, and milliseconds instead of the 15-50 s scipy's sqrtm takes on a
    2048 x 2048 matrix on a CPU. Larger sets go to pytorch-fid's `calculate_frechet_distance`.
    """
    n, m = len(feats_a), len(feats_b)
    if min(n, m) < 2:
        return math.nan
    mean_a, mean_b = feats_a.mean(axis=0), feats_b.mean(axis=0)
    if min(n, m) > feats_a.shape[1]:
        return float(calculate_frechet_distance(mean_a, np.cov(feats_a, rowvar=False),
                                                mean_b, np.cov(feats_b, rowvar=False)))
    centred_a, centred_b = feats_a - mean_a, feats_b - mean_b
    trace_sqrt = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum() / math.sqrt((n - 1) * (m - 1))
    trace_a = np.square(centred_a).sum() / (n - 1)
    trace_b = np.square(centred_b).sum() / (m - 1)
    return float(np.square(mean_a - mean_b).sum() + trace_a + trace_b - 2.0 * trace_sqrt)


def kernel_inception_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3 (Bińkowski et al. 2018); nan if n or m < 2.

    Computed once over all pairs (no subsets): the lowest-variance unbiased estimate. Being unbiased,
    it is near 0 (and may be negative) for two samples of one distribution; for a set against itself
    it is slightly negative, because self-pairs are left out of the within-set terms.
    """
    n, m = len(feats_a), len(feats_b)
    if min(n, m) < 2:
        return math.nan
    dims = feats_a.shape[1]
    k_aa = (feats_a @ feats_a.T / dims + 1.0) ** 3
    k_bb = (feats_b @ feats_b.T / dims + 1.0) ** 3
    k_ab = (feats_a @ feats_b.T / dims + 1.0) ** 3
    within_a = (k_aa.sum() - np.trace(k_aa)) / (n * (n - 1))
    within_b = (k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
    return float(within_a + within_b - 2.0 * k_ab.mean())


class Scorer:
    """Accumulates every metric over images, one ground truth and its named predictions at a time.

    `add(gt, {"model": pred, "gray": gray})` scores each prediction against the same truth, whose
    Inception features and colourfulness are computed once. Network calls wait until `batch_size`
    images are pending. Pass `lpips_model` / `inception` (from load_lpips / load_inception) to get
    LPIPS / FID-lite and KID; without them those keys are nan and nothing expensive runs.
    """

    def __init__(self, lpips_model: nn.Module | None = None, inception: nn.Module | None = None,
                 batch_size: int = 8) -> None:
        self.lpips_model, self.inception, self.batch_size = lpips_model, inception, batch_size
        self.rows: list[dict] = []  # per image and prediction, keyed by ROW_KEYS
        self._labels: tuple[str, ...] | None = None
        self._pending: list[tuple[np.ndarray, dict[str, np.ndarray], list[dict]]] = []
        self._gt_features: list[np.ndarray] = []
        self._pred_features: dict[str, list[np.ndarray]] = {}

    def add(self, gt_rgb8: np.ndarray, preds: Mapping[str, np.ndarray], name: str = "") -> None:
        """Score predictions (H, W, 3) uint8 against their truth (H, W, 3) uint8 of the same size.

        Every call must name the same predictions (e.g. always "model" and "gray").
        """
        if self._labels is None:
            self._labels = tuple(preds)
        if tuple(preds) != self._labels:
            raise ValueError(f"{name}: predictions {tuple(preds)} differ from the first image's {self._labels}")
        cf_gt = colourfulness8(gt_rgb8)
        new_rows = []
        for label, pred in preds.items():
            if pred.shape != gt_rgb8.shape:
                raise ValueError(f"{name}: prediction {label} is {pred.shape}, truth is {gt_rgb8.shape}")
            new_rows.append({"image": name, "prediction": label, **per_image(pred, gt_rgb8, cf_gt)})
        self.rows.extend(new_rows)
        self._pending.append((gt_rgb8, dict(preds), new_rows))
        if len(self._pending) * (1 + len(preds)) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        """Run the networks on the pending images and file their results."""
        if not self._pending:
            return
        gts = [gt for gt, _, _ in self._pending]
        if self.inception is not None:
            self._gt_features.append(inception_features(self.inception, gts))
        for position, label in enumerate(self._labels):
            preds = [pred_by_label[label] for _, pred_by_label, _ in self._pending]
            if self.lpips_model is not None:
                distances = lpips_distances(self.lpips_model, preds, gts)
                for (_, _, rows), distance in zip(self._pending, distances):
                    rows[position]["lpips"] = float(distance)
            if self.inception is not None:
                self._pred_features.setdefault(label, []).append(inception_features(self.inception, preds))
        self._pending.clear()

    def result(self) -> dict[str, dict[str, float]]:
        """{prediction label: {key: value for key in METRIC_KEYS}}; n is an int, a metric without data nan.

        psnr, ssim, lpips and cf_* are means over images (lpips over those of at least LPIPS_MIN_SIDE
        px); delta_cf_means is mean cf_pred - mean cf_gt (negative: duller than the truth);
        delta_cf_per_image is the mean of |cf_pred - cf_gt| over images.
        """
        self._flush()
        gt_features = np.concatenate(self._gt_features) if self._gt_features else None
        summary = {}
        for label in self._labels or ():
            rows = [row for row in self.rows if row["prediction"] == label]
            column = {key: np.array([row[key] for row in rows], dtype=np.float64) for key in PER_IMAGE_KEYS}
            means = {key: float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
                     for key, values in column.items()}
            fid = kid = math.nan
            if gt_features is not None:
                pred_features = np.concatenate(self._pred_features[label])
                fid = frechet_distance(pred_features, gt_features)
                kid = kernel_inception_distance(pred_features, gt_features)
            summary[label] = {
                "n": len(rows), **means, "fid_lite": fid, "kid": kid,
                "delta_cf_means": means["cf_pred"] - means["cf_gt"],
                "delta_cf_per_image": float(np.abs(column["cf_pred"] - column["cf_gt"]).mean()),
            }
            summary[label] = {key: summary[label][key] for key in METRIC_KEYS}
        return summary
