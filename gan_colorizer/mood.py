"""Colour/mood control on predicted a*b*: named moods, a target colour, a reference image's statistics.

A request becomes a `ColorTarget`: a target mean a*b* (the cast) and a target spread (how colourful
the picture is around that cast), both in Lab units and both optional ("keep the photo's own").
`shift_ab` moves a prediction toward it: the fallback for models that take no learned colour hint.
Everything here works on a*b* only, so lightness can never change.

Calibration: over 120 photos of photos256.zip the mean a*b* has median (+1, +8) (p10 (-8, -7),
p90 (+10, +26)) and the spread has median 14 (p10 7, p90 22), in Lab units.
"""
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_colorizer import images
from gan_colorizer.color import rgb_to_lab
from gan_colorizer.errors import ConfigError

_HEX_COLOR = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_COLOR_FORMS = "'#rrggbb', 'rrggbb' or '#rgb' (hex digits), e.g. '#c8a060'"


@dataclass(frozen=True)
class ColorTarget:
    """Target global colour statistics of a picture's a*b*, in Lab units.

    mean_ab: target mean (a*, b*): the overall cast (+a red, -a green, +b yellow, -b blue);
        None keeps the photo's own mean.
    spread: target mean distance of each pixel's (a*, b*) from that mean, i.e. colourfulness around
        the cast (0 = a single flat tint; photos: ~7 dull, ~14 typical, ~22 vivid); None keeps the
        photo's own. Chosen over mean chroma sqrt(a² + b²) because scaling deviations by k scales it
        by exactly k, so `shift_ab` hits it exactly and independently of the mean.
    """

    mean_ab: tuple[float, float] | None
    spread: float | None

    def __post_init__(self) -> None:
        if self.mean_ab is None and self.spread is None:
            raise ConfigError("a colour target needs a mean a*b*, a spread or both; got neither")
        if self.mean_ab is not None and not all(math.isfinite(v) for v in self.mean_ab):
            raise ConfigError(f"colour target mean a*b* must be finite, got {self.mean_ab}")
        if self.spread is not None and not (math.isfinite(self.spread) and self.spread >= 0):
            raise ConfigError(f"colour target spread must be a finite number >= 0, got {self.spread}")


# name -> target. Moods that set a cast (mean_ab) keep the photo's own spread unless a flatter look
# is part of the mood; moods about colourfulness only keep the photo's own cast.
# Teal-orange is left out on purpose: it splits hue by lightness, which no global a*b* shift can do.
MOODS: dict[str, ColorTarget] = {
    # warm: yellow (+b) with a little red (+a), like tungsten light; about the photos' p90 in b.
    "warm": ColorTarget(mean_ab=(4.0, 18.0), spread=None),
    # cool: blue (-b) with a touch of green (-a), like shade or overcast daylight.
    "cool": ColorTarget(mean_ab=(-3.0, -14.0), spread=None),
    # vivid: keep the cast, raise colourfulness to about the photos' p90 spread (22) and a bit more.
    "vivid": ColorTarget(mean_ab=None, spread=24.0),
    # muted: keep the cast, lower colourfulness to about the photos' p10 spread (7) and a bit less.
    "muted": ColorTarget(mean_ab=None, spread=6.0),
    # sepia: brown toner (about #a0785a: a ~ +7, b ~ +18) with almost no other colour.
    "sepia": ColorTarget(mean_ab=(7.0, 18.0), spread=3.0),
    # golden-hour: low sun, strong orange-yellow cast (a ~ +10, b ~ +30), colours kept.
    "golden-hour": ColorTarget(mean_ab=(10.0, 30.0), spread=None),
    # vintage: faded colour print: mild warm cast, dull colours.
    "vintage": ColorTarget(mean_ab=(3.0, 10.0), spread=8.0),
    # moonlight: night scene: blue cast, little colour.
    "moonlight": ColorTarget(mean_ab=(-2.0, -18.0), spread=5.0),
}


def mood_names() -> list[str]:
    """The named moods, for --help and error messages."""
    return list(MOODS)


def ab_stats(ab: np.ndarray) -> ColorTarget:
    """Measure the global statistics of an a*b* array: its mean and its spread (see ColorTarget).

    ab: (H, W, 2) in Lab units, any size. Used for reference images, for a learned model's hint
    (the ground truth's own statistics) and to report the achieved colour.
    """
    flat = np.asarray(ab, dtype=np.float32).reshape(-1, 2)
    mean = flat.mean(axis=0, dtype=np.float64)
    deviation = flat - mean.astype(np.float32)
    spread = np.hypot(deviation[:, 0], deviation[:, 1]).mean(dtype=np.float64)
    return ColorTarget(mean_ab=(float(mean[0]), float(mean[1])), spread=float(spread))


def parse_color(text: str) -> ColorTarget:
    """A hex sRGB colour -> a target with that colour's a*b* as the cast and the photo's own spread.

    Only the colour's a*b* is used (its lightness is not: the photo keeps its own L), so '#808080'
    and '#ffffff' both ask for a neutral cast.
    """
    match = _HEX_COLOR.fullmatch(text.strip())
    if match is None:
        raise ConfigError(f"colour {text!r} is not a hex colour; use {_COLOR_FORMS}")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    rgb = np.array([int(digits[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float32) / 255.0
    lab = rgb_to_lab(rgb.reshape(1, 1, 3))[0, 0]
    return ColorTarget(mean_ab=(float(lab[1]), float(lab[2])), spread=None)


def reference_target(path: Path) -> ColorTarget:
    """A reference photo's mean a*b* and spread: 'colour it like this photo'.

    An unreadable file raises images' one-line ImageError; a grayscale one a ConfigError, since
    copying it would strip every colour.
    """
    picture = images.read_image(path)
    if picture.is_gray:
        raise ConfigError(f"{path}: the reference image is grayscale, so it has no colour to copy; "
                          "give a colour photo")
    return ab_stats(rgb_to_lab(picture.rgb)[..., 1:])


def resolve(mood: str | None, color: str | None, reference: Path | None) -> ColorTarget | None:
    """Turn the user's colour options (at most one of them) into a target; None when none is given."""
    given = [name for name, value in (("mood", mood), ("color", color), ("reference", reference))
             if value is not None]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} were given together; choose one of mood, color or reference")
    if mood is not None:
        if mood.lower() not in MOODS:
            raise ConfigError(f"unknown mood {mood!r}; known moods: {', '.join(mood_names())}")
        return MOODS[mood.lower()]
    if color is not None:
        return parse_color(color)
    if reference is not None:
        return reference_target(reference)
    return None


@dataclass(frozen=True)
class Control:
    """One call's colour request: where to go (`target`), how far (`strength`) and by which path.

    learned: ask a model that takes a colour hint for the target (a photo taken in that light);
        False, or a model without a hint, gets `shift_ab` (exact, but filter-like).
    """

    target: ColorTarget
    strength: float = 1.0
    learned: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"strength must be in [0, 1], got {self.strength}")


def control(mood: str | None = None, color: str | None = None, reference: Path | str | None = None,
            strength: float = 1.0, learned: bool = True) -> Control | None:
    """The user's colour options as a Control; None when nothing is asked (no target, or strength 0)."""
    target = resolve(mood, color, Path(reference) if reference is not None else None)
    request = None if target is None else Control(target, strength, learned)
    if not 0.0 <= strength <= 1.0:
        raise ConfigError(f"strength must be in [0, 1], got {strength}")
    return None if request is None or strength == 0.0 else request


def toward(stats: ColorTarget, target: ColorTarget, strength: float) -> ColorTarget:
    """The statistics a fraction `strength` of the way from a picture's own `stats` to `target`.

    With the picture's mean m and spread s, target mean t and spread u (None: keep the picture's):
        m' = m + strength * (t - m)        (the mean moves linearly)
        s' = s * (u / s) ** strength       (the spread moves geometrically: each step scales it alike)
    A flat picture (s ~ 0) keeps its spread: it has no deviations to scale.
    """
    if not 0.0 <= strength <= 1.0:
        raise ConfigError(f"strength must be in [0, 1], got {strength}")
    mean = np.array(stats.mean_ab, dtype=np.float64)
    target_mean = mean if target.mean_ab is None else np.array(target.mean_ab, dtype=np.float64)
    new_mean = mean + strength * (target_mean - mean)
    has_spread = target.spread is not None and stats.spread > 1e-6
    spread = stats.spread * (target.spread / stats.spread) ** strength if has_spread else stats.spread
    return ColorTarget(mean_ab=(float(new_mean[0]), float(new_mean[1])), spread=float(spread))


def shift_ab(ab: np.ndarray, target: ColorTarget, strength: float) -> np.ndarray:
    """Move predicted a*b* toward a target's mean and spread: the fallback with no learned hint.

    With the prediction's statistics (m, s) and `toward`'s (m', s'), every pixel moves as
        ab' = m' + (s' / s) * (ab - m)
    so at strength 1 the result has exactly the target's mean and spread, and hue differences between
    pixels are kept (every deviation is scaled by the same factor). Results are not clipped:
    lab_to_rgb clips to the sRGB gamut when encoding.

    ab: (H, W, 2) float in Lab units. The statistics are global, so the shift is the same whether it
    runs at network size or at full size; callers run it at network size (cheaper: 256² takes ~4 ms,
    12 MP ~0.5 s on 2 CPU cores). L is not an input, so lightness cannot change.
    strength: in [0, 1] (`toward` refuses others); 0 returns an exact copy. Returns (H, W, 2) float32.
    """
    if strength == 0.0:
        return np.array(ab, dtype=np.float32, copy=True)  # exact identity, free of rounding
    stats = ab_stats(ab)
    goal = toward(stats, target, strength)
    mean, new_mean = np.array(stats.mean_ab, dtype=np.float64), np.array(goal.mean_ab, dtype=np.float64)
    scale = goal.spread / stats.spread if stats.spread > 1e-6 else 1.0
    # ab' = k * ab + (m' - k * m): one multiply-add pass over the array
    shifted = np.asarray(ab, dtype=np.float32) * np.float32(scale)
    shifted += (new_mean - scale * mean).astype(np.float32)
    return shifted
