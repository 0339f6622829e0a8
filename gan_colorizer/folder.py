"""Colorize a file or a whole folder tree into another folder: what `tools/colorize.py` runs.

Jobs: list inputs and plan outputs (never over an input, never into `--in`); two reader threads
decode ahead (header size check, then L); the main thread batches images of one working size through
the Colorizer; one writer thread renders and encodes behind it. A bad file gets one `path: reason`
line in the report and is skipped; the rest still come out.
"""
import warnings
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from gan_colorizer import color, images
from gan_colorizer.errors import ConfigError, DataError, ImageError
from gan_colorizer.inference import Colorizer, working_size
from gan_colorizer.mood import Control

# A 100 MP scan needs about 4 GB while it is processed (float32 L, Lab and RGB copies at full size).
DEFAULT_MAX_PIXELS = 100_000_000
OUTPUT_FORMATS = ("jpg", "png", "webp", "tif", "bmp")


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

    def __init__(self, colorizer: Colorizer, request: Control | None, writers: ThreadPoolExecutor, total: int,
                 batch_size: int) -> None:
        self.colorizer, self.request = colorizer, request
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
            abs_ = self.colorizer.predict_ab([loaded.L for _, loaded in self.batch], self.request)
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


def colorize_folder(src: Path, dst: Path, colorizer: Colorizer, request: Control | None = None, *,
                    out_format: str | None = None,
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
        run = _FolderRun(colorizer, request, writers, total=len(pairs), batch_size=batch_size)
        jobs = run.select(pairs, skip_existing)
        for job, loaded in _read_ahead(jobs, max_pixels, readers, window=batch_size + 1):
            if isinstance(loaded, str):
                run.skip(job, loaded)
            else:
                run.add(job, loaded)
        run.flush(max_pending=0)
        run.bar.close()
    return run.report
