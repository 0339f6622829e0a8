"""Colorize a file or a whole folder tree into another folder: what `tools/colorize.py` runs.

Jobs: list inputs and plan outputs (never over an input, never into `--in`); under torchrun, take
every WORLD_SIZE-th of them; reader threads decode ahead (header checks: pixel count and memory,
then L); the main thread batches images of one working size through the Colorizer; writer threads
render and encode behind it (two of each; one under torchrun on few cores). A bad file gets one
`path: reason` line in the report and is skipped; the rest still come out. Ctrl-C or SIGTERM stops
the run between images with every written file whole; the ranks' reports are gathered into one.
"""
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from gan_colorizer import color, hint_file, image_writer, images, points, progress, runtime
from gan_colorizer.errors import ConfigError, DataError, ImageError
from gan_colorizer.inference import Colorizer
from gan_colorizer.memory import HEADROOM, available_memory, network_memory, working_size
from gan_colorizer.metadata import Metadata
from gan_colorizer.mood import Control

# A 100 MP scan needs about 4 GB while it is processed (float32 L, Lab and RGB copies at full size).
DEFAULT_MAX_PIXELS = 100_000_000
OUTPUT_FORMATS = ("jpg", "png", "webp", "tif", "bmp")
DEFAULT_PROGRESS_INTERVAL = progress.DEFAULT_INTERVAL  # s between lines when stderr is not a terminal
# Threads beside the network, each side: decoding and writing (render + encode, the longer of the two)
# of whole photos overlap the network's call; two each keep two cores busy (docs/performance.md). A
# process given fewer cores (torchrun sets one torch thread per rank) takes one each: more only switch.
MAX_SIDE_THREADS = 2
# Full-size images alive at once, at memory.FULL_RES_BYTES_PER_PIXEL each: the two rendering. One
# decoding holds its 8-bit pixels and L (5 bytes a pixel), well inside that estimate's margin.
FULL_SIZE_IMAGES_IN_FLIGHT = 2


@dataclass
class FolderReport:
    """What colorize_folder did, over all ranks under torchrun.

    total: inputs planned; skipped: one `path: reason` line per file that got no output; notes: one
    `path: note: ...` line per remark (a colour input, say); interrupted: Ctrl-C or SIGTERM stopped the
    run early, every output written so far being whole.
    """

    total: int = 0
    written: int = 0
    existing: int = 0
    colour_inputs: int = 0
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False

    @classmethod
    def combine(cls, reports: list["FolderReport"]) -> "FolderReport":
        """One report for the ranks' reports: counts added, lines in rank order, interrupted if any was."""
        return cls(total=sum(r.total for r in reports), written=sum(r.written for r in reports),
                   existing=sum(r.existing for r in reports), colour_inputs=sum(r.colour_inputs for r in reports),
                   skipped=[line for r in reports for line in r.skipped],
                   notes=[line for r in reports for line in r.notes],
                   interrupted=any(r.interrupted for r in reports))


@dataclass
class _Job:
    source: Path
    target: Path
    hints: Path | None = None  # the photo's hint file (hint_file.py), when it has one


@dataclass
class _Loaded:
    L: np.ndarray  # (H, W) in [0, 100], the input's lightness
    alpha: np.ndarray | None  # (H, W) in [0, 1]
    is_colour: bool
    notes: list[str]  # what decoding left out (later frames or pages, unreadable metadata)
    metadata: Metadata  # EXIF, XMP, IPTC, DPI and bit depth, carried to the output
    hints: hint_file.PhotoHints | None  # the photo's own points and look


@dataclass(frozen=True)
class _Encoding:
    quality: int  # JPEG and WebP quality, 1-100
    bit_depth: int | None  # 8 or 16; None: the input's where the output format holds it, else 8
    uncertainty: bool = False  # also write each output's uncertainty map (`uncertainty_path`)


def uncertainty_path(target: Path) -> Path:
    """Where `--save-uncertainty` writes an output's map: beside it, `<name>.uncertainty.png`."""
    return target.with_name(f"{target.stem}.uncertainty.png")


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


def _load(job: _Job, max_pixels: int, colorizer: Colorizer) -> _Loaded:
    """Decode one file to its L, and read its hint file (runs in a reader thread, beside the network).

    The memory check runs on the header's size, before decoding; on the decoded size when the
    header did not tell. A bad hint file, or points for a model that takes none, is an ImageError:
    the photo is skipped with that line, the run goes on.
    """
    path = job.source
    hints = _hints(job, colorizer)
    size = images.check_pixel_count(path, max_pixels)
    if size is not None:
        colorizer.check_memory(*size, name=str(path), full_size_images=FULL_SIZE_IMAGES_IN_FLIGHT)
    picture = images.read_image(path)
    if size is None:
        colorizer.check_memory(*picture.size, name=str(path), full_size_images=FULL_SIZE_IMAGES_IN_FLIGHT)
    L = picture.L
    if hints is not None:
        try:
            points.check_inside(hints.points, *L.shape)
        except ConfigError as err:
            raise ImageError(f"{job.hints}: {err}; move the point or remove it") from None
    return _Loaded(L=L, alpha=picture.alpha, is_colour=not picture.is_gray, notes=picture.notes,
                   metadata=picture.metadata, hints=hints)


def _hints(job: _Job, colorizer: Colorizer) -> hint_file.PhotoHints | None:
    """The job's hint file read and checked against the model; ImageError naming the file and the fix."""
    if job.hints is None:
        return None
    try:
        hints = hint_file.read(job.hints)
    except ConfigError as err:
        raise ImageError(str(err)) from None
    if hints.vividness is not None and not colorizer.takes_vividness:
        raise ImageError(f"{job.hints}: has a vividness, but this model has no colour-distribution head; remove it "
                         f"or use a model trained with one")
    if hints.points and not colorizer.takes_points:
        raise ImageError(f"{job.hints}: has colour points, but this model takes none; use the bundled model "
                         f"(or one trained with points), or remove the points")
    return hints


def _read_ahead(jobs: list[_Job], max_pixels: int, colorizer: Colorizer, pool: ThreadPoolExecutor,
                window: int) -> Iterator[tuple[_Job, _Loaded | str]]:
    """Yield each job with its decoded image, or the reason it failed, in order; `window` decode ahead."""
    pending: deque[tuple[_Job, Future]] = deque()
    for job in [*jobs, None]:
        if job is not None:
            pending.append((job, pool.submit(_load, job, max_pixels, colorizer)))
        while pending and (job is None or len(pending) > window):
            done, future = pending.popleft()
            try:
                yield done, future.result()
            except ImageError as err:
                yield done, str(err)


def _write(job: _Job, loaded: _Loaded, ab: np.ndarray, encoding: _Encoding, unsure: np.ndarray | None) -> str | None:
    """Merge, convert and encode one image (runs in a writer thread, beside the network); returns the
    note for colour points the photo's lightness could not hold (None when all arrived or there were none).

    An 8-bit file gets `Colorizer.render`'s pixels, the API's; a 16-bit one (a 16-bit scan written
    as PNG or TIFF) the float render before rounding, so it keeps its depth. unsure: the (H, W) uint8
    uncertainty map to write beside it, or None.
    """
    if unsure is not None:
        image_writer.write_gray_png(uncertainty_path(job.target), unsure)
    lab = color.merge_lab(loaded.L, ab)
    if image_writer.output_bit_depth(job.target, loaded.metadata, encoding.bit_depth) == 8:
        rgb = color.lab_to_rgb8_in_gamut(lab)
    else:
        rgb = color.lab_to_rgb_in_gamut(lab)
    del lab  # 12 bytes a pixel, no longer needed while the file is encoded
    image_writer.write_image(job.target, rgb, loaded.alpha, quality=encoding.quality, metadata=loaded.metadata,
                             bit_depth=encoding.bit_depth)
    wanted = loaded.hints.points if loaded.hints is not None else ()
    return points.PointsReport(wanted, points.written_colours(rgb, wanted)).note() if wanted else None


class _FolderRun:
    """The state of one colorize_folder call on one rank: report, progress, the batch and in-flight writes."""

    def __init__(self, colorizer: Colorizer, request: Control | None, encoding: _Encoding, batch_size: int,
                 speaks: bool) -> None:
        self.colorizer, self.request, self.encoding = colorizer, request, encoding
        self.batch_size = batch_size
        self.speaks = speaks
        self.report = FolderReport()
        self.progress: tqdm | progress.ProgressLines = tqdm(disable=True)
        self.batch: list[tuple[_Job, _Loaded]] = []
        self.writes: deque[tuple[_Job, Future]] = deque()

    def select(self, pairs: list[tuple[Path, Path]], world: runtime.World, skip_existing: bool,
               hints: Path | None = None) -> list[_Job]:
        """This rank's jobs: every world.size-th planned output, round-robin over the sorted list.

        Each job's hint file is `hints` when given (one photo), else the photo's own
        `photo.hints.json` when it exists.

        Outputs that two inputs share are found over the whole plan (before the split, so no two
        ranks write one file); existing outputs (with skip_existing) are left out after it, so a
        resumed run spreads what is left as evenly as the first run did.
        """
        taken, planned = set(), []
        for source, target in pairs:
            own = hints or (hint_file.beside(source) if hint_file.beside(source).is_file() else None)
            planned.append((_Job(source, target, own), target in taken))  # photo.jpg and photo.png -> photo.png
            taken.add(target)
        mine = planned[world.rank::world.size]
        self.report.total = len(mine)
        jobs = []
        for job, is_taken in mine:
            if is_taken:
                self.skip(job, f"output {job.target} is already taken by another input")
            elif skip_existing and job.target.exists():
                self.report.existing += 1
            elif reason := self.unwritable(job):
                self.skip(job, reason)
            else:
                jobs.append(job)
        return jobs

    def unwritable(self, job: _Job) -> str | None:
        """Why the output cannot be written as asked (16 bits into a JPEG), known before decoding."""
        try:
            image_writer.output_bit_depth(job.target, bit_depth=self.encoding.bit_depth)
        except ImageError as err:
            return str(err)
        return None

    def say(self, line: str) -> None:
        if self.speaks:
            tqdm.write(line)

    def skip(self, job: _Job, reason: str) -> None:
        line = reason if reason.startswith(str(job.source)) else f"{job.source}: {reason}"
        self.report.skipped.append(line)
        self.say(line)
        self.progress.update(1)

    def add(self, job: _Job, loaded: _Loaded, writers: ThreadPoolExecutor) -> None:
        """Queue a decoded image; a full batch, one of another working size, or one that would not fit
        in memory with this image runs first."""
        notes = list(loaded.notes)
        if loaded.is_colour:
            self.report.colour_inputs += 1
            notes.append("a colour image; colorized from its lightness (as gray)")
        for note in notes:
            line = f"{job.source}: note: {note}"
            self.report.notes.append(line)
            self.say(line)
        render_size = self.colorizer.render_size
        size = working_size(*loaded.L.shape, render_size)
        if self.batch and (len(self.batch) == self.batch_size
                           or size != working_size(*self.batch[0][1].L.shape, render_size)
                           or self.request_of(loaded) != self.request_of(self.batch[0][1])
                           or self.vividness_of(loaded) != self.vividness_of(self.batch[0][1])
                           or not self.batch_fits(loaded.L.shape, len(self.batch) + 1)):
            self.flush(writers, max_pending=2)
        self.batch.append((job, loaded))

    def request_of(self, loaded: _Loaded) -> Control | None:
        """The look of one photo: its hint file's, else the run's."""
        return loaded.hints.look if loaded.hints is not None and loaded.hints.look is not None else self.request

    @staticmethod
    def vividness_of(loaded: _Loaded) -> float | None:
        """The vividness of one photo: its hint file's, else None (the run's)."""
        return loaded.hints.vividness if loaded.hints is not None else None

    def batch_fits(self, shape: tuple[int, int], count: int) -> bool:
        """Whether one network call on `count` images of this size fits in the memory free now."""
        available = available_memory()
        return available is None or HEADROOM * network_memory(*shape, self.colorizer.render_size, count) <= available

    def flush(self, writers: ThreadPoolExecutor, max_pending: int) -> None:
        """One network call for the batch; its images go to the writer, at most `max_pending` left waiting."""
        if self.batch:
            wanted = [loaded.hints.points if loaded.hints is not None else None for _, loaded in self.batch]
            predictions = self.colorizer.predict([loaded.L for _, loaded in self.batch],
                                                 self.request_of(self.batch[0][1]), wanted,
                                                 self.vividness_of(self.batch[0][1]))
            for (job, loaded), prediction in zip(self.batch, predictions):
                note = prediction.control.note() if prediction.control is not None else None
                if note:  # the photo's lightness could not hold the colour request: say what was reached
                    tqdm.write(f"{job.source}: note: {note}")
                unsure = self.colorizer.uncertainty(loaded.L) if self.encoding.uncertainty else None
                self.writes.append((job, writers.submit(_write, job, loaded, prediction.ab, self.encoding, unsure)))
            self.batch = []
        while len(self.writes) > max_pending:
            self.collect()

    def collect(self) -> None:
        """Wait for the oldest write and record its outcome."""
        job, future = self.writes.popleft()
        try:
            note = future.result()
        except ImageError as err:
            self.skip(job, str(err))
            return
        if note:  # colour points the photo's lightness could not hold: say what was reached
            line = f"{job.source}: note: {note}"
            self.report.notes.append(line)
            self.say(line)
        self.report.written += 1
        self.progress.update(1)

    def discard(self) -> None:
        """Stop early: drop the batch not yet run, cancel writes not yet started, finish the one in progress.

        Only whole files are left: write_image renames a finished temporary file into place, and a
        cancelled write never made one.
        """
        self.report.interrupted = True
        self.batch = []
        while self.writes:
            if self.writes[0][1].cancel():
                self.writes.popleft()
            else:
                self.collect()


def _combine_ranks(report: FolderReport, world: runtime.World, group: dist.ProcessGroup | None) -> FolderReport:
    """Every rank's report summed into one, on every rank; rank 0 prints the other ranks' lines."""
    reports = runtime.gathered(report, group)
    if world.is_main:
        for other in reports[1:]:
            for line in [*other.notes, *other.skipped]:
                tqdm.write(line)
    return FolderReport.combine(reports)


def colorize_folder(src: Path, dst: Path, colorizer: Colorizer, request: Control | None = None, *,
                    out_format: str | None = None, skip_existing: bool = False,
                    max_pixels: int = DEFAULT_MAX_PIXELS, jpeg_quality: int = 95, bit_depth: int | None = None,
                    batch_size: int = 8, progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
                    hints: Path | None = None, save_uncertainty: bool = False) -> FolderReport:
    """Colorize one image file or every image under a folder into `dst`, each at its own resolution.

    Bad files (unreadable, truncated, too large for --max-pixels or for the memory free at this
    render size) get one `path: reason` line and are skipped; the rest still come out. Reader
    threads decode ahead and writer threads encode behind the network; consecutive images of one
    working size share a network call (up to `batch_size`, and as many as fit in memory). Alpha is
    kept where the output format carries it (PNG, WebP, TIFF), and so are the input's EXIF, XMP, IPTC and
    DPI (image_writer.write_image); outputs are tagged sRGB. bit_depth: 8 or 16 bits per channel (16 only
    in PNG and TIFF; other outputs get a skip line), None for the input's depth where the output
    format holds it; jpeg_quality: 1-100 for JPEG and WebP outputs. Decoding notes (the first frame of
    an animation only, say) are printed as `path: note: ...` lines. A photo with a hint file beside it
    (`photo.hints.json`, hint_file.py), or `hints` for a single photo, gets its colour points and look.
    save_uncertainty: write each output's uncertainty map (`Colorizer.uncertainty`) beside it as
    `<name>.uncertainty.png`, 8-bit gray (a model with a distribution head only).

    Under torchrun (runtime.distributed) each rank takes every WORLD_SIZE-th file and the returned
    report covers all ranks; only rank 0 prints progress and per-file lines. Progress is a tqdm bar
    on a terminal, else a line every `progress_interval` seconds. Ctrl-C or SIGTERM stops the run
    after the file being written (report.interrupted); `skip_existing` then resumes it.
    """
    world = runtime.world() if dist.is_initialized() else runtime.World()  # the split needs the group
    if save_uncertainty:
        colorizer.check_uncertainty()
    pairs = plan_outputs(src, dst, out_format)
    group = runtime.summary_group()
    run = _FolderRun(colorizer, request, _Encoding(jpeg_quality, bit_depth, save_uncertainty), batch_size,
                     speaks=world.is_main)
    # Ctrl-C and SIGTERM finish the file being written and stop, instead of killing the run mid-file
    # (Ctrl-C would otherwise be click's `Aborted!` and exit 1, the status of a run with skipped files).
    # The handlers stay while rank 0 waits for the others' reports: they stop, and report, too.
    with runtime.stop_on_signals((signal.SIGINT, signal.SIGTERM)) as stop:
        if hints is not None and len(pairs) != 1:
            raise ConfigError(f"--hints {hints} is for one photo; --in {src} holds {len(pairs)}: put each "
                              f"photo's hints beside it as <name>{hint_file.SUFFIX} instead")
        jobs = run.select(pairs, world, skip_existing, hints)
        run.progress = progress.progress("colorize", run.report.total, run.report.total - len(jobs),
                                         progress_interval, world.is_main)
        side_threads = min(MAX_SIDE_THREADS, torch.get_num_threads())
        with (ThreadPoolExecutor(side_threads) as readers, ThreadPoolExecutor(side_threads) as writers,
              runtime.opencv_threads(1 if len(jobs) > 1 else cv2.getNumThreads())):
            for job, loaded in _read_ahead(jobs, max_pixels, colorizer, readers, window=batch_size + 1):
                if stop["stop"]:
                    break
                if isinstance(loaded, str):
                    run.skip(job, loaded)
                else:
                    run.add(job, loaded, writers)
            if stop["stop"]:
                readers.shutdown(cancel_futures=True)  # decodes not yet started are dropped
                run.discard()
            else:
                run.flush(writers, max_pending=0)
        run.progress.close()
        return _combine_ranks(run.report, world, group)
