"""Local colour hints ("colour points"): where the gray cannot tell the colour, the user says it.

A point map is (B, POINT_CHANNELS, H, W) float at the network's input size, Zhang et al. 2017's
layout: channels 0-1 hold a*b* in ab_n units where a point is set (0 elsewhere), channel 2 the
mask (1 there, 0 elsewhere). An all-zero map means "no points": a pointed model then colours as
the automatic one does. Training (`training_points`) reveals a few patches of the truth's own
colour, so the network learns to carry a revealed colour over the region it belongs to.

A user's `Point` is a place in the input image's pixels, a colour and a radius; `point_map` draws
points at the network's size, and `arrive`, after the network, lands each point's disc on its
colour and leans alike-looking surroundings toward it. `PointsReport` says, in one line, which
points the photo's lightness could not hold.
"""
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from gan_colorizer.color import normalize_ab, rgb_to_lab
from gan_colorizer.config import PointsConfig
from gan_colorizer.errors import ConfigError
from gan_colorizer.image_writer import to_uint8
from gan_colorizer.models.layers import POINT_CHANNELS
from gan_colorizer.mood import parse_color

STREAM = 7919  # offsets the training seed of the point draws from the colour hints' (hint.step_generator)
MAX_POINTS = 64  # the geometric count's tail is cut here: more points teach nothing new and cost time
DEFAULT_RADIUS_SHARE = 0.01  # a point's radius when none is given: 1 % of the photo's shorter side,
MIN_DEFAULT_RADIUS = 3.0  # and at least this many pixels (a region, not a pixel, on small photos)
ARRIVAL_TOLERANCE = 5.0  # ΔE a*b*: a point whose disc is further from its colour is reported
SPREAD_REACH = 0.3  # how far `arrive`'s correction of a point reaches beyond its disc (share of the shorter side)
SPREAD_L = 8.0  # and over which difference in lightness (L units) from the disc's
ARRIVAL_PASSES = 3


def training_points(ab_n: torch.Tensor, cfg: PointsConfig, generator: torch.Generator) -> torch.Tensor:
    """Zhang's sampler (config.PointsConfig): ab_n (B, 2, H, W) truth in [-1, 1] -> (B, POINT_CHANNELS, H, W).

    Every random number comes from `generator` (seeded per step and rank), so a resumed run draws
    the same points.
    """
    batch = ab_n.shape[0]
    keep = torch.rand(batch, generator=generator) >= cfg.p_none
    uniform = torch.rand(batch, generator=generator).clamp_min(1e-12)
    ratio = 1.0 - 1.0 / cfg.mean_count  # P(one more point) of a geometric count >= 1 with this mean
    counts = (torch.log(uniform) / math.log(ratio)).floor().long() + 1 if ratio > 0 else torch.ones(batch).long()
    counts = torch.where(keep, counts.clamp(max=MAX_POINTS), 0)
    return reveal(ab_n, counts.tolist(), generator, (cfg.patch_min, cfg.patch_max), cfg.centre_std)


def simulated_points(ab_n: torch.Tensor, count: int, generator: torch.Generator, patch: int = 5) -> torch.Tensor:
    """What `count` users' clicks per photo reveal, for the trainer's validation: patches of `patch` px
    at places drawn uniformly over the photo, each of the truth's mean colour there (`evaluate
    --points` clicks full-size photos through `evaluate.simulated_clicks` instead).
    ab_n (B, 2, H, W) -> (B, POINT_CHANNELS, H, W)."""
    return reveal(ab_n, [count] * ab_n.shape[0], generator, (patch, patch), None)


def reveal(ab_n: torch.Tensor, counts: list[int], generator: torch.Generator, sizes: tuple[int, int],
           centre_std: float | None) -> torch.Tensor:
    """A point map revealing counts[i] square patches of sample i's truth, each of a side drawn in
    `sizes` (px, both ends included) and coloured with the truth's mean over it, so a point says what a
    user would: "this region is that colour", not the noise of one pixel. Centres are drawn around
    the middle (normal, std centre_std of the side) or, for None, uniformly."""
    batch, _, height, width = ab_n.shape
    maps = ab_n.new_zeros(batch, POINT_CHANNELS, height, width)
    low, high = min(sizes[0], height, width), min(sizes[1], height, width)
    for index, count in enumerate(counts):
        if not count:
            continue
        sides = torch.randint(low, high + 1, (count,), generator=generator)
        centres = (0.5 + centre_std * torch.randn(count, 2, generator=generator) if centre_std is not None
                   else torch.rand(count, 2, generator=generator))  # (y, x) as shares of the side
        for side, (cy, cx) in zip(sides.tolist(), centres.tolist()):
            top = min(max(round(cy * height - side / 2), 0), height - side)
            left = min(max(round(cx * width - side / 2), 0), width - side)
            rows, cols = slice(top, top + side), slice(left, left + side)
            maps[index, :2, rows, cols] = ab_n[index, :, rows, cols].mean(dim=(1, 2))[:, None, None]
            maps[index, 2, rows, cols] = 1.0
    return maps


@dataclass(frozen=True)
class Point:
    """One colour point a user set: where, what colour, how large.

    x, y: the point's centre in the input image's pixels (0, 0 is the top-left pixel's centre).
    ab: the a*b* asked for, in Lab units (a hex colour's own lightness is not used: the photo keeps its L).
    radius: in the input image's pixels; None means DEFAULT_RADIUS_SHARE of the photo's shorter side
        (at least MIN_DEFAULT_RADIUS).
    label: the colour as the user wrote it, for messages.
    """

    x: float
    y: float
    ab: tuple[float, float]
    radius: float | None = None
    label: str = ""

    def radius_in(self, height: int, width: int) -> float:
        """The radius in the input's pixels for an image of (height, width)."""
        if self.radius is not None:
            return self.radius
        return max(MIN_DEFAULT_RADIUS, DEFAULT_RADIUS_SHARE * min(height, width))


def parse_point(value: Any, index: int = 0) -> Point:
    """A point as users write it: (x, y, colour) / (x, y, colour, radius) or {"x", "y", "color", "radius"};
    a colour is "#rrggbb" (or "#rgb") or an (a*, b*) pair. ConfigError (one line) for anything else."""
    where = f"point {index + 1}"
    if isinstance(value, dict):
        unknown = set(value) - {"x", "y", "color", "radius"}
        if unknown or not {"x", "y", "color"} <= set(value):
            raise ConfigError(f"{where}: expected keys x, y, color and optionally radius, got {sorted(value)}")
        x, y, colour, radius = value["x"], value["y"], value["color"], value.get("radius")
    elif isinstance(value, list | tuple) and len(value) in (3, 4):
        x, y, colour, radius = (*value, None)[:4]
    else:
        raise ConfigError(f"{where}: expected (x, y, colour), (x, y, colour, radius) or a dict, got {value!r}")
    if not all(_is_number(v) for v in (x, y)) or (radius is not None and not (_is_number(radius) and radius > 0)):
        raise ConfigError(f"{where}: x and y must be numbers and radius a positive number, got {value!r}")
    if isinstance(colour, str):
        try:
            ab, label = parse_color(colour).mean_ab, colour
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
    elif isinstance(colour, list | tuple) and len(colour) == 2 and all(_is_number(v) for v in colour):
        ab, label = (float(colour[0]), float(colour[1])), f"a*b* ({colour[0]:g}, {colour[1]:g})"
    else:
        raise ConfigError(f"{where}: colour {colour!r} is neither '#rrggbb' nor an (a*, b*) pair")
    return Point(float(x), float(y), ab, None if radius is None else float(radius), label)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_points(values: Any) -> tuple[Point, ...]:
    """A list of points in any of `parse_point`'s forms (Points pass through)."""
    if not isinstance(values, list | tuple):
        raise ConfigError(f"points must be a list of points, got {type(values).__name__}")
    return tuple(value if isinstance(value, Point) else parse_point(value, i) for i, value in enumerate(values))


def check_inside(points: tuple[Point, ...], height: int, width: int) -> None:
    """ConfigError naming the first point that lies off a (height, width) image."""
    for index, point in enumerate(points):
        if not (-0.5 <= point.x <= width - 0.5 and -0.5 <= point.y <= height - 0.5):
            raise ConfigError(f"point {index + 1} at ({point.x:g}, {point.y:g}) lies outside the "
                              f"{width} x {height} image")


def _network_discs(points: tuple[Point, ...], full: tuple[int, int], net: tuple[int, int]) -> list[np.ndarray]:
    """Each point's disc on the network's (h, w) grid, as a (h, w) float32 0/1 mask covering at least
    the pixel under the point's centre."""
    (height, width), (h, w) = full, net
    scale_y, scale_x = h / height, w / width
    discs = []
    for point in points:
        disc = np.zeros((h, w), np.float32)
        cx, cy = (point.x + 0.5) * scale_x - 0.5, (point.y + 0.5) * scale_y - 0.5
        radius = point.radius_in(height, width) * min(scale_x, scale_y)
        cv2.circle(disc, (round(cx * 16), round(cy * 16)), round(radius * 16), 1.0, thickness=-1, shift=4)
        disc[min(max(round(cy), 0), h - 1), min(max(round(cx), 0), w - 1)] = 1.0
        discs.append(disc)
    return discs


def point_map(points: tuple[Point, ...], full: tuple[int, int], net: tuple[int, int]) -> torch.Tensor:
    """Points on a (height, width) = `full` image -> the (1, POINT_CHANNELS, h, w) map for a network
    running at `net` = (h, w); later points paint over earlier ones where discs overlap."""
    maps = np.zeros((POINT_CHANNELS, *net), np.float32)
    for point, disc in zip(points, _network_discs(points, full, net)):
        inside = disc > 0
        maps[0][inside], maps[1][inside] = normalize_ab(point.ab[0]), normalize_ab(point.ab[1])
        maps[2][inside] = 1.0
    return torch.from_numpy(maps)[None]


def arrive(ab: np.ndarray, small_L: np.ndarray, points: tuple[Point, ...], full: tuple[int, int]) -> np.ndarray:
    """(h, w, 2) a*b* in Lab units predicted with the points -> a copy in which each point's disc has its
    mean on the colour asked for, and the rest of the photo leans toward it where it looks alike.

    The network carries a point's colour over its region but rarely lands on it or carries it far.
    What is left of each point's difference is added in full inside its disc, and outside every disc
    it fades with the distance (Gaussian, SPREAD_REACH of the shorter side) and with the difference
    in lightness from the disc's (SPREAD_L units), so it stays on surfaces like the one clicked (a
    training-free propagation in the spirit of Levin et al. 2004); overlapping corrections are
    averaged. A few passes settle discs that overlap. small_L: (h, w) L in [0, 100] at the same size.
    """
    height, width = ab.shape[:2]
    discs = _network_discs(points, full, (height, width))
    outside = 1.0 - np.maximum.reduce(discs)  # 1 where no disc is
    reach = SPREAD_REACH * min(height, width)
    fields = []
    for disc in discs:
        distance = cv2.distanceTransform((disc == 0).astype(np.uint8), cv2.DIST_L2, 3)  # px to the disc
        lightness = float(small_L[disc > 0].mean())
        fields.append(disc + outside * np.exp(-0.5 * ((distance / reach) ** 2 + ((small_L - lightness) / SPREAD_L) ** 2)))
    total_weight = np.maximum(sum(fields), 1.0)[..., None]
    out = np.array(ab, dtype=np.float32)
    for _ in range(ARRIVAL_PASSES):
        change = sum(field[..., None] * (np.asarray(point.ab, np.float32) - out[disc > 0].mean(axis=0))
                     for point, disc, field in zip(points, discs, fields))
        out += change / total_weight
    return out


@dataclass(frozen=True)
class PointsReport:
    """What each point asked for and what the written image holds in its disc (a*b*, Lab units)."""

    points: tuple[Point, ...]
    reached: tuple[tuple[float, float], ...]

    def misses(self) -> list[tuple[int, float]]:
        """(index, ΔE) of the points whose disc is further than ARRIVAL_TOLERANCE from the colour asked."""
        gaps = [float(np.hypot(*np.subtract(got, point.ab))) for point, got in zip(self.points, self.reached)]
        return [(index, gap) for index, gap in enumerate(gaps) if gap > ARRIVAL_TOLERANCE]

    def note(self) -> str | None:
        """One line for the points the photo's lightness cannot hold in sRGB, None when all arrived."""
        misses = self.misses()
        if not misses:
            return None
        told = "; ".join(f"point {i + 1} ({self.points[i].label} at {self.points[i].x:g}, {self.points[i].y:g}): "
                         f"reached a*b* ({self.reached[i][0]:.0f}, {self.reached[i][1]:.0f}), dE {gap:.1f}"
                         for i, gap in misses)
        return f"cannot reach {told} (the lightness there cannot hold that colour in sRGB)"


def written_colours(rgb: np.ndarray, points: tuple[Point, ...]) -> tuple[tuple[float, float], ...]:
    """Mean a*b* of the written image inside each point's disc (radius_in, full size).

    rgb: (H, W, 3) uint8, or float in [0, 1] as it goes to the writer (its discs are quantised to 8
    bits here, as the file will be).
    """
    height, width = rgb.shape[:2]
    colours = []
    for point in points:
        radius = point.radius_in(height, width)
        top, left = max(0, math.floor(point.y - radius)), max(0, math.floor(point.x - radius))
        bottom, right = min(height, math.ceil(point.y + radius) + 1), min(width, math.ceil(point.x + radius) + 1)
        crop = rgb[top:bottom, left:right]
        crop = crop if crop.dtype == np.uint8 else to_uint8(crop)
        disc = np.zeros(crop.shape[:2], np.uint8)
        cv2.circle(disc, (round((point.x - left) * 16), round((point.y - top) * 16)), round(radius * 16), 1,
                   thickness=-1, shift=4)
        disc[min(round(point.y) - top, disc.shape[0] - 1), min(round(point.x) - left, disc.shape[1] - 1)] = 1
        lab = rgb_to_lab(crop.astype(np.float32) / 255.0)[disc > 0]
        colours.append((float(lab[:, 1].mean()), float(lab[:, 2].mean())))
    return tuple(colours)
