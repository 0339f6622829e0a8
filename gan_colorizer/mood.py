"""Colour/mood control on predicted a*b*: named moods, a colour temperature, a target colour, a reference image.

A request becomes a `ColorTarget`: a target mean a*b* (the cast) and a target spread (how colourful
the picture is around that cast), both in Lab units and both optional ("keep the photo's own"), and
a `Control` says how far to go (`strength`) and by which path. `arrive` then lands a prediction on
the statistics of the image as it will be written (after gamut mapping and 8-bit rounding): a few
fixed-point steps of "measure what the written image would show, shift a*b* by what is still
missing". `shift_ab` is that shift, and alone it is the fallback for models without a learned
colour hint. Everything here works on a*b* only, so lightness can never change.

Calibration: over 120 photos of photos256.zip the mean a*b* has median (+1, +8) (p10 (-8, -7),
p90 (+10, +26)) and the spread has median 14 (p10 7, p90 22), in Lab units.
"""
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gan_colorizer import images
from gan_colorizer.color import D65_WHITE, ab_mean_spread, rgb_to_lab
from gan_colorizer.errors import ConfigError
from gan_colorizer.mood_names import MOOD_DESCRIPTIONS, TEMPERATURE_RANGE  # noqa: F401  (part of mood's API)

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


# Share of a light's full cast that a temperature asks for. The full cast is what a camera set to
# daylight white balance records (3200 K: a*b* (17, 53), past every photo of the calibration set,
# whose p90 b* is 26); a camera's auto white balance and the eye keep only part of it. At 0.6,
# 3200 K lands on the golden-hour mood (10, 30) and 10000 K beside the cool one: what photographers
# mean by tungsten and shade light.
TEMPERATURE_CAST_SHARE = 0.6


def mood_names() -> list[str]:
    """The named moods, for --help and error messages."""
    return list(MOODS)


def temperature_target(kelvin: float) -> ColorTarget:
    """A light's colour temperature -> the mean a*b* cast it gives a photo white-balanced for daylight (D65).

    The light's chromaticity is the CIE daylight locus (CIE 15:2004, eq. 3.3-3.4), its 4000-7000 K
    branch carried down to 2700 K: smooth and monotone, and there within 0.006 in (x, y) of the
    Planckian locus of tungsten light (Kim et al. 2002), closer than the locus itself lies to it
    at 4000-6500 K (0.007). Kelvin are read on CIE's pre-1968 scale
    (x 1.4388 / 1.4380), as D65 itself is, so 6500 K gives D65: a neutral cast (0, 0). The white of
    that light in Lab relative to D65 is the cast, scaled by TEMPERATURE_CAST_SHARE. Lower is warmer
    (+b, a little +a), higher cooler (-b). Spread: the photo's own.
    """
    low, high = TEMPERATURE_RANGE
    if not (math.isfinite(kelvin) and low <= kelvin <= high):
        raise ConfigError(f"temperature {kelvin} K is outside {low}..{high} K (warm to cool; 6500 K is neutral)")
    t = kelvin * 1.4388 / 1.4380
    if t <= 7000.0:
        x = -4.6070e9 / t**3 + 2.9678e6 / t**2 + 0.09911e3 / t + 0.244063
    else:
        x = -2.0064e9 / t**3 + 1.9018e6 / t**2 + 0.24748e3 / t + 0.237040
    y = -3.0 * x * x + 2.870 * x - 0.275
    # XYZ of the light's white at Y = 1, then Lab against D65; f is the cube root (every ratio is > 0.3).
    fx, fy, fz = (np.cbrt(value / white) for value, white in zip((x / y, 1.0, (1.0 - x - y) / y), D65_WHITE))
    cast = TEMPERATURE_CAST_SHARE * np.array([500.0 * (fx - fy), 200.0 * (fy - fz)])
    return ColorTarget(mean_ab=(float(cast[0]), float(cast[1])), spread=None)


def ab_stats(ab: np.ndarray) -> ColorTarget:
    """Measure the global statistics of an a*b* array: its mean and its spread (see ColorTarget).

    ab: (H, W, 2) in Lab units, any size. Used for reference images, for a learned model's hint
    (the ground truth's own statistics) and to report the achieved colour.
    """
    planes = torch.from_numpy(np.asarray(ab, dtype=np.float64).reshape(-1, 2).T[None, :, :, None])  # (1, 2, HW, 1)
    mean, spread = ab_mean_spread(planes)
    return ColorTarget(mean_ab=(float(mean[0, 0]), float(mean[0, 1])), spread=float(spread[0]))


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


def resolve(mood: str | None, color: str | None, reference: Path | None,
            temperature: float | None = None) -> ColorTarget | None:
    """Turn the user's colour options (at most one of them) into a target; None when none is given."""
    given = [name for name, value in (("mood", mood), ("color", color), ("reference", reference),
                                      ("temperature", temperature)) if value is not None]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} were given together; choose one of mood, color, reference "
                          f"or temperature")
    if mood is not None:
        if mood.lower() not in MOODS:
            raise ConfigError(f"unknown mood {mood!r}; known moods: {', '.join(mood_names())}")
        return MOODS[mood.lower()]
    if color is not None:
        return parse_color(color)
    if reference is not None:
        return reference_target(reference)
    if temperature is not None:
        return temperature_target(temperature)
    return None


@dataclass(frozen=True)
class Control:
    """One call's colour request: where to go (`target`), how far (`strength`) and by which path.

    strength: the share of the way from the uncontrolled result to the target, on the statistics of
        the written image; 1 arrives (`arrive`), where the photo's lightness can hold the target.
    learned: ask a model that takes a colour hint to paint the target (a photo taken in that light),
        then correct what it misses; False, or a model without a hint, shifts the uncontrolled
        prediction's statistics all the way instead (`arrive` from its own colours: filter-like).
    label: how the user named the request ("warm", "#4080c0", "3200 K"), for messages.
    """

    target: ColorTarget
    strength: float = 1.0
    learned: bool = True
    label: str = "the requested colour"

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"strength must be in [0, 1], got {self.strength}")

    def goal(self, start: ColorTarget) -> ColorTarget:
        """The statistics to land on from an uncontrolled result's `start`; what the target leaves open stays None."""
        reached = toward(start, self.target, self.strength)
        return ColorTarget(mean_ab=reached.mean_ab if self.target.mean_ab is not None else None,
                           spread=reached.spread if self.target.spread is not None else None)


def control(mood: str | None = None, color: str | None = None, reference: Path | str | None = None,
            strength: float = 1.0, learned: bool = True, temperature: float | None = None) -> Control | None:
    """The user's colour options as a Control; None when nothing is asked (no target, or strength 0).

    temperature: a light's colour temperature in kelvin (`temperature_target`).
    """
    target = resolve(mood, color, Path(reference) if reference is not None else None, temperature)
    if not 0.0 <= strength <= 1.0:
        raise ConfigError(f"strength must be in [0, 1], got {strength}")
    if target is None or strength == 0.0:
        return None
    named = mood.lower() if mood is not None else color or (Path(reference).name if reference is not None else None)
    label = named or f"{temperature:g} K"
    if strength < 1.0:
        label = f"{label} at strength {strength:g}"
    return Control(target, strength, learned, label)


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
    """Move a*b* toward a target's mean and spread by one global shift and scale: `arrive`'s step.

    With the prediction's statistics (m, s) and `toward`'s (m', s'), every pixel moves as
        ab' = m' + (s' / s) * (ab - m)
    so at strength 1 the result has exactly the target's mean and spread, and hue differences between
    pixels are kept (every deviation is scaled by the same factor). Results are not clipped: the
    render's gamut mapping (`color.lab_to_rgb_in_gamut`) lowers what sRGB cannot hold, which is why
    `arrive` measures the written image rather than trusting this shift.

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


ARRIVAL_TOLERANCE = 2.0  # ΔE (a*b* plane) within which a mean counts as reached: a just-noticeable difference
# A spread counts as reached within 10 % or 1 Lab unit (8-bit rounding alone spreads dark pixels' a*b* by ~1).
SPREAD_TOLERANCE, SPREAD_TOLERANCE_FLOOR = 0.1, 1.0
# `arrive` stops once the measured miss is below this (Lab units): margin for what measuring about
# render_size² pixels cannot see of the full-size render.
_AIM = 0.4
_MAX_STEPS = 8  # measurements per image, ~5 ms each at 256²; in gamut 2-3 suffice


@dataclass(frozen=True)
class ControlReport:
    """What one image's colour control asked for and reached, on the statistics of the written image.

    requested: the goal (the target part of the way given by strength; None where the target leaves
        the photo's own). reached: the statistics the written image has (mean and spread).
    network_share: how much of the way from the uncontrolled result to the goal the network's own
        hinted prediction went before any correction (1 = all of it); None for the shift path or
        when the uncontrolled result already sat on the goal.
    """

    label: str
    requested: ColorTarget
    reached: ColorTarget
    network_share: float | None = None

    @property
    def delta_e(self) -> float:
        """Distance of the reached mean a*b* from the requested one (0 when no mean was asked)."""
        if self.requested.mean_ab is None:
            return 0.0
        return float(np.hypot(*np.subtract(self.reached.mean_ab, self.requested.mean_ab)))

    @property
    def spread_error(self) -> float:
        """|reached - requested| spread in Lab units (0 when no spread was asked)."""
        if self.requested.spread is None:
            return 0.0
        return abs(self.reached.spread - self.requested.spread)

    @property
    def arrived(self) -> bool:
        spread_tolerance = max(SPREAD_TOLERANCE * (self.requested.spread or 0.0), SPREAD_TOLERANCE_FLOOR)
        return self.delta_e <= ARRIVAL_TOLERANCE and self.spread_error <= spread_tolerance

    def note(self) -> str | None:
        """One line for a request the photo could not hold, e.g. 'cannot reach #4080c0 (a*b* (0, -39)):
        reached (1.2, -30.5), dE 8.6'; None when it arrived."""
        if self.arrived:
            return None
        asked, got = [], []
        if self.requested.mean_ab is not None:
            asked.append("a*b* ({}, {})".format(*(round(v) for v in self.requested.mean_ab)))
            got.append("({:.1f}, {:.1f}), dE {:.1f}".format(*self.reached.mean_ab, self.delta_e))
        if self.requested.spread is not None:
            asked.append(f"spread {round(self.requested.spread)}")
            got.append(f"spread {self.reached.spread:.1f}")
        return f"cannot reach {self.label} ({', '.join(asked)}): reached {', '.join(got)}"


def _miss(goal: ColorTarget, reached: ColorTarget) -> float:
    """How far `reached` is from `goal`, in Lab units: mean ΔE plus the spread error."""
    miss = 0.0
    if goal.mean_ab is not None:
        miss += float(np.hypot(*np.subtract(reached.mean_ab, goal.mean_ab)))
    if goal.spread is not None:
        miss += abs(reached.spread - goal.spread)
    return miss


def arrive(ab: np.ndarray, measure: Callable[[np.ndarray], ColorTarget], goal: ColorTarget,
           start: ColorTarget | None = None) -> tuple[np.ndarray, ColorTarget, ColorTarget]:
    """Correct a*b* until the written image has the goal's statistics, or as close as its lightness allows.

    ab: (h, w, 2) a*b* in Lab units at network size. measure: a*b* -> the statistics of the image it
    would write (rendered through the gamut mapping and 8-bit rounding: what the user gets, which a
    shift of ab alone does not predict, since gamut mapping pulls back chroma a dark or bright pixel
    cannot hold). start: measure(ab) when already known. Fixed-point steps: shift the mean by what is
    still missing and scale the spread by the ratio still missing (`shift_ab` with a moving aim)
    until the miss is under _AIM, stops shrinking, or _MAX_STEPS measurements are spent; the best
    one is kept, so a request outside what the photo can hold gets the closest mean reached.
    Returns (corrected a*b* (h, w, 2) float32, its statistics, the statistics of `ab` itself).
    """
    own = ab_stats(ab)
    aim_mean, aim_spread = np.array(own.mean_ab), own.spread
    candidate, first = np.asarray(ab, dtype=np.float32), start or measure(ab)
    reached, best = first, (_miss(goal, first), candidate, first)
    for _ in range(_MAX_STEPS - 1):
        if best[0] <= _AIM:
            break
        if goal.mean_ab is not None:
            # past ±110 no sRGB colour lies: a request out of reach stops growing there
            aim_mean = np.clip(aim_mean + np.subtract(goal.mean_ab, reached.mean_ab), -110.0, 110.0)
        if goal.spread is not None and reached.spread > 1e-3:
            aim_spread *= goal.spread / reached.spread
        candidate = shift_ab(ab, ColorTarget(mean_ab=tuple(aim_mean), spread=aim_spread), 1.0)
        reached = measure(candidate)
        miss = _miss(goal, reached)
        is_closer = miss < best[0] - 0.05
        if miss < best[0]:
            best = (miss, candidate, reached)
        if not is_closer:  # the photo holds no more of the request (gamut): keep the closest
            break
    return best[1], best[2], first


def share_of_way(start: ColorTarget, reached: ColorTarget, goal: ColorTarget) -> float | None:
    """How much of the way from `start` to `goal` `reached` went: 0 none, 1 all (projected on that way).

    The mean when the goal sets one, else the spread (on a log scale, as `toward` moves it). None
    when start already sits within ARRIVAL_TOLERANCE of the goal: there was no way to go.
    """
    if goal.mean_ab is not None:
        way = np.subtract(goal.mean_ab, start.mean_ab)
        if np.hypot(*way) <= ARRIVAL_TOLERANCE:
            return None
        return float(np.dot(np.subtract(reached.mean_ab, start.mean_ab), way) / np.dot(way, way))
    if goal.spread is None or min(start.spread, reached.spread, goal.spread) <= 1e-3:
        return None
    way = math.log(goal.spread / start.spread)
    if abs(goal.spread - start.spread) <= max(SPREAD_TOLERANCE * goal.spread, SPREAD_TOLERANCE_FLOOR):
        return None
    return math.log(reached.spread / start.spread) / way
