"""Video speed and memory: frames per second end to end (decode, network, flow, render, encode), per-frame
colouring beside stable colour, on real clips at 640x272 and 1920x1080; and peak memory against length.

    python benchmarks/bench_video.py [--frames 120] [--minutes 10]

Clips: `../shared/data/video/bikes.mp4` (640x272) as it is, and `bigbuckbunny.mp4` scaled to 1920x1080
(made here with PyAV, quality-18 H.264), each cut to `--frames`. Memory: a synthetic clip (a textured
pan, 320x240, 25 fps) of `--short-minutes` (1) and of `--minutes` (10), each colorized in a fresh process; the peak RSS
colorizing adds must not grow with the length. Prints Markdown tables (docs/video.md holds a copy).
"""
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bench_colorize import machine

from gan_colorizer import inference, video

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "data" / "video"


def cut_clip(source: Path, target: Path, frames: int, size: tuple[int, int] | None = None) -> Path:
    """The first `frames` frames of `source` as H.264, scaled to size (width, height) when given."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream_in = inp.streams.video[0]
        rate = stream_in.average_rate or 25
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = size or (stream_in.codec_context.width, stream_in.codec_context.height)
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "18", "preset": "veryfast"}
        for index, frame in enumerate(inp.decode(stream_in)):
            if index == frames:
                break
            frame = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
            frame.pts, frame.time_base = index, 1 / Fraction(rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return target


def synthetic_clip(target: Path, minutes: float, size: tuple[int, int] = (320, 240), rate: int = 25) -> Path:
    """A textured pan of `minutes`, with a cut every 10 seconds (a new texture)."""
    width, height = size
    rng = np.random.default_rng(0)
    with av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        texture = None
        for index in range(int(minutes * 60 * rate)):
            if index % (10 * rate) == 0:
                texture = (rng.random((height, width * 2)) * 255).astype(np.uint8)
                texture = np.ascontiguousarray(np.repeat(np.repeat(texture[::8, ::8], 8, 0), 8, 1)[:height])
            shift = index % (10 * rate)
            gray = np.ascontiguousarray(texture[:, shift:shift + width])
            frame = av.VideoFrame.from_ndarray(gray, format="gray")
            frame.pts, frame.time_base = index, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return target


def fps(colorizer: inference.Colorizer, clip: Path, out: Path, stable: bool, network_every: int = 1) -> float:
    start = time.perf_counter()
    report = video.colorize_video(clip, out, colorizer, stable=stable, progress_interval=1e9, network_every=network_every)
    return report.frames / (time.perf_counter() - start)


MEMORY_WORKER = """
import json, sys
from pathlib import Path
from gan_colorizer import inference, video
def mb(field):
    return int(next(l for l in open('/proc/self/status') if l.startswith(field + ':')).split()[1]) / 1024
colorizer = inference.Colorizer.from_checkpoint(Path(sys.argv[1]))
rss = mb('VmRSS'); open('/proc/self/clear_refs', 'w').write('5')
report = video.colorize_video(Path(sys.argv[2]), Path(sys.argv[3]), colorizer, progress_interval=1e9)
print(json.dumps({'frames': report.frames, 'added_mb': mb('VmHWM') - rss}))
"""


@click.command()
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=ROOT / "checkpoints" / "default.pt", show_default=True)
@click.option("--frames", default=120, show_default=True, type=click.IntRange(min=2))
@click.option("--minutes", default=10.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Length of the long synthetic clip of the memory check.")
@click.option("--short-minutes", default=1.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Length of the short one.")
def main(checkpoint: Path, frames: int, minutes: float, short_minutes: float) -> None:
    """Print the speed table and the memory table."""
    colorizer = inference.Colorizer.from_checkpoint(checkpoint)
    click.echo(f"Machine: {machine()}\nModel: {checkpoint.name}, render size {colorizer.render_size}\n")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = {"bikes.mp4 (640x272)": cut_clip(CLIPS / "bikes.mp4", tmp / "bikes.mp4", frames),
                 "bigbuckbunny.mp4 at 1920x1080": cut_clip(CLIPS / "bigbuckbunny.mp4", tmp / "bbb1080.mp4", frames,
                                                           (1920, 1080))}
        click.echo(f"| clip ({frames} frames) | per-frame fps | stable fps | stable, --network-every 2 fps |\n"
                   "|---|---|---|---|")
        for name, clip in clips.items():
            rates = [fps(colorizer, clip, tmp / f"out-{stable}-{every}.mp4", stable, every)
                     for stable, every in ((False, 1), (True, 1), (True, 2))]
            click.echo(f"| {name} | " + " | ".join(f"{rate:.1f}" for rate in rates) + " |")
        click.echo("\n| synthetic clip (320x240, 25 fps) | frames | peak MB colorizing adds |\n|---|---|---|")
        for length in (short_minutes, minutes):
            clip = synthetic_clip(tmp / f"long{length:g}.mp4", length)
            done = subprocess.run([sys.executable, "-c", MEMORY_WORKER, str(checkpoint), str(clip), str(tmp / "o.mp4")],
                                  capture_output=True, text=True, check=True, cwd=ROOT)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            click.echo(f"| {length:g} min | {result['frames']} | {result['added_mb']:.0f} |")


if __name__ == "__main__":
    main()
