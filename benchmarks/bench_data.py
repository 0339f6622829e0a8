"""Data pipeline at scale: photo check (cold, cached, one file touched), time to the first batch,
loader throughput, and the per-sample cost of picking a photo at 1 k against 1.28 M photos.

    python benchmarks/bench_data.py [--n 50000] [--work DIR] [--size 64] [--samples 20000]

Makes `--n` small JPEGs (64-96 px crops of scikit-image photos, in folders of 1000 as ImageNet
has) under --work (default: a temp dir, removed after), and a synthetic 1.28 M-key source (keys
only; its decode returns one tiny constant picture, so what is timed is the sample's own work
plus the index). The photo check cache goes beside the folder, and XDG_CACHE_HOME points into
--work, so nothing outside it is touched. Prints a Markdown table.
"""
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import click
import cv2
import numpy as np
from skimage import data as skdata
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_colorizer import data  # noqa: E402
from gan_colorizer.config import DataConfig  # noqa: E402
from gan_colorizer.images import Picture  # noqa: E402

IMAGENET_KEYS = 1_281_167


def make_photos(root: Path, count: int, seed: int = 0) -> None:
    """`count` JPEGs of 64-96 px, random crops of four scikit-image photos, 1000 per sub-folder."""
    if root.is_dir() and sum(1 for _ in root.rglob("*.jpg")) == count:
        return
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    bases = [np.ascontiguousarray(photo[..., ::-1]) for photo in
             (skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket())]
    for index in range(count):
        base = bases[index % len(bases)]
        side = int(rng.integers(96, min(base.shape[:2])))
        top, left = (int(rng.integers(0, extent - side + 1)) for extent in base.shape[:2])
        width, height = (int(v) for v in rng.integers(64, 97, 2))
        crop = cv2.resize(base[top:top + side, left:left + side], (width, height), interpolation=cv2.INTER_AREA)
        folder = root / f"n{index // 1000:05d}"
        if index % 1000 == 0:
            folder.mkdir(parents=True)
        cv2.imwrite(str(folder / f"{index:07d}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 90])


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (a process pool's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(work):
    """(result, wall seconds, cores busy on average) of `work()`."""
    start, cpu = time.perf_counter(), cpu_seconds()
    result = work()
    wall = time.perf_counter() - start
    return result, wall, (cpu_seconds() - cpu) / wall


def clear_caches(root: Path) -> None:
    for path in data.split.cache_locations(root):
        path.unlink(missing_ok=True)


class KeysOnly:
    """A source of `count` ImageNet-like keys whose every photo is the same 64 x 48 picture."""

    def __init__(self, count: int) -> None:
        self.keys = [f"n{index // 1281:05d}/n{index // 1281:05d}_{index}.JPEG" for index in range(count)]
        self.picture = Picture(np.random.default_rng(0).random((48, 64, 3), dtype=np.float32), None, 8)

    def decode(self, key: str, reduce: int = 1) -> Picture:
        return self.picture


def synthetic_split(keys: list[str]) -> data.Split:
    return data.Split(keys, [], [], [], np.full(len(keys), 48, np.int32))


def block_seconds(work, first: int, count: int) -> float:
    """Seconds per call of work(i) for i in [first, first + count)."""
    start = time.perf_counter()
    for sample in range(first, first + count):
        work(sample)
    return (time.perf_counter() - start) / count


def sampler_rows(samples: int, repeats: int = 20) -> list[tuple[str, str, str]]:
    """Per-sample cost of TrainCrops at 1 k and 1.28 M keys: whole samples (constant decode) and the
    index alone (pick). Blocks alternate between the sizes and the best block counts, so load from
    other processes hits every size alike; a second 1 k set shows how far equal work differs."""
    stub_cfg, rows, crops, best = DataConfig(size=32), [], {}, {}
    for name, keys in (("1 k", 1000), ("1.28 M", IMAGENET_KEYS), ("1 k again", 1000)):
        stub = KeysOnly(keys)
        crops[name], build_s, _ = timed(lambda: data.TrainCrops(stub, synthetic_split(stub.keys), stub_cfg, seed=0))
        _, order_s, _ = timed(lambda: crops[name][0])  # builds epoch 0's order: once per epoch and process
        rows.append((f"TrainCrops over {name} keys", f"{build_s:.2f} s", f"epoch order {order_s * 1e3:.1f} ms, once per epoch"))
    block = max(1, samples // repeats)
    for repeat in range(repeats):
        for name, dataset in crops.items():
            for part, work in (("sample", dataset.__getitem__), ("pick", dataset.pick)):
                seconds = block_seconds(work, 1 + repeat * block, block)
                best[name, part] = min(best.get((name, part), seconds), seconds)
    for part, what in (("sample", "one sample (constant 64x48 decode, 32 px crop)"), ("pick", "index only (pick)")):
        times = " / ".join(f"{best[name, part] * 1e6:.1f}" for name in crops)
        rows.append((f"{what}: {' / '.join(crops)} keys", f"{times} us",
                     f"1.28 M / 1 k: {best['1.28 M', part] / best['1 k', part]:.2f}x "
                     f"(1 k again / 1 k: {best['1 k again', part] / best['1 k', part]:.2f}x)"))
    return rows


def loader_rate(crops: data.TrainCrops, workers: int, batch_size: int, batches: int) -> float:
    """Samples/s of a DataLoader over crops, after its first batch (worker start-up left out)."""
    loader = DataLoader(crops, batch_size=batch_size, sampler=data.StepSampler(0, batches + 1, batch_size),
                        num_workers=workers)
    iterator = iter(loader)
    next(iterator)
    start = time.perf_counter()
    count = sum(len(L_n) for L_n, _ in iterator)
    return count / (time.perf_counter() - start)


@click.command()
@click.option("--n", "count", default=50_000, show_default=True, help="Synthetic JPEGs to make and check.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), help="Keep the photos here (reused).")
@click.option("--size", default=64, show_default=True, help="Training crop side.")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--batches", default=20, show_default=True, help="Timed loader batches.")
@click.option("--samples", default=20_000, show_default=True, help="Timed samples per sampler row (5 s at most).")
def main(count: int, work: Path | None, size: int, batch_size: int, batches: int, samples: int) -> None:
    """Print one Markdown table of data pipeline timings."""
    keep = work is not None
    work = Path(work or tempfile.mkdtemp(prefix="bench_data_"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_CACHE_HOME"] = str(work / "xdg-cache")
    cfg = DataConfig(size=size, workers=2)
    rows = []
    try:
        root = work / f"photos-{count}"
        _, made, _ = timed(lambda: make_photos(root, count))
        rows.append(("make / find the photos", f"{made:.1f} s", f"{count} JPEGs"))
        source, listed, _ = timed(lambda: data.PhotoSource(root))
        rows.append(("list the folder (PhotoSource)", f"{listed:.2f} s", ""))
        clear_caches(root)
        _, serial_s, _ = timed(lambda: data.check_photos(source, workers=0))
        rows.append(("photo check, cold, in this process only", f"{serial_s:.2f} s", "for comparison"))
        clear_caches(root)
        cold, cold_s, cores = timed(lambda: data.check_photos(source))
        rows.append(("photo check, cold", f"{cold_s:.2f} s",
                     f"{cold.decoded} decoded by a pool of {len(os.sched_getaffinity(0))} processes; "
                     f"{cores:.2f} cores busy on average"))
        cached, cached_s, _ = timed(lambda: data.check_photos(source))
        rows.append(("photo check, cached", f"{cached_s:.2f} s",
                     f"{cached.decoded} decoded; {cold_s / cached_s:.0f}x faster than cold"))
        touched = root / "n00000" / "0000000.jpg"
        os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 1000))
        again, again_s, _ = timed(lambda: data.check_photos(source))
        rows.append(("photo check, 1 file touched", f"{again_s:.2f} s", f"{again.decoded} decoded"))

        def first_batch():
            started = data.PhotoSource(root)
            crops = data.TrainCrops(started, data.scan(started, cfg), cfg, seed=0)
            loader = DataLoader(crops, batch_size=batch_size, sampler=data.StepSampler(0, 1, batch_size),
                                num_workers=2)
            return crops, next(iter(loader))
        (crops, _), first_s, _ = timed(first_batch)
        rows.append(("start to first batch (list, cached scan, split, 2 workers)", f"{first_s:.2f} s", ""))
        for workers in (0, 2):
            rows.append((f"loader, {workers} workers", f"{loader_rate(crops, workers, batch_size, batches):.0f} samples/s",
                         f"{size} px crops, batch {batch_size}"))
        rows.extend(sampler_rows(samples))
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    click.echo(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    click.echo("| stage | time | notes |\n| --- | --- | --- |")
    for row in rows:
        click.echo("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
