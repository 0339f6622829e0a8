"""RGB <-> CIE Lab (D65) and the one normalisation the networks see.

Ranges: `rgb` is float32 (H, W, 3) in [0, 1] (sRGB); `L` is in [0, 100]; `a`, `b` lie within about
±110 for sRGB colours (the sRGB gamut spans a in [-86, 98], b in [-108, 95]). Networks see
`L_n = L / 50 - 1` and `ab_n = ab / 110`, both in [-1, 1]. This is the only module that knows the
constants 50 and 110.

Conversion is OpenCV's float32 path (matches scikit-image within ~0.2 Lab units and is several times
faster on full-resolution photos); OpenCV's 8-bit Lab is never used: it quantises a*b* to 1 unit.
An 8-bit gray file's L comes from a 256-entry table of that same conversion (`gray_to_L`), and an
8-bit output is rounded straight from OpenCV's result (`lab_to_rgb8_in_gamut`): the same numbers
with fewer full-resolution passes (docs/performance.md).
"""
import functools

import cv2
import numpy as np
import torch

L_SCALE = 50.0
AB_SCALE = 110.0


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float sRGB in [0, 1] -> (H, W, 3) float32 Lab."""
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """(H, W, 3) float Lab -> (H, W, 3) float32 sRGB, clipped to [0, 1]."""
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def rgb_to_L(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) sRGB in [0, 1] -> (H, W) float32 L, the lightness a grayscale print of it shows."""
    return np.ascontiguousarray(rgb_to_lab(rgb)[..., 0])  # a copy: a view would keep all of Lab alive


@functools.cache
def _gray_L_table() -> np.ndarray:
    """(1, 256) float32: rgb_to_L of each 8-bit gray level, from the very conversion photos get."""
    levels = np.arange(256, dtype=np.float32) / 255.0
    return rgb_to_L(np.repeat(levels[None, :, None], 3, axis=2))


def gray_to_L(gray: np.ndarray) -> np.ndarray:
    """(H, W) uint8 gray -> (H, W) float32 L, equal to rgb_to_L of the same picture as RGB floats.

    One table lookup (cv2.LUT) instead of decoding to three float channels and converting all of
    them: 10 ms against ~200 for a 12 MP scan, the commonest input there is.
    """
    return cv2.LUT(gray, _gray_L_table())


def normalize_L(L: np.ndarray | torch.Tensor):
    """L in [0, 100] -> L_n in [-1, 1]."""
    return L / L_SCALE - 1.0


def normalize_ab(ab: np.ndarray | torch.Tensor):
    """ab in Lab units -> ab_n (about [-1, 1])."""
    return ab / AB_SCALE


def denormalize_L(L_n: np.ndarray | torch.Tensor):
    """L_n in [-1, 1] -> L in [0, 100]."""
    return (L_n + 1.0) * L_SCALE


def denormalize_ab(ab_n: np.ndarray | torch.Tensor):
    """ab_n in [-1, 1] -> ab in Lab units."""
    return ab_n * AB_SCALE


def merge_lab(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Pair chroma with the photo's own lightness, never a predicted one.

    L: (H, W) in [0, 100], copied untouched. ab: (h, w, 2) in Lab units; resized here to (H, W)
    with bilinear interpolation when its size differs (chroma is smooth, so this loses little).
    Returns (H, W, 3) float32 Lab.
    """
    height, width = L.shape
    if not np.isfinite(ab.sum()):  # a broken network's NaN: gray there, before the resize spreads it
        ab = np.nan_to_num(ab, nan=0.0, posinf=0.0, neginf=0.0)
    channels = [np.ascontiguousarray(ab[..., i], dtype=np.float32) for i in (0, 1)]
    if ab.shape[:2] != (height, width):  # per channel: cv2 resizes 1-channel planes much faster
        channels = [cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in channels]
    return cv2.merge([np.ascontiguousarray(L, dtype=np.float32), *channels])


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness M^(3) of an sRGB image, on the 0-255 scale.

    rgb: (H, W, 3) in [0, 1]. M = sqrt(sd_rg^2 + sd_yb^2) + 0.3 * sqrt(mean_rg^2 + mean_yb^2) with
    rg = R - G, yb = (R + G) / 2 - B. 0 for any gray image; ~15 "slightly", ~33 "moderately",
    ~59 "quite", 82+ "extremely" colourful, as the paper's scale reads.
    """
    rgb255 = np.asarray(rgb, dtype=np.float64) * 255.0
    rg = rgb255[..., 0] - rgb255[..., 1]
    yb = 0.5 * (rgb255[..., 0] + rgb255[..., 1]) - rgb255[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def ab_mean_spread(ab: torch.Tensor, eps: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The global chroma statistics of (B, 2, H, W) a*b* (any units): mean (B, 2) and spread (B,).

    spread is the mean distance of each pixel's (a*, b*) from that mean. The one definition of what a
    colour hint asks for, what a mood targets and what the hint loss scores (mood.ab_stats,
    hint.stats_hint, losses.hint_stats_loss). eps > 0 keeps the distance's gradient finite where a
    pixel sits on the mean (a flat prediction).
    """
    mean = ab.mean(dim=(2, 3))
    spread = torch.sqrt((ab - mean[:, :, None, None]).pow(2).sum(dim=1) + eps).mean(dim=(1, 2))
    return mean, spread


# OpenCV's D65 white point (X, Y, Z) and the sRGB XYZ -> linear RGB matrix it uses (IEC 61966-2-1).
D65_WHITE = (0.950456, 1.0, 1.088754)
XYZ_TO_LINEAR_RGB = ((3.240479, -1.53715, -0.498535),
                     (-0.969256, 1.875991, 0.041556),
                     (0.055648, -0.204043, 1.057311))

Array = np.ndarray | torch.Tensor


def _where(condition: Array, when_true: Array, when_false: Array) -> Array:
    return (torch.where if isinstance(condition, torch.Tensor) else np.where)(condition, when_true, when_false)


def lab_to_linear_rgb(L: Array, a: Array, b: Array) -> tuple[tuple[Array, Array, Array], Array]:
    """CIE Lab planes -> unclipped linear-light sRGB planes (r, g, b), and the luminance Y.

    The one copy of these formulas, for numpy arrays (gamut mapping of rendered photos) and torch
    tensors (the differentiable render a perceptual loss needs) alike; any shape, elementwise.
    OpenCV's float Lab2RGB uses the same white point and matrix but clamps its output, so it cannot
    tell how far outside sRGB a colour lies.
    """
    fy = (L + 16.0) / 116.0
    x, y, z = (_cie_f_inverse(f) * white for f, white in zip((fy + a / 500.0, fy, fy - b / 200.0), D65_WHITE))
    linear = tuple(m_x * x + m_y * y + m_z * z for m_x, m_y, m_z in XYZ_TO_LINEAR_RGB)
    return linear, y


def _cie_f_inverse(f: Array) -> Array:
    """The inverse of CIE Lab's f: cube above 6/29, the linear toe below it."""
    return _where(f > 6.0 / 29.0, f * f * f, 3.0 * (6.0 / 29.0) ** 2 * (f - 4.0 / 29.0))


def encode_srgb(linear: Array) -> Array:
    """Linear light in [0, 1] -> sRGB-encoded values (the IEC 61966-2-1 transfer curve).

    The power branch sees at least 1e-8 so that its gradient stays finite at 0 (that branch is only
    taken above 0.0031308, so the value is unchanged).
    """
    floored = linear.clamp_min(1e-8) if isinstance(linear, torch.Tensor) else np.maximum(linear, 1e-8)
    return _where(linear <= 0.0031308, 12.92 * linear, 1.055 * floored ** (1.0 / 2.4) - 0.055)


def lab_to_rgb_torch(L_n: torch.Tensor, ab_n: torch.Tensor) -> torch.Tensor:
    """Differentiable L_n (B, 1, H, W), ab_n (B, 2, H, W) -> sRGB (B, 3, H, W) in [0, 1], channels clipped.

    cv2 and scikit-image give no gradients, which a perceptual (LPIPS) loss on the prediction needs.
    """
    a, b = denormalize_ab(ab_n).unbind(dim=1)
    linear, _ = lab_to_linear_rgb(denormalize_L(L_n)[:, 0], a, b)
    return encode_srgb(torch.stack(linear, dim=1).clamp(0.0, 1.0)).clamp(0.0, 1.0)


def lab_to_rgb_in_gamut(lab: np.ndarray) -> np.ndarray:
    """(H, W, 3) Lab -> (H, W, 3) float32 sRGB in [0, 1] with each pixel's L kept: the render users get.

    Clipping R, G, B separately (what `lab_to_rgb` does) moves lightness, by 10+ L units for a
    saturated colour at a dark or bright L. Instead, a colour outside sRGB is mixed, in linear light,
    with the gray of the same luminance just enough to come inside: luminance (so L) stays exact and
    the hue direction from white is kept; only chroma drops. Only pixels that came out clipped are
    examined again, so a photo costs one full conversion plus a little. Validation renders the same
    way, so a val number scores the picture a user receives. 8-bit outputs: `lab_to_rgb8_in_gamut`.
    """
    rgb = lab_to_rgb(lab)
    # Clipped pixels sit exactly on 0 or 1; in-gamut ones only rarely (pure black or white).
    on_edge = np.flatnonzero(cv2.inRange(rgb, (1e-6,) * 3, (1.0 - 1e-6,) * 3) == 0)
    if on_edge.size:
        outside, inside_rgb = _desaturate_into_gamut(np.take(lab.reshape(-1, 3), on_edge, axis=0))
        rgb.reshape(-1, 3)[on_edge[outside]] = inside_rgb
    return rgb


def lab_to_rgb8_in_gamut(lab: np.ndarray) -> np.ndarray:
    """(H, W, 3) Lab -> (H, W, 3) uint8 sRGB: `lab_to_rgb_in_gamut` rounded to 8 bits, in fewer passes.

    OpenCV's float conversion already lands in [0, 1], so it is rounded at once (one saturating
    pass), and the clipped pixels are found on the 8-bit picture: a clipped channel rounds to 0 or
    255. That takes in every pixel the float search would (and some dark or bright ones inside
    sRGB, which `_desaturate_into_gamut` leaves as they are), so the pixels match it to rounding.
    """
    rgb8 = cv2.convertScaleAbs(cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB),
                               alpha=255.0)
    on_edge = np.flatnonzero(cv2.inRange(rgb8, (1,) * 3, (254,) * 3) == 0)
    if on_edge.size:
        outside, inside_rgb = _desaturate_into_gamut(np.take(lab.reshape(-1, 3), on_edge, axis=0))
        rgb8.reshape(-1, 3)[on_edge[outside]] = cv2.convertScaleAbs(inside_rgb, alpha=255.0)
    return rgb8


def _desaturate_into_gamut(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) Lab -> (n,) int64 indices of the rows outside sRGB, and their (n, 3) sRGB in gamut with
    the same L.

    The gray of luminance Y is (Y, Y, Y) in linear RGB, so Y + w * (rgb - Y) has luminance Y for
    every w; w is the largest weight keeping all three channels in [0, 1], set by the largest and
    smallest one. Plane by plane, and the mix only for the rows outside: a photo's blown highlights
    send a few percent of its pixels here.
    """
    linear, y = lab_to_linear_rgb(*np.ascontiguousarray(lab.T))  # 3 x (N,), unclipped
    highest = np.maximum(np.maximum(linear[0], linear[1]), linear[2])
    lowest = np.minimum(np.minimum(linear[0], linear[1]), linear[2])
    with np.errstate(divide="ignore", invalid="ignore"):  # the divisions only count where selected
        weight = np.minimum(np.where(highest > 1.0, (1.0 - y) / (highest - y), 1.0),
                            np.where(lowest < 0.0, y / (y - lowest), 1.0))
    # Under 1e-3 of mixing, plain clipping moves L by less than 0.1: OpenCV's value stays.
    outside = np.flatnonzero(weight < 1.0 - 1e-3)
    gray, weight = y[outside], np.maximum(weight[outside], 0.0)
    mixed = np.stack([gray + weight * (channel[outside] - gray) for channel in linear], axis=1)
    return outside, encode_srgb(np.clip(mixed, 0.0, 1.0, out=mixed))
