"""Archive throughput, today's code beside a baseline checkout, in one run:

    git worktree add ../baseline ed4fc8d     # the code to compare with
    python benchmarks/bench_throughput.py --baseline ../baseline [--photos 50] [--runs 3]

1. One photo end to end (read, colorize, write through `folder.colorize_folder`, model loaded) at 2 MP
   and 12 MP: median seconds of `--runs` after a warm-up, and the peak RSS those runs add, each tree and
   size in a fresh process (benchmarks/_throughput_worker.py with that tree on PYTHONPATH), and the
   process's whole peak RSS (model, libraries and memory kept for reuse included). The trees
   take turns, so a change in the machine's load hits both.
2. A folder of `--photos` 12 MP gray JPEGs through each tree's `tools/colorize.py`, on one process and
   under `torchrun --nproc_per_node=2`: photos per second of the whole command, start-up included,
   as a user's run sees it.

Inputs are made as bench_colorize.py makes them (one real photo resized; quality-95 gray JPEGs). Both
trees use this tree's `checkpoints/default.pt` unless `--checkpoint`. Prints Markdown tables
(docs/performance.md holds a copy). Without `--baseline`, only today's code is timed.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import cv2
from bench_colorize import machine, source_gray

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "_throughput_worker.py"
SIZES = (("2 MP", 2_000_000), ("12 MP", 12_000_000))


def make_photo(gray, pixels: int, path: Path) -> Path:
    height, width = gray.shape
    scale = (pixels / (height * width)) ** 0.5
    size = (round(width * scale), round(height * scale))
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    cv2.imwrite(str(path), cv2.resize(gray, size, interpolation=method), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def in_tree(tree: Path) -> dict:
    """The environment that makes a subprocess import `tree`'s gan_colorizer."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])}


def one_photo(tree: Path, checkpoint: Path, photo: Path, runs: int) -> dict:
    done = subprocess.run([sys.executable, str(WORKER), str(checkpoint), str(photo), str(runs)], env=in_tree(tree),
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(result["package"]).resolve() != (tree / "gan_colorizer").resolve():
        raise click.ClickException(f"{tree}: the worker imported {result['package']} instead")
    return result


def folder_seconds(tree: Path, checkpoint: Path, src: Path, ranks: int) -> float:
    """Wall seconds of `tools/colorize.py --in src` in `tree`, on one process or under torchrun."""
    out = src.parent / f"out-{ranks}"
    shutil.rmtree(out, ignore_errors=True)
    command = [str(tree / "tools" / "colorize.py"), "--in", str(src), "--out", str(out), "--checkpoint", str(checkpoint)]
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"]
                if ranks > 1 else [sys.executable])
    start = time.perf_counter()
    subprocess.run(launcher + command, env=in_tree(tree), capture_output=True, check=True)
    seconds = time.perf_counter() - start
    shutil.rmtree(out)
    return seconds


@click.command()
@click.option("--baseline", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A checkout of the code to compare with (git worktree add ../baseline REV).")
@click.option("--photo", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Photo to resize into the inputs. [default: the shared 20 MP photo, else skimage's astronaut]")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=ROOT / "checkpoints" / "default.pt", show_default=True)
@click.option("--photos", default=50, show_default=True, type=click.IntRange(min=1), help="Photos in the folder run.")
@click.option("--runs", default=3, show_default=True, type=click.IntRange(min=1))
def main(baseline: Path | None, photo: Path | None, checkpoint: Path, photos: int, runs: int) -> None:
    """Print one-photo seconds and peak memory, and folder throughput, for each tree."""
    trees = {"today": ROOT, **({"baseline": baseline.resolve()} if baseline else {})}
    gray, source = source_gray(photo)
    click.echo(f"Machine: {machine()}\nPhoto: {source}; trees: "
               + ", ".join(f"{name} {tree}" for name, tree in trees.items()) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        click.echo("| input | " + " | ".join(f"{name} s | {name} peak MB added | {name} peak RSS MB" for name in trees)
                   + " |")
        click.echo("|---|" + "---|---|---|" * len(trees))
        for label, pixels in SIZES:
            path = make_photo(gray, pixels, tmp / f"{label.replace(' ', '')}.jpg")
            results = {name: one_photo(tree, checkpoint, path, runs) for name, tree in trees.items()}
            click.echo(f"| {label} | " + " | ".join(f"{r['seconds']:.3f} | {r['peak_mb']:.0f} | {r['peak_total_mb']:.0f}"
                                                    for r in results.values()) + " |")
        src = tmp / "folder"
        src.mkdir()
        first = make_photo(gray, 12_000_000, src / "scan_000.jpg")
        for index in range(1, photos):
            os.link(first, src / f"scan_{index:03d}.jpg")  # the same bytes: decode work is alike for each
        click.echo(f"\nA folder of {photos} 12 MP gray JPEGs, whole command (start-up included):\n")
        click.echo("| command | " + " | ".join(f"{name} photos/s" for name in trees) + " |")
        click.echo("|---|" + "---|" * len(trees))
        for ranks in (1, 2):
            rates = [photos / folder_seconds(tree, checkpoint, src, ranks) for tree in trees.values()]
            command = "colorize.py" if ranks == 1 else "torchrun --nproc_per_node=2 colorize.py"
            click.echo(f"| {command} | " + " | ".join(f"{rate:.2f}" for rate in rates) + " |")
    click.echo(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
