"""Colorize a video file: frames decoded by FFmpeg through PyAV, colour carried along optical flow so that
it holds still where the scene does, frames encoded again with the audio and subtitle streams copied.

Per-frame colouring flickers: the network's a*b* for a wall or a face changes a little with every
grain of film and every step of motion. `StableChroma` warps the previous output's a*b* onto the new
frame along OpenCV's DIS flow (computed on the gray frames at the network's working size, where the
a*b* live), keeps it where a forward-backward check and the lightness agree, and blends in the new
prediction elsewhere and a little everywhere, so that drift is corrected; a cut (a jump in lightness,
or flow that no longer explains the frame) starts afresh. L stays each frame's own. Memory holds a
few frames whatever the length: frames stream from the decoder to the encoder in small batches.

Needs the `video` extra (PyAV, which ships FFmpeg with libx264). Output: H.264 in MP4 by default,
`--crf` and `--codec` as FFmpeg names them; the frame count, rate and timestamps are the input's.
"""
import dataclasses
import os
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gan_colorizer import color, hint_file, points, progress, runtime
from gan_colorizer.errors import ConfigError, ImageError
from gan_colorizer.inference import Colorizer, shrink_L
from gan_colorizer.mood import Control

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".wmv",
                  ".flv", ".ogv", ".3gp")
# Sound-only files: given alone as --in, they get the video path's one-line "no video stream"; a folder
# run leaves them alone (an archive folder may hold narration beside its films).
AUDIO_SUFFIXES = (".m4a", ".mp3", ".wav", ".aac", ".flac", ".ogg", ".opus", ".wma")
BATCH = 4  # frames per network call: their predictions do not depend on each other


def is_video_name(name: str) -> bool:
    return name.lower().endswith(VIDEO_SUFFIXES)


def _av():
    """PyAV, or a one-line ConfigError saying how to install it."""
    try:
        import av
    except ImportError:
        raise ConfigError("video needs PyAV: pip install 'gan-colorizer[video]' (or pip install av)") from None
    return av


@dataclass(frozen=True)
class VideoEncoding:
    """How the output is encoded, in FFmpeg's terms. crf: 0 (lossless) .. 51, lower is better; x264's
    default is 23, 18 looks like the input. preset: x264's speed/size trade ('veryfast' keeps a 2-core
    CPU on the network rather than on the encoder)."""

    codec: str = "libx264"
    crf: int = 18
    preset: str = "veryfast"


@dataclass
class VideoReport:
    """What one video run did, for the closing lines."""

    source: Path
    frames: int = 0  # frames written
    expected: int = 0  # frames the container announces, or its duration implies (0: unknown)
    cuts: int = 0  # shots started afresh after the first
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False

    def line(self) -> str:
        of = f" of {self.expected}" if self.expected else ""
        return f"{self.source}: {self.frames}{of} frames, {self.cuts + 1 if self.frames else 0} shots"


class StableChroma:
    """Makes per-frame a*b* hold still where the scene does, at the network's working size.

    carry: the share of the flow-warped previous colour kept where the flow is trusted; the rest is the
    new prediction, which pulls drift back toward what the network sees (0.8 averages out about two
    thirds of per-frame jitter). tolerance: lightness difference (L units) between a pixel and the
    warped previous frame at which trust falls to 1/e (a flash, or flow gone astray). A cut is a mean
    lightness jump above `cut_change` or fewer than `cut_share` of the pixels with trusted flow.
    """

    def __init__(self, carry: float = 0.8, tolerance: float = 8.0, cut_change: float = 10.0,
                 cut_share: float = 0.3) -> None:
        self.carry, self.tolerance, self.cut_change, self.cut_share = carry, tolerance, cut_change, cut_share
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # gray uint8, L, ab
        self.now: tuple[np.ndarray, np.ndarray] | None = None  # this frame's gray and L, between look and blend
        self.weight: np.ndarray | None = None  # (h, w) trust in the warped previous colour; None: a new shot
        self.warped: np.ndarray | None = None  # (h, w, 2) the previous colour warped onto this frame
        self.motion: np.ndarray | None = None  # (h, w, 2) where each pixel was in the previous frame, minus where it is

    def __call__(self, L: np.ndarray, ab: np.ndarray) -> tuple[np.ndarray, bool]:
        """(h, w) L in [0, 100] and the network's (h, w, 2) a*b* -> the a*b* to render, and whether a new
        shot started here (the first frame included)."""
        new_shot = self.look(L)
        return self.blend(ab), new_shot

    def look(self, L: np.ndarray) -> bool:
        """Take in a new frame's (h, w) L: follow the motion from the previous one; True where a shot starts."""
        gray = cv2.convertScaleAbs(L, alpha=255.0 / 100.0)
        self.now, self.weight, self.motion = (gray, L), None, None
        if self.previous is not None and np.abs(L - self.previous[1]).mean() <= self.cut_change:
            self.weight = self.trust(gray, L)
        return self.weight is None

    def blend(self, ab: np.ndarray) -> np.ndarray:
        """This frame's a*b* to render from the network's (h, w, 2) prediction of it."""
        stable = ab if self.weight is None else (
            self.weight[..., None] * self.warped + (1.0 - self.weight[..., None]) * ab).astype(np.float32)
        self.previous = (*self.now, stable)
        return stable

    def carried(self) -> np.ndarray:
        """The previous colour carried onto this frame along the flow, with no new prediction (the frames
        between network calls, `network_every`); only after a `look` that found no cut."""
        self.previous = (*self.now, self.warped)
        return self.warped

    def trust(self, gray: np.ndarray, L: np.ndarray) -> np.ndarray | None:
        """(h, w) weight in [0, carry] of the warped previous colour (kept in self.warped), or None at a cut."""
        gray_before, L_before, ab_before = self.previous
        map_x, map_y, reliable = reliable_flow(gray, gray_before, self.flow)
        if reliable.mean() < self.cut_share:
            return None

        def warp(image: np.ndarray) -> np.ndarray:
            return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        self.warped = warp(ab_before)
        height, width = gray.shape
        self.motion = np.dstack([map_x - np.arange(width, dtype=np.float32),
                                 map_y - np.arange(height, dtype=np.float32)[:, None]])
        lightness = np.exp(-((L - warp(L_before)) / self.tolerance) ** 2)
        return self.carry * reliable * lightness


def reliable_flow(gray: np.ndarray, gray_before: np.ndarray, flow) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maps (x, y) taking each pixel of `gray` to where it was in `gray_before` ((h, w) uint8 both; for
    cv2.remap), and where that flow is reliable ((h, w) bool): its forward and backward flows cancel
    (Ruder et al. 2016: a pixel whose two flows do not is occluded or mismatched) and it comes from
    inside the frame. flow: an OpenCV DenseOpticalFlow (DIS here)."""
    height, width = gray.shape
    forward = flow.calc(gray, gray_before, None)  # gray(x) ~ gray_before(x + forward(x))
    backward = flow.calc(gray_before, gray, None)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x, map_y = xs + forward[..., 0], ys + forward[..., 1]
    back = cv2.remap(backward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    reliable = _squared(forward + back) <= 0.01 * (_squared(forward) + _squared(back)) + 0.5
    reliable &= (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    return map_x, map_y, reliable


def _squared(flow: np.ndarray) -> np.ndarray:
    """(h, w, 2) flow -> (h, w) squared length of each vector."""
    return (flow ** 2).sum(axis=2)


def _open_input(av, path: Path):
    """The opened container and its first video stream; one-line ImageErrors for what is not a video."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, ValueError, OSError) as err:
        raise ImageError(f"{path}: not a readable video ({_reason(err)})") from None
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams}) or ["no streams"]
        container.close()
        raise ImageError(f"{path}: no video stream (it holds {', '.join(kinds)})")
    stream = container.streams.video[0]
    if stream.codec_context is None or stream.codec_context.width == 0:
        container.close()
        raise ImageError(f"{path}: its video stream cannot be decoded here (codec {stream.codec.name})")
    stream.thread_type = "AUTO"
    return container, stream


def _reason(err: Exception) -> str:
    return str(getattr(err, "strerror", None) or err).splitlines()[0].strip() or type(err).__name__


def _frames(av, container, video, copied: dict, report: VideoReport) -> Iterator[tuple[object, object]]:
    """('frame', VideoFrame) in display order and ('packet', Packet) of the streams copied, as demuxed.

    A damaged packet is skipped with a note, as FFmpeg's own command line does; a file that ends
    early ends the iteration (the report's frame count says where).
    """
    damaged = 0
    demuxer = container.demux(video, *copied)
    while True:
        try:
            packet = next(demuxer)
        except StopIteration:
            break
        except (av.error.FFmpegError, MemoryError) as err:
            report.notes.append(f"the file is damaged after frame {report.frames} ({_reason(err)}): stopped there")
            break
        if packet.stream in copied:
            if packet.dts is not None and packet.size:
                yield "packet", packet
            continue
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            damaged += 1
            continue
        for frame in frames:
            yield "frame", frame
    if damaged:
        report.notes.append(f"{damaged} damaged video packets skipped")


def _output_streams(av, output, video, copied_from: list, encoding: VideoEncoding, size: tuple[int, int],
                    report: VideoReport) -> tuple[object, dict]:
    """The encoded video stream and {input stream: output stream} for the audio and subtitles copied."""
    try:
        stream = output.add_stream(encoding.codec, rate=video.average_rate or video.guessed_rate or 25)
    except (av.error.FFmpegError, ValueError) as err:
        known = encoding.codec in av.codecs_available
        why = _reason(err) if known else "FFmpeg here has no such encoder; try libx264, libx265 or libvpx-vp9"
        raise ConfigError(f"--codec {encoding.codec}: {why}") from None
    stream.height, stream.width = size
    stream.pix_fmt = "yuv420p"
    stream.time_base = video.time_base
    stream.codec_context.time_base = video.time_base
    stream.options = {"crf": str(encoding.crf), "preset": encoding.preset}
    # What the RGB frames are converted with (swscale's default: BT.601 matrix, limited range), said in
    # the file: untagged, players take HD for BT.709 and shift its hues. Primaries and transfer: sRGB's.
    context = stream.codec_context
    context.colorspace, context.color_range, context.color_primaries, context.color_trc = 6, 1, 1, 1
    copied = {}
    for source in copied_from:
        try:
            copied[source] = output.add_stream_from_template(source)
        except (av.error.FFmpegError, ValueError) as err:
            report.notes.append(f"{source.type} stream {source.index} ({source.codec_context.name}) not copied: "
                                f"{_reason(err)}; an .mkv output holds nearly every kind")
    return stream, copied


def colorize_video(src: Path, dst: Path, colorizer: Colorizer, request: Control | None = None, *,
                   encoding: VideoEncoding = VideoEncoding(), stable: bool = True,
                   progress_interval: float = progress.DEFAULT_INTERVAL, shown: bool = True,
                   network_every: int = 2, hints: Path | None = None) -> VideoReport:
    """Colorize the video `src` into the file `dst` (written as `.dst.part` and renamed when complete).

    Raises ImageError (one line) for a file that is not a video or holds no video stream, ConfigError
    for an encoder that is missing or refuses the settings. Ctrl-C or SIGTERM stops after the frame
    being encoded: the partial output is removed and the report says how far it got. stable=False
    colours each frame on its own (the baseline `evaluate --video` compares with). network_every: run
    the network on every n-th frame only, the frames between following the flow (faster; stable only).
    hints: a video hint file (`hint_file.parse_video`); None: `film.hints.json` beside `film.mp4` when there.
    """
    av = _av()
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise ConfigError(f"--out {dst} would overwrite --in {src}; choose another output file")
    hints = hints if hints is not None else hint_file.beside(src)
    entries = _checked_hints(hints, colorizer) if hints.is_file() or hints != hint_file.beside(src) else None
    muxer_format = _container_format(av, dst)
    shots = None if entries is None else ShotHints(entries, request, shot_starts(src, colorizer.render_size))
    container, video = _open_input(av, src)
    report = VideoReport(src, expected=video.frames or _estimated_frames(video))
    height, width = video.codec_context.height // 2 * 2, video.codec_context.width // 2 * 2  # 4:2:0 needs even
    if (height, width) != (video.codec_context.height, video.codec_context.width):
        report.notes.append(f"{video.codec_context.width}x{video.codec_context.height} cropped to {width}x{height} "
                            f"(H.264 4:2:0 needs even sides)")
    for entry in (shots.entries.values() if shots is not None else ()):
        try:
            points.check_inside(entry.points, height, width)
        except ConfigError as err:
            container.close()
            raise ConfigError(f"{hints}: {err}; move the point or remove it") from None
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(f".{dst.name}.part")
    try:
        output = av.open(str(part), "w", format=muxer_format)
    except (av.error.FFmpegError, OSError) as err:
        container.close()
        raise ImageError(f"{dst}: cannot write ({_reason(err)})") from None
    done = False
    try:
        copies = [s for s in container.streams if s.type in ("audio", "subtitle")]
        stream, copied = _output_streams(av, output, video, copies, encoding, (height, width), report)
        bar = progress.progress("colorize", max(1, report.expected), 0, progress_interval, shown,
                                unit="frame")
        stabilizer = StableChroma() if stable else None
        with runtime.stop_on_signals((signal.SIGINT, signal.SIGTERM)) as stop, _Muxer(output, stream) as muxer:
            pending: list = []
            for kind, item in _frames(av, container, video, copied, report):
                if kind == "packet":
                    item.stream = copied[item.stream]
                    muxer.send(output.mux, item)
                    continue
                pending.append(item)
                if len(pending) == BATCH:
                    _colour_batch(pending, colorizer, request, stabilizer, muxer, report, (height, width),
                                  network_every, shots)
                    bar.update(len(pending))
                    pending = []
                if stop["stop"]:
                    report.interrupted = True
                    break
            if pending and not report.interrupted:
                _colour_batch(pending, colorizer, request, stabilizer, muxer, report, (height, width),
                                  network_every, shots)
                bar.update(len(pending))
            if not report.interrupted:
                muxer.send(lambda: output.mux(stream.encode(None)))
        bar.close()
        if report.frames == 0 and not report.interrupted:
            why = "; ".join(report.notes) or "damaged or truncated"
            raise ImageError(f"{src}: no video frame could be decoded ({why})")
        done = not report.interrupted
    except av.error.FFmpegError as err:
        raise ImageError(f"{dst}: cannot encode ({_reason(err)})") from None
    finally:
        container.close()
        try:
            output.close()
        except av.error.FFmpegError:
            done = False
        if done:
            os.replace(part, dst)
        else:
            part.unlink(missing_ok=True)
    if report.expected and report.frames < report.expected and not report.interrupted:
        report.notes.append(f"only {report.frames} of the {report.expected} frames announced could be decoded")
    return report


def shot_starts(path: Path, render_size: int) -> list[int]:
    """The frame numbers where shots start (0 first), found as `colorize_video` finds them (StableChroma's
    cut test on each frame's L at the working size), in a pass of its own over the video: what a hint
    file's look needs to hold for the whole shot, the frames before its own included."""
    av = _av()
    container, stream = _open_input(av, path)
    cuts, starts = StableChroma(), []
    try:
        for number, frame in enumerate(container.decode(stream)):
            small = shrink_L(color.gray_to_L(frame.to_ndarray(format="gray")), render_size)
            if cuts.look(small):
                starts.append(number)
            cuts.blend(np.zeros((*small.shape, 2), np.float32))  # only the lightness matters for a cut
    except av.error.FFmpegError:  # damage: the colouring pass reports it; the shots found so far stand
        pass
    finally:
        container.close()
    return starts


def _checked_hints(path: Path, colorizer: Colorizer) -> dict[int, hint_file.PhotoHints]:
    """A video hint file read and checked against the model; ConfigError naming the file and the fix."""
    entries = hint_file.read(path, video=True)
    if any(entry.points for entry in entries.values()) and not colorizer.takes_points:
        raise ConfigError(f"{path}: has colour points, but this model takes none; use the bundled model "
                          f"(or one trained with points), or remove the points")
    if any(entry.vividness is not None for entry in entries.values()):
        raise ConfigError(f"{path}: a vividness per shot is not supported for videos; remove it (use --vividness)")
    return entries


def _estimated_frames(video) -> int:
    """The frame count from the stream's (or the file's) duration and rate, for a container that does not
    announce it (Matroska); 0 when neither is known."""
    rate = video.average_rate or video.guessed_rate
    if video.duration and video.time_base and rate:
        return round(float(video.duration * video.time_base * rate))
    if video.container.duration and rate:
        return round(video.container.duration / 1_000_000 * float(rate))  # AV_TIME_BASE: microseconds
    return 0


def _container_format(av, dst: Path) -> str:
    """FFmpeg's muxer name for the output's suffix (the temporary name hides it from FFmpeg's guess)."""
    suffix = dst.suffix.lower().lstrip(".")
    names = {"mkv": "matroska", "m4v": "mp4", "mts": "mpegts", "ts": "mpegts", "ogv": "ogg", "mpg": "mpeg",
             "3gp": "3gp", "wmv": "asf"}
    name = names.get(suffix, suffix)
    if name not in av.formats_available:
        raise ConfigError(f"--out {dst}: no video container for '.{suffix}'; use .mp4 or .mkv")
    return name


class _Muxer:
    """The one thread that renders, encodes and muxes, in the order things are sent (PyAV's output
    container is not thread-safe); it overlaps the next frames' decoding and network call. At most
    `QUEUE` items wait, so memory holds a few frames whatever the length."""

    QUEUE = 8

    def __init__(self, output, stream) -> None:
        self.output, self.stream = output, stream
        self.pool = ThreadPoolExecutor(1)
        self.waiting: deque[Future] = deque()

    def send(self, work, *args) -> None:
        self.waiting.append(self.pool.submit(work, *args))
        while len(self.waiting) > self.QUEUE:
            self.waiting.popleft().result()  # raises the writer's error here

    def frame(self, L: np.ndarray, ab: np.ndarray, pts: int, time_base) -> None:
        """Render one frame (L kept, a*b* at working size) and encode it with its timestamp."""
        out = _av().VideoFrame.from_ndarray(Colorizer.render(L, ab), format="rgb24")
        out.pts, out.time_base = pts, time_base
        self.output.mux(self.stream.encode(out))

    def __enter__(self) -> "_Muxer":
        return self

    def __exit__(self, *exc) -> None:
        try:
            while self.waiting:
                self.waiting.popleft().result()
        finally:
            self.pool.shutdown(cancel_futures=True)


class ShotHints:
    """A video's hints by frame number (`hint_file.parse_video`): an entry's look holds for the whole shot of
    its frame (from the shot's first frame, given `starts`), its colour points from their frame to the end
    of the shot, moving with the content along the flow (they are placed on that frame's picture)."""

    def __init__(self, entries: dict[int, hint_file.PhotoHints], request: Control | None,
                 starts: list[int] | None = None) -> None:
        self.entries, self.run_request = dict(entries), request
        for number in sorted(entries):  # the first look of each shot reaches back to the shot's first frame
            start = max((s for s in starts or () if s <= number), default=number)
            if start < number and entries[number].look is not None and not any(start <= n < number for n in self.entries):
                self.entries[start] = dataclasses.replace(entries[number], points=())
        self.active: hint_file.PhotoHints | None = None
        self.points: tuple[points.Point, ...] = ()

    def frame(self, number: int, new_shot: bool, motion: np.ndarray | None, full_size: tuple[int, int]) -> None:
        """Move on to frame `number`: take up its entry, drop the last at a cut, else carry the points along
        `motion` ((h, w, 2) at working size: where each pixel was minus where it is; None: no flow)."""
        if number in self.entries:
            self.active = self.entries[number]
            self.points = self.active.points
        elif new_shot:
            self.active, self.points = None, ()
        elif self.points and motion is not None:
            self.points = tuple(self._moved(point, motion, full_size) for point in self.points)

    @staticmethod
    def _moved(point: points.Point, motion: np.ndarray, full_size: tuple[int, int]) -> points.Point:
        (height, width), (small_height, small_width) = full_size, motion.shape[:2]
        scale_x, scale_y = width / small_width, height / small_height
        row = min(small_height - 1, max(0, round(point.y / scale_y)))
        column = min(small_width - 1, max(0, round(point.x / scale_x)))
        dx, dy = motion[row, column]
        return dataclasses.replace(point, x=float(np.clip(point.x - dx * scale_x, -0.5, width - 0.5)),
                                   y=float(np.clip(point.y - dy * scale_y, -0.5, height - 0.5)))

    @property
    def request(self) -> Control | None:
        """The active entry's look, else the run's."""
        return self.active.look if self.active is not None and self.active.look is not None else self.run_request


def _colour_batch(frames: list, colorizer: Colorizer, request: Control | None, stabilizer: StableChroma | None,
                  muxer: _Muxer, report: VideoReport, size: tuple[int, int], network_every: int,
                  shots: ShotHints | None) -> None:
    """Colour a few decoded frames and send them to the muxer, timestamps kept: the network runs on every
    `network_every`-th frame, any that starts a shot and any with a hint entry; the others follow the flow.
    Without hints, the frames due for the network share one call."""
    height, width = size
    Ls = [color.gray_to_L(np.ascontiguousarray(frame.to_ndarray(format="gray")[:height, :width])) for frame in frames]
    due = [i for i in range(len(frames)) if stabilizer is None or (report.frames + i) % network_every == 0]
    predicted = {} if shots is not None else dict(
        zip(due, (p.ab for p in colorizer.predict([Ls[i] for i in due], request))))
    for index, (frame, L) in enumerate(zip(frames, Ls)):
        number, new_shot = report.frames, stabilizer is None or stabilizer.look(shrink_L(L, colorizer.render_size))
        if shots is not None:
            shots.frame(number, new_shot, None if stabilizer is None else stabilizer.motion, (height, width))
        if not (new_shot or index in due or (shots is not None and number in shots.entries)):
            ab = stabilizer.carried()
        else:
            ab = predicted.get(index)
            if ab is None:
                wanted = [shots.points] if shots is not None and shots.points else None
                ab = colorizer.predict([L], shots.request if shots is not None else request, wanted)[0].ab
            if stabilizer is not None:
                ab = stabilizer.blend(ab)
                report.cuts += new_shot and number > 0
        muxer.send(muxer.frame, L, ab, frame.pts, frame.time_base)
        report.frames += 1


def plan_videos(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """(video, output file) pairs: `src` a video file (`dst` the output file when it has a video suffix,
    else the folder it goes into), or every video under the folder `src` (its tree kept under `dst`)."""
    src, dst = Path(src), Path(dst)
    if src.is_file():
        if not (is_video_name(src.name) or src.name.lower().endswith(AUDIO_SUFFIXES)):
            return []
        name = src.name if is_video_name(src.name) else src.stem + ".mp4"  # a sound file: refused later, by name
        return [(src, dst if is_video_name(dst.name) else dst / name)]
    return [(path, dst / path.relative_to(src)) for path in sorted(src.rglob("*"))
            if path.is_file() and is_video_name(path.name)]


def colorize_videos(pairs: list[tuple[Path, Path]], colorizer: Colorizer, request: Control | None,
                    encoding: VideoEncoding, progress_interval: float,
                    network_every: int = 2, hints: Path | None = None) -> tuple[list[VideoReport], list[str]]:
    """Each video in turn (under torchrun, this rank's share: every WORLD_SIZE-th). Returns the reports
    and the one-line reasons of the videos skipped, of every rank (each rank prints its own skips and
    notes as they come); Ctrl-C stops after the frame being encoded. hints: the hint file of the one
    video in `pairs` (others use the `name.hints.json` beside them)."""
    if hints is not None and len(pairs) != 1:
        raise ConfigError(f"--hints {hints} is for one video; put each video's hints beside it as "
                          f"<name>{hint_file.SUFFIX} instead")
    world, group = runtime.world(), runtime.summary_group()
    reports, skipped = [], []
    for source, target in pairs[world.rank::world.size]:
        try:
            report = colorize_video(source, target, colorizer, request, encoding=encoding,
                                    progress_interval=progress_interval, shown=world.is_main,
                                    network_every=network_every, hints=hints)
        except (ImageError, ConfigError) as err:
            skipped.append(str(err))
            tqdm.write(str(err))
            continue
        reports.append(report)
        for note in report.notes:
            tqdm.write(f"{source}: note: {note}")
        if report.interrupted:
            break
    every = runtime.gathered((reports, skipped), group)
    return [report for ranks, _ in every for report in ranks], [line for _, lines in every for line in lines]
