"""Colorize photos at full resolution: the network sees a small copy of L, the output keeps the input's own L.

Per image: L = the input's lightness (a colour photo is reduced to its L, i.e. turned gray) ->
a copy shrunk so its shorter side is `render_size` (never enlarged) -> the generator predicts a*b* at
that size -> a*b* is resized back and joined with the full-resolution L (`color.merge_lab`) -> Lab to
sRGB, lowering chroma where a colour falls outside sRGB so lightness is never traded away -> 8 bits.

`predict_ab` is its own step so that later stages (mood control) can edit a*b* before the merge.
`Colorizer` is the Python API; `colorize_folder` is what `tools/colorize.py` runs.
"""
import copy
import warnings
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from tqdm import tqdm

from gan_colorizer import checkpoint, color, hint, images
from gan_colorizer import mood as moods
from gan_colorizer.errors import CheckpointError, ConfigError, DataError, ImageError

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "default.pt"
# Shorter side the network sees. 256 is the training scale; 384/512 cost about 2x/4x the network time
# and cut the chroma lost to resizing from 1.2 to 0.9/0.75 mean ΔE_ab (docs/performance.md).
DEFAULT_RENDER_SIZE = 256
# A 100 MP scan needs about 4 GB while it is processed (float32 L, Lab and RGB copies at full size).
DEFAULT_MAX_PIXELS = 100_000_000
OUTPUT_FORMATS = ("jpg", "png", "webp", "tif", "bmp")


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d into the conv before it in the same nn.Sequential, in place.

    The fused conv computes the same function (to float rounding) with one pass over memory
    instead of two. Only Sequential containers are searched: a conv and a norm in separate
    branches of a forward() are not known to be adjacent. Returns `module`.
    """
    for container in module.modules():
        if not isinstance(container, nn.Sequential):
            continue
        names = list(container._modules)
        for conv_name, norm_name in zip(names, names[1:]):
            conv, norm = container._modules[conv_name], container._modules[norm_name]
            if (isinstance(conv, nn.Conv2d | nn.ConvTranspose2d) and isinstance(norm, nn.BatchNorm2d)
                    and norm.track_running_stats and not norm.training and not conv.training):
                fused = fuse_conv_bn_eval(conv, norm, transpose=isinstance(conv, nn.ConvTranspose2d))
                container._modules[conv_name] = fused
                container._modules[norm_name] = nn.Identity()
    return module


def working_size(height: int, width: int, render_size: int) -> tuple[int, int]:
    """(h, w) the network runs at: shorter side `render_size`, aspect kept, never larger than the input."""
    scale = render_size / min(height, width)
    if scale >= 1.0:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def shrink_L(L: np.ndarray, render_size: int) -> np.ndarray:
    """(H, W) L in [0, 100] -> (h, w) L at `working_size`; area averaging, so fine texture does not alias."""
    height, width = working_size(*L.shape, render_size)
    if (height, width) == L.shape:
        return np.ascontiguousarray(L, dtype=np.float32)
    return cv2.resize(L, (width, height), interpolation=cv2.INTER_AREA)


@torch.inference_mode()
def predict_ab(generator: nn.Module, small_L: np.ndarray, hints: torch.Tensor | None = None) -> np.ndarray:
    """(B, h, w) L in [0, 100] -> (B, h, w, 2) float32 a*b* in Lab units, one network call.

    The generator may be anywhere; inputs go to its device. It must be in eval mode (BatchNorm
    running statistics, no dropout): `checkpoint.load_generator` returns it so.
    hints: (B, HINT_SIZE) colour hints (`gan_colorizer.hint`) for a generator that takes them.
    """
    device = next(generator.parameters()).device
    L_n = torch.from_numpy(color.normalize_L(np.asarray(small_L, dtype=np.float32)))[:, None]  # (B, 1, h, w)
    if hints is None:
        ab_n = generator(L_n.to(device))  # (B, 2, h, w) in [-1, 1]
    else:
        ab_n = generator(L_n.to(device), hints.to(device))
    return color.denormalize_ab(ab_n.float().permute(0, 2, 3, 1).cpu().numpy())


def predict_lab(generator: nn.Module, rgb: np.ndarray, render_size: int = DEFAULT_RENDER_SIZE) -> np.ndarray:
    """(H, W, 3) sRGB in [0, 1] -> (H, W, 3) float32 Lab whose L is exactly `color.rgb_to_L(rgb)`.

    A colour input keeps only its lightness (it is colorized as its gray version).
    """
    L = color.rgb_to_L(rgb)
    ab = predict_ab(generator, shrink_L(L, render_size)[None])[0]
    return color.merge_lab(L, ab)


def lab_to_rgb_in_gamut(lab: np.ndarray) -> np.ndarray:
    """(H, W, 3) Lab -> (H, W, 3) float32 sRGB in [0, 1] with each pixel's L kept.

    Clipping R, G, B separately (what `color.lab_to_rgb` does) moves lightness, by 10+ L units for
    a saturated colour at a dark or bright L. Instead, a colour outside sRGB is mixed, in linear
    light, with the gray of the same luminance just enough to come inside: luminance (so L) stays
    exact and the hue direction from white is kept; only chroma drops. Only pixels that came out
    clipped are examined again, so a photo costs one full conversion plus a little.
    """
    rgb = color.lab_to_rgb(lab)
    # Clipped pixels sit exactly on 0 or 1; in-gamut ones only rarely (pure black or white).
    on_edge = np.flatnonzero(cv2.inRange(rgb, (1e-6,) * 3, (1.0 - 1e-6,) * 3) == 0)
    if on_edge.size:
        outside, inside_rgb = _desaturate_into_gamut(np.take(lab.reshape(-1, 3), on_edge, axis=0))
        rgb.reshape(-1, 3)[on_edge[outside]] = inside_rgb
    return rgb


def _desaturate_into_gamut(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) Lab -> (N,) bool `outside` sRGB, and (n_outside, 3) sRGB in gamut with the same L.

    OpenCV's float Lab->RGB clamps its output, so it cannot tell how far outside a colour is;
    these are the CIE Lab->XYZ formulas and the sRGB matrix with OpenCV's D65 white. The gray of
    luminance Y is (Y, Y, Y) in linear RGB, so Y + w * (rgb - Y) has luminance Y for every w; w is
    the largest weight keeping all three channels in [0, 1], set by the largest and smallest one.
    """
    fy = (lab[:, 0] + 16.0) / 116.0
    x, y, z = (_cie_f_inverse(f) * white for f, white in
               zip((fy + lab[:, 1] / 500.0, fy, fy - lab[:, 2] / 200.0), color.D65_WHITE))
    linear = [m_x * x + m_y * y + m_z * z for m_x, m_y, m_z in color.XYZ_TO_LINEAR_RGB]  # 3 x (N,), unclipped
    highest, lowest = np.maximum.reduce(linear), np.minimum.reduce(linear)
    with np.errstate(divide="ignore", invalid="ignore"):  # the divisions only count where selected
        weight = np.minimum(np.where(highest > 1.0, (1.0 - y) / (highest - y), 1.0),
                            np.where(lowest < 0.0, y / (y - lowest), 1.0))
    # Under 1e-3 of mixing, plain clipping moves L by less than 0.1: OpenCV's value stays.
    outside = weight < 1.0 - 1e-3
    gray, weight = y[outside, None], np.maximum(weight[outside, None], 0.0)
    mixed = np.clip(gray + weight * (np.stack(linear, axis=1)[outside] - gray), 0.0, 1.0)
    # The sRGB transfer curve (IEC 61966-2-1): linear light -> encoded values.
    return outside, np.where(mixed <= 0.0031308, 12.92 * mixed, 1.055 * mixed ** (1.0 / 2.4) - 0.055)


def _cie_f_inverse(f: np.ndarray) -> np.ndarray:
    """The inverse of CIE Lab's f: cube above 6/29, the linear toe below it."""
    return np.where(f > 6.0 / 29.0, f * f * f, 3.0 * (6.0 / 29.0) ** 2 * (f - 4.0 / 29.0))


def array_to_rgb(image: np.ndarray) -> np.ndarray:
    """A numpy image as users hold it -> (H, W, 3) float32 sRGB in [0, 1].

    image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) (alpha dropped); uint8, uint16, or float in
    [0, 1] (values outside are clipped). Raises ImageError for anything else.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ImageError(f"image array of shape {image.shape}: expected (H, W), (H, W, 3) or (H, W, 4)")
    if image.dtype == np.uint8 or image.dtype == np.uint16:
        rgb = image[..., :3].astype(np.float32) / float(np.iinfo(image.dtype).max)
    elif np.issubdtype(image.dtype, np.floating):
        rgb = np.clip(image[..., :3], 0.0, 1.0).astype(np.float32)
    else:
        raise ImageError(f"image array of dtype {image.dtype}: expected uint8, uint16 or float in [0, 1]")
    return np.ascontiguousarray(np.broadcast_to(rgb, (*rgb.shape[:2], 3)))


class Colorizer:
    """A generator ready for inference, and the full-resolution pipeline around it.

    >>> colorizer = Colorizer.from_checkpoint()     # the bundled default model
    >>> rgb8 = colorizer(gray)                      # (H, W) or (H, W, 3|4) array -> (H, W, 3) uint8
    >>> warm = Colorizer.from_checkpoint(mood="warm", strength=0.7)

    The generator is copied, BatchNorm folded into its convs and laid out channels_last (faster on
    CPU convolutions), so the caller's module is left untouched.
    Colour control: at most one of `mood` (a name in mood.MOODS), `color` ("#c8a060") or `reference`
    (an image file whose average colour and spread to take), at `strength` in [0, 1]. A generator
    that takes a colour hint (`takes_hint`, recorded in its checkpoint) is asked for the target
    statistics and paints the photo as one with that cast; at strength < 1 it is asked for statistics
    part of the way there from its own unhinted prediction's (one more network call). Other
    generators, or `learned=False`, get the fallback: the predicted a*b* shifted toward the target
    statistics (mood.shift_ab). L is never touched either way.
    """

    def __init__(self, generator: nn.Module, device: torch.device | str = "cpu",
                 render_size: int = DEFAULT_RENDER_SIZE, *, mood: str | None = None, color: str | None = None,
                 reference: Path | str | None = None, strength: float = 1.0, learned: bool = True) -> None:
        if render_size < 1:
            raise ConfigError(f"render_size must be at least 1, got {render_size}")
        self.device = torch.device(device)
        self.render_size = render_size
        self.target = moods.resolve(mood, color, Path(reference) if reference else None)
        if not 0.0 <= strength <= 1.0:
            raise ConfigError(f"strength must be in [0, 1], got {strength}")
        self.strength = strength
        self.takes_hint = generator.takes_hint
        self.learned = learned and self.takes_hint
        generator = fold_batchnorm(copy.deepcopy(generator).eval())
        self.generator = generator.to(self.device, memory_format=torch.channels_last)

    @classmethod
    def from_checkpoint(cls, path: Path | str | None = None, device: torch.device | str = "cpu",
                        render_size: int = DEFAULT_RENDER_SIZE, **control) -> "Colorizer":
        """Load a generator-only export or a training checkpoint (its EMA weights when present).

        path None means the bundled default, `checkpoints/default.pt` of the source tree.
        Raises CheckpointError for a missing, foreign or mismatched file.
        """
        if path is None:
            path = DEFAULT_CHECKPOINT
            if not path.is_file():
                raise CheckpointError(f"{path}: the bundled default model is missing; pass a trained "
                                      f"generator with --checkpoint PATH (or Colorizer.from_checkpoint(PATH))")
        generator, _ = checkpoint.load_generator(Path(path), "cpu")
        return cls(generator, device, render_size, **control)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(H, W) or (H, W, 3|4) uint8/uint16/float image -> (H, W, 3) uint8 colorized sRGB, same size.

        A colour image is colorized from its lightness alone, as if it were gray.
        """
        L = color.rgb_to_L(array_to_rgb(image))
        return self.render(L, self.predict_ab([L])[0])

    def predict_ab(self, Ls: list[np.ndarray]) -> list[np.ndarray]:
        """Full-size L arrays (H, W) in [0, 100] -> a*b* (h, w, 2) at each one's working size.

        Arrays of one working size go through the network as a batch; call with equal sizes.
        """
        small = np.stack([shrink_L(L, self.render_size) for L in Ls])  # (B, h, w)
        if self.target is None or self.strength == 0.0:
            return list(predict_ab(self.generator, small))
        if not self.learned:
            return [moods.shift_ab(ab, self.target, self.strength) for ab in predict_ab(self.generator, small)]
        if self.strength == 1.0:
            goals = [self.target] * len(Ls)
        else:
            goals = [moods.toward(moods.ab_stats(ab), self.target, self.strength)
                     for ab in predict_ab(self.generator, small)]
        hints = torch.cat([hint.target_hint(goal, 1) for goal in goals])  # (B, HINT_SIZE)
        return list(predict_ab(self.generator, small, hints))

    @staticmethod
    def render(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """(H, W) L and (h, w, 2) a*b* -> (H, W, 3) uint8 sRGB whose L is the given one, up to 8-bit rounding."""
        return images.to_uint8(lab_to_rgb_in_gamut(color.merge_lab(L, ab)))


@dataclass
class FolderReport:
    """What colorize_folder did. skipped: one `path: reason` line per file that got no output."""

    written: int = 0
    existing: int = 0
    colour_inputs: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Job:
    source: Path
    target: Path


@dataclass
class _Loaded:
    L: np.ndarray  # (H, W) in [0, 100], the input's lightness
    alpha: np.ndarray | None  # (H, W) in [0, 1]
    is_colour: bool


def plan_outputs(src: Path, dst: Path, out_format: str | None = None) -> list[tuple[Path, Path]]:
    """(input, output) pairs: every image under `src` (a file or a folder, recursive), mirrored into `dst`.

    Output names keep the sub-folder tree and file name; out_format (e.g. "png") replaces the suffix.
    Raises ConfigError when an output could land inside `src` (`dst` equal to or inside a folder
    `src`, or equal to a file `src`), DataError when `src` holds no image.
    """
    src, dst = Path(src), Path(dst)
    real_src, real_dst = src.resolve(), dst.resolve()  # compare real paths: links and `..` hide nothing
    if src.is_dir():
        if real_dst == real_src or real_src in real_dst.parents:
            raise ConfigError(f"--out {dst} is inside --in {src}; choose an output folder outside the input")
        pairs = [(p, dst / p.relative_to(src)) for p in images.list_image_files(src)]
    elif src.is_file():
        pairs = [(src, dst / src.name)]
    else:
        raise DataError(f"{src}: no such file or folder")
    if out_format:
        pairs = [(source, target.with_suffix(f".{out_format}")) for source, target in pairs]
    if any(source.resolve() == target.resolve() for source, target in pairs):
        raise ConfigError(f"--out {dst} would overwrite --in {src}; choose another output folder")
    return pairs


def check_pixel_count(path: Path, max_pixels: int) -> None:
    """Refuse an image above `max_pixels` from its header, before decoding allocates it.

    OpenCV has no header-only read; Pillow's Image.open parses only the header (pixels load
    lazily) and comes with torchvision. Files Pillow cannot parse pass: decoding reports them.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as header:
                pixels = header.width * header.height
        except Image.DecompressionBombError:  # Pillow's own cap (2 * MAX_IMAGE_PIXELS) hides the size
            pixels = 2 * (Image.MAX_IMAGE_PIXELS or 0) + 1
        except Exception:  # foreign or broken bytes fail in many ways; the decoder names the reason
            return
    if pixels > max_pixels:
        raise ImageError(f"{path}: {pixels / 1e6:.1f} megapixels is above --max-pixels {max_pixels}; "
                         f"raise --max-pixels to colorize it")


def _load(path: Path, max_pixels: int) -> _Loaded:
    """Decode one file to its L (runs in a reader thread, beside the network)."""
    check_pixel_count(path, max_pixels)
    picture = images.read_image(path)
    # Every 8th pixel each way tells a colour photo from a gray scan as well as all of them, 64x cheaper.
    sample = images.Picture(rgb=picture.rgb[::8, ::8], alpha=None, bit_depth=picture.bit_depth)
    # A contiguous copy: rgb_to_L's view would keep the whole (H, W, 3) Lab array alive while queued.
    L = np.ascontiguousarray(color.rgb_to_L(picture.rgb))
    return _Loaded(L=L, alpha=picture.alpha, is_colour=not sample.is_gray)


def _read_ahead(jobs: list[_Job], max_pixels: int, pool: ThreadPoolExecutor,
                window: int) -> Iterator[tuple[_Job, _Loaded | str]]:
    """Yield each job with its decoded image, or the reason it failed, in order; `window` decode ahead."""
    pending: deque[tuple[_Job, Future]] = deque()
    for job in [*jobs, None]:
        if job is not None:
            pending.append((job, pool.submit(_load, job.source, max_pixels)))
        while pending and (job is None or len(pending) > window):
            done, future = pending.popleft()
            try:
                yield done, future.result()
            except ImageError as err:
                yield done, str(err)


def _write(job: _Job, loaded: _Loaded, ab: np.ndarray) -> None:
    """Merge, convert and encode one image (runs in a writer thread, beside the network)."""
    images.write_image(job.target, Colorizer.render(loaded.L, ab), loaded.alpha)


class _FolderRun:
    """The state of one colorize_folder call: progress bar, report, the batch and in-flight writes."""

    def __init__(self, colorizer: Colorizer, writers: ThreadPoolExecutor, total: int, batch_size: int) -> None:
        self.colorizer = colorizer
        self.writers = writers
        self.batch_size = batch_size
        self.report = FolderReport()
        self.bar = tqdm(total=total, unit="image", disable=None, dynamic_ncols=True)
        self.batch: list[tuple[_Job, _Loaded]] = []
        self.writes: deque[tuple[_Job, Future]] = deque()

    def select(self, pairs: list[tuple[Path, Path]], skip_existing: bool) -> list[_Job]:
        """The jobs to run; outputs that exist (with skip_existing) or that two inputs share are left out."""
        jobs, taken = [], set()
        for source, target in pairs:
            if target in taken:  # photo.jpg and photo.png both become photo.png under --format png
                self.skip(_Job(source, target), f"output {target} is already taken by another input")
            elif skip_existing and target.exists():
                self.report.existing += 1
                self.bar.update(1)
            else:
                taken.add(target)
                jobs.append(_Job(source, target))
        return jobs

    def skip(self, job: _Job, reason: str) -> None:
        line = reason if reason.startswith(str(job.source)) else f"{job.source}: {reason}"
        self.report.skipped.append(line)
        tqdm.write(line)
        self.bar.update(1)

    def add(self, job: _Job, loaded: _Loaded) -> None:
        """Queue a decoded image; a full batch, or one of another working size, runs the batch first."""
        if loaded.is_colour:
            self.report.colour_inputs += 1
            tqdm.write(f"{job.source}: note: a colour image; colorized from its lightness (as gray)")
        render_size = self.colorizer.render_size
        if self.batch and (len(self.batch) == self.batch_size or working_size(*loaded.L.shape, render_size)
                           != working_size(*self.batch[0][1].L.shape, render_size)):
            self.flush(max_pending=2)
        self.batch.append((job, loaded))

    def flush(self, max_pending: int) -> None:
        """One network call for the batch; its images go to the writer, at most `max_pending` left waiting."""
        if self.batch:
            abs_ = self.colorizer.predict_ab([loaded.L for _, loaded in self.batch])
            for (job, loaded), ab in zip(self.batch, abs_):
                self.writes.append((job, self.writers.submit(_write, job, loaded, ab)))
            self.batch = []
        while len(self.writes) > max_pending:
            self.collect()

    def collect(self) -> None:
        """Wait for the oldest write and record its outcome."""
        job, future = self.writes.popleft()
        try:
            future.result()
        except ImageError as err:
            self.skip(job, str(err))
            return
        self.report.written += 1
        self.bar.update(1)


def colorize_folder(src: Path, dst: Path, colorizer: Colorizer, *, out_format: str | None = None,
                    skip_existing: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                    batch_size: int = 8) -> FolderReport:
    """Colorize one image file or every image under a folder into `dst`, each at its own resolution.

    Bad files (unreadable, truncated, too large) get one `path: reason` line and are skipped; the
    rest still come out. Two reader threads decode ahead and a writer thread encodes behind the
    network; consecutive images of one working size share a network call (up to `batch_size`).
    Alpha is kept where the output format carries it (PNG, WebP, TIFF). Outputs are 8-bit sRGB.
    """
    pairs = plan_outputs(src, dst, out_format)
    with ThreadPoolExecutor(2) as readers, ThreadPoolExecutor(1) as writers:
        run = _FolderRun(colorizer, writers, total=len(pairs), batch_size=batch_size)
        jobs = run.select(pairs, skip_existing)
        for job, loaded in _read_ahead(jobs, max_pixels, readers, window=batch_size + 1):
            if isinstance(loaded, str):
                run.skip(job, loaded)
            else:
                run.add(job, loaded)
        run.flush(max_pending=0)
        run.bar.close()
    return run.report
