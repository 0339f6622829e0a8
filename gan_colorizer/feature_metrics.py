"""Distances in pretrained networks' feature spaces: LPIPS per image, FID-lite and KID over a set.

Images are `rgb8`: (H, W, 3) uint8 sRGB. The networks come only from the torch cache
(`runtime.cached_weights`): a missing file is a MissingWeightsError naming it, never a download.
`metrics.Scorer` runs them in batches beside the pixel metrics; docs/metrics.md says what each
measures and how our numbers compare with published ones.
"""
import contextlib
import io
import math
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path

import lpips
import numpy as np
import torch
import torch.nn.functional as F
from pytorch_fid.fid_score import calculate_frechet_distance
from pytorch_fid.inception import InceptionV3
from torch import nn

from gan_colorizer import runtime
from gan_colorizer.errors import MissingWeightsError
from gan_colorizer.images import fit_within

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
    return fit_within(rgb8, LPIPS_MAX_SIDE)


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
