"""Old-print and scan damage on the network's input L, so a model trained on clean photos also colours old scans.

Archive scans are faded, grainy, soft, scratched and saved as JPEG. A model that has only seen clean L
reads such damage as content (faded blacks and grain came out as a green wash). Training on damaged L
against the clean photo's a*b* teaches it to see through the damage, as DeOldify's degraded training
inputs and Real-ESRGAN's chain of degradations do. Here the chain follows the life of a print:

1. printing: uneven exposure (`exposure`) and lens or enlarger vignetting (`vignette`); film grain
   (`grain`: strongest in the midtones, clumped at a random size);
2. ageing: the tone curve fades (`fade`: lifted blacks, dimmer paper white, a midtone shift, crushed
   ends), the paper surface shows (`texture`), the print is scratched (`scratch`: thin lines, mostly
   vertical like film scratches) and collects dust, lint and spots (`dust`);
3. scanning: optics or focus soften everything before (`blur`, gaussian or a defocus disk); the
   sensor adds noise and faint streaks along the scan direction (`noise`);
4. saving: 8-bit JPEG at a random quality (`jpeg`, through cv2.imencode).

Each effect has a probability `<effect>_p` and strength ranges in `config.DegradeConfig`. Lengths
there are pixels of a 256-px short side (the size the network sees) and scale with min(H, W) / 256,
so a full-resolution photo, degraded and then shrunk for the network, looks like a degraded 256-px
crop; only JPEG works on the file's own 8-px blocks. Noise and smooth fields are drawn on that coarse
grid and resized, which keeps a 12 MP call fast. Every random choice comes from the caller's
Generator, in a fixed order: the same generator state gives the same output.
"""
import math
from collections.abc import Callable

import cv2
import numpy as np

from gan_colorizer import image_writer
from gan_colorizer.config import DegradeConfig

EFFECTS = ("exposure", "vignette", "grain", "fade", "texture", "scratch", "dust", "blur", "noise", "jpeg")
REFERENCE_SIDE = 256  # config lengths are pixels of an image with this short side
FIELD_SIDE = 32  # smooth fields (exposure drift, vignette) reach the image through a grid this size
L_MAX = 100.0
_SOFTEN = cv2.getGaussianKernel(5, 0.5, cv2.CV_32F)  # sigma 0.5 cells: hides the noise grid
_SOFTEN_GAIN = float(1.0 / (_SOFTEN**2).sum())  # white noise filtered by k (x) k has std sum(k^2): undo it
_LEVELS_PER_L = 10  # tone curves are tables over L in 0.1 steps
_LEVELS = np.linspace(0.0, L_MAX, int(L_MAX) * _LEVELS_PER_L + 1)
SHIFT = 4  # cv2 drawing takes fixed-point coordinates with this many fractional bits: sub-pixel marks

# "A typical aged scan" for `evaluate --degrade`: always degraded, moderate strengths, each effect
# about as often as in the family albums and archive boxes users scan.
DEGRADE_EVAL = DegradeConfig(
    p=1.0,
    exposure_p=0.5, exposure=(2.0, 5.0),
    vignette_p=0.4, vignette=(0.12, 0.25),
    grain_p=0.8, grain=(2.0, 4.0), grain_size=(0.8, 1.4),
    fade_p=1.0, fade_black=(8.0, 20.0), fade_white=(2.0, 10.0), fade_gamma=(0.9, 1.1), fade_clip=(0.0, 3.0),
    texture_p=0.15, texture=(0.8, 1.5),
    scratch_p=0.3, scratches=(1, 3),
    dust_p=0.6, dust=(5, 20),
    blur_p=0.7, blur=(0.5, 1.0),
    noise_p=0.6, noise=(0.8, 1.8),
    jpeg_p=0.7, jpeg_quality=(50, 85),
)


def degrade_L(L: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """Damage a lightness channel as an aged, scanned print would be, with the probabilities of `cfg`.

    L: (H, W) in [0, 100], any size from 1 x 1; not modified. Returns a new (H, W) float32 array in
    [0, 100]: an unchanged copy with probability 1 - cfg.p. cfg.p == 0 draws nothing from `rng`, so
    a run with degradation off consumes exactly the random numbers it did before this existed.
    """
    return apply_effects(L, choose_effects(cfg, rng), cfg, rng)


def choose_effects(cfg: DegradeConfig, rng: np.random.Generator) -> tuple[str, ...]:
    """The effects one sample gets, in EFFECTS order: none with probability 1 - cfg.p, else each by its `_p`."""
    if cfg.p == 0.0 or rng.random() >= cfg.p:
        return ()
    return tuple(name for name in EFFECTS if rng.random() < getattr(cfg, f"{name}_p"))


def apply_effects(L: np.ndarray, effects: tuple[str, ...], cfg: DegradeConfig,
                  rng: np.random.Generator) -> np.ndarray:
    """Apply the named effects (names from EFFECTS, in that order) with strengths drawn from `cfg`.

    L: (H, W) in [0, 100], not modified. Returns a new (H, W) float32 array in [0, 100].
    """
    if L.ndim != 2 or L.size == 0:
        raise ValueError(f"L must be a non-empty (H, W) array, got shape {L.shape}")
    out = np.array(L, dtype=np.float32)
    for name in effects:
        out = _APPLY[name](out, cfg, rng)
    return np.clip(out, 0.0, L_MAX, out=out)


def _scale(shape: tuple[int, ...]) -> float:
    """Config lengths -> this image's pixels; never below 1, so a tiny crop still gets pixel-sized marks."""
    return max(1.0, min(shape) / REFERENCE_SIDE)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _white_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 uniform noise, mean 0, std 1: four times faster than numpy's float32 normals,
    and after softening, blur or JPEG its distribution does not show."""
    noise = rng.random(shape, dtype=np.float32)
    noise -= 0.5
    noise *= math.sqrt(12.0)
    return noise


def _noise_grid(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Noise on a grid of `cell`-px squares covering `shape`, softened (std ~1) so the grid never shows."""
    grid = _white_noise(rng, (math.ceil(shape[0] / cell), math.ceil(shape[1] / cell)))
    return cv2.sepFilter2D(grid, -1, _SOFTEN, _SOFTEN, borderType=cv2.BORDER_REFLECT) * _SOFTEN_GAIN


def _noise_field(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """(H, W) float32 noise with std about 1 whose blobs are about `cell` px across.

    Drawn on the coarse grid and resized up (bicubic): the cost is that of the grid plus one
    resize, whatever the cell size.
    """
    if cell <= 1.0:  # finer than a pixel: plain white noise
        return _white_noise(rng, shape)
    return cv2.resize(_noise_grid(rng, shape, cell), (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _stretch(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A smooth low-resolution field (h, w) -> (H, W): bicubic to at most FIELD_SIDE a side, then bilinear.

    Two steps because cv2's bicubic is slow at large factors (tens of ms from 4 x 4 to 3 MP), while
    the field is smooth enough at FIELD_SIDE for bilinear to show no edges.
    """
    height, width = shape
    coarse = cv2.resize(field, (min(FIELD_SIDE, width), min(FIELD_SIDE, height)), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)


def _expose(L: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """Uneven exposure or development: a smooth brightness drift across the frame (a few cells wide)."""
    cells = int(rng.integers(2, 5))
    drift = _white_noise(rng, (cells, cells)) * _uniform(rng, cfg.exposure)
    return L + _stretch(drift, L.shape)


def _vignette(L: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """Corners darker than the centre (lens or enlarger falloff): L times 1 - v * r^2, r = 1 at the corners."""
    strength = _uniform(rng, cfg.vignette)
    centre_y, centre_x = (float(c) for c in rng.uniform(-0.2, 0.2, size=2))  # a crop is rarely centred on the lens
    ys = (np.arange(FIELD_SIDE, dtype=np.float32) + 0.5) / FIELD_SIDE * 2.0 - 1.0 - centre_y
    xs = (np.arange(FIELD_SIDE, dtype=np.float32) + 0.5) / FIELD_SIDE * 2.0 - 1.0 - centre_x
    falloff = 1.0 - strength * np.minimum((ys[:, None] ** 2 + xs[None, :] ** 2) / 2.0, 1.0)
    return L * _stretch(falloff, L.shape)


def _grain(L: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """Film grain: fine grains plus coarser clumps, strongest in the midtones.

    Dense blacks and bare paper white show little grain, so its std is weighted by 0.25 + 0.75 *
    4x(1 - x), x = L / 100 (1 at mid-gray, 0.25 at the ends).
    """
    amplitude, cell = _uniform(rng, cfg.grain), _uniform(rng, cfg.grain_size) * _scale(L.shape)
    field = _noise_field(rng, L.shape, cell) + 0.5 * _noise_field(rng, L.shape, 3.0 * cell)
    x = np.clip(L, 0.0, L_MAX) / L_MAX
    weight = 0.25 + 3.0 * x * (1.0 - x)
    return L + (amplitude / math.sqrt(1.25)) * weight * field  # 1.25: variance of the two octaves


def _fade(L: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """The aged print's tone curve: ends clipped, a gamma, then blacks lifted and white dimmed.

    L in [low_clip, 100 - high_clip] maps to [black, white] through x^gamma; beyond it, flat
    (crushed shadows, blown highlights). Fading lowers contrast by (white - black) / 100.
    """
    low_clip, high_clip = _uniform(rng, cfg.fade_clip), L_MAX - _uniform(rng, cfg.fade_clip)
    gamma = _uniform(rng, cfg.fade_gamma)
    black, white = _uniform(rng, cfg.fade_black), L_MAX - _uniform(rng, cfg.fade_white)
    x = np.clip((_LEVELS - low_clip) / (high_clip - low_clip), 0.0, 1.0)
    curve = (black + (white - black) * x**gamma).astype(np.float32)
    # A table at 0.1-L steps (a quarter of an 8-bit level): one lookup per pixel instead of a power.
    return curve[(np.clip(L, 0.0, L_MAX) * _LEVELS_PER_L + 0.5).astype(np.intp)]


def _texture(L: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """Paper surface relief (silk, matte or fibre papers) lit from one side, most visible in light areas."""
    amplitude = _uniform(rng, cfg.texture)
    relief = _noise_grid(rng, L.shape, 1.5 * _scale(L.shape))
    angle = rng.uniform(0.0, 2.0 * math.pi)
    shade = (math.cos(angle) * cv2.Sobel(relief, cv2.CV_32F, 1, 0, ksize=3)
             + math.sin(angle) * cv2.Sobel(relief, cv2.CV_32F, 0, 1, ksize=3))
    shade *= amplitude / max(float(shade.std()), 1e-6)
    shade = cv2.resize(shade, (L.shape[1], L.shape[0]), interpolation=cv2.INTER_CUBIC)
    return L + (0.3 + 0.7 * np.clip(L, 0.0, L_MAX) / L_MAX) * shade


def _scratch(L: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """Thin bright or dark lines, in place: mostly near-vertical and long (film running through a
    camera or projector), sometimes short and at any angle (handling scratches on the print)."""
    height, width = L.shape
    scale = _scale(L.shape)
    for _ in range(int(rng.integers(cfg.scratches[0], cfg.scratches[1] + 1))):
        if rng.random() < 0.8:
            top, bottom = sorted(rng.uniform(0, height, 2)) if rng.random() < 0.5 else (0.0, float(height))
            ys = np.linspace(top, bottom, 6)
            xs = rng.uniform(0, width) + np.linspace(0, rng.normal(0, 0.02) * height, 6)
            xs = xs + np.cumsum(rng.normal(0, 0.3 * scale, 6))  # a scratch wanders a little
        else:
            length, angle = rng.uniform(10, 80) * scale, rng.uniform(0, math.pi)
            t = np.linspace(-0.5, 0.5, 4) * length
            centre_y, centre_x = rng.uniform(0, height), rng.uniform(0, width)
            ys = centre_y + t * math.sin(angle) + rng.normal(0, 0.5 * scale, 4)
            xs = centre_x + t * math.cos(angle) + rng.normal(0, 0.5 * scale, 4)
        thickness = max(1, round(scale * rng.uniform(0.5, 1.3)))
        _paint_line(L, xs, ys, thickness, is_bright=rng.random() < 0.5, opacity=rng.uniform(0.3, 0.85))
    return L


def _dust(L: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """Dust specks, spots and a few lint fibres, in place; bright (dust on the negative) or dark (on the print).

    The count is per 256 x 256 px of the 256-px-scaled image, so a whole photo gets as many per area
    as a crop of it. Sizes are heavy-tailed: mostly 1-px specks, a few larger spots.
    """
    height, width = L.shape
    scale = _scale(L.shape)
    area = height * width / (REFERENCE_SIDE * scale) ** 2
    for _ in range(rng.poisson(rng.integers(cfg.dust[0], cfg.dust[1] + 1) * area)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        is_bright, opacity = rng.random() < 0.5, rng.uniform(0.4, 1.0)
        if rng.random() < 0.1:  # a lint fibre: a short random walk
            steps = rng.normal(0, 2.5 * scale, (2, 5)).cumsum(axis=1)
            _paint_line(L, x + steps[0], y + steps[1], max(1, round(0.7 * scale)), is_bright, opacity)
            continue
        radius = scale * (0.3 + rng.exponential(0.5))
        axes, tilt = _fixed((radius, radius * rng.uniform(0.5, 1.0))), rng.uniform(0, 180)
        _paint(L, np.array([x]), np.array([y]), radius + 1, is_bright, opacity,
               lambda mask, xs, ys: cv2.ellipse(mask, _fixed((xs[0], ys[0])), axes, tilt, 0, 360, 255, -1,
                                                cv2.LINE_AA, SHIFT))
    return L


def _fixed(values) -> tuple[int, ...]:
    return tuple(int(round(v * (1 << SHIFT))) for v in values)


def _paint_line(L: np.ndarray, xs: np.ndarray, ys: np.ndarray, thickness: int, is_bright: bool,
                opacity: float) -> None:
    """Draw an anti-aliased polyline through (xs, ys) into L, in place."""
    def draw(mask: np.ndarray, local_xs: np.ndarray, local_ys: np.ndarray) -> None:
        points = np.round(np.stack([local_xs, local_ys], axis=1) * (1 << SHIFT)).astype(np.int32)
        cv2.polylines(mask, [points], False, 255, thickness, cv2.LINE_AA, SHIFT)

    _paint(L, xs, ys, thickness + 1.0, is_bright, opacity, draw)


def _paint(L: np.ndarray, xs: np.ndarray, ys: np.ndarray, reach: float, is_bright: bool, opacity: float,
           draw: Callable[[np.ndarray, np.ndarray, np.ndarray], object]) -> None:
    """Blend one mark into L in place, working only on the points' bounding box grown by `reach` px.

    `draw(mask, xs, ys)` draws the mark's coverage (0..255) on a uint8 mask of the box, with the
    points in box coordinates; L there is pulled towards white (or black) by `opacity` x coverage.
    A mark entirely outside the image does nothing.
    """
    top, bottom = max(0, math.floor(ys.min() - reach)), min(L.shape[0], math.ceil(ys.max() + reach) + 1)
    left, right = max(0, math.floor(xs.min() - reach)), min(L.shape[1], math.ceil(xs.max() + reach) + 1)
    if top >= bottom or left >= right:
        return
    mask = np.zeros((bottom - top, right - left), dtype=np.uint8)
    draw(mask, xs - left, ys - top)
    region = L[top:bottom, left:right]
    region += mask.astype(np.float32) * (opacity / 255.0) * ((L_MAX if is_bright else 0.0) - region)


def _blur(L: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """Soft scan or print: gaussian, or (a third of the time) a defocus disk of about the same size."""
    sigma = _uniform(rng, cfg.blur) * _scale(L.shape)
    is_defocus = rng.random() < 1 / 3
    # A wide blur runs on a copy shrunk so sigma is still >= 2 px there (nothing it keeps can alias),
    # then is enlarged back: on a 3 MP photo at sigma 9 px, 3 ms of CPU instead of 34 ms.
    shrink = max(1, int(sigma // 2))
    small = L if shrink == 1 else cv2.resize(L, (max(1, L.shape[1] // shrink), max(1, L.shape[0] // shrink)),
                                             interpolation=cv2.INTER_AREA)
    sigma /= shrink
    radius = 1.5 * sigma  # a disk of radius 1.5 sigma blurs about as much as the gaussian
    if is_defocus and radius >= 1.0:
        half = math.ceil(radius)
        ys, xs = np.mgrid[-half:half + 1, -half:half + 1]
        disk = np.clip(radius + 0.5 - np.hypot(ys, xs), 0.0, 1.0).astype(np.float32)  # anti-aliased edge
        small = cv2.filter2D(small, -1, disk / disk.sum(), borderType=cv2.BORDER_REFLECT)
    else:
        small = cv2.GaussianBlur(small, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return small if shrink == 1 else cv2.resize(small, (L.shape[1], L.shape[0]), interpolation=cv2.INTER_LINEAR)


def _noise(L: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """Scanner noise: per-pixel noise plus faint streaks along the scan direction (sensor elements)."""
    sigma = _uniform(rng, cfg.noise)
    noise = _noise_field(rng, L.shape, _scale(L.shape))
    axis = int(rng.integers(0, 2))  # 0: streaks run down columns, 1: along rows
    streaks = _white_noise(rng, (L.shape[1 - axis],)) * 0.4
    return L + sigma * (noise + (streaks[None, :] if axis == 0 else streaks[:, None]))


def _jpeg(L: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """Save as an 8-bit grayscale JPEG and read it back: 8 x 8 blocks, ringing, quantised levels."""
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    gray8 = image_writer.to_uint8(L / L_MAX)
    encoded = cv2.imencode(".jpg", gray8, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE).astype(np.float32) * (L_MAX / 255.0)


_APPLY = {"exposure": _expose, "vignette": _vignette, "grain": _grain, "fade": _fade, "texture": _texture,
          "scratch": _scratch, "dust": _dust, "blur": _blur, "noise": _noise, "jpeg": _jpeg}
