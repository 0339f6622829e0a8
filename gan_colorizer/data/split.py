"""Which photos train and which validate: every photo checked once (and cached), then the seeded split.

Checking a photo decodes it at 1/4 size (JPEG DCT scaling) for its short side and colourfulness. At
ImageNet scale that is hours of CPU, so `check_photos` runs on every core (a process pool) and once
per file: its table is cached beside the data (`.<folder or zip name>.gan_colorizer-scan.npz` next
to it) or, where that is read-only, in the user cache folder ($XDG_CACHE_HOME or ~/.cache, under
gan_colorizer/). Each cached entry holds its file's size and mtime (a zip entry's size and CRC), so a
later run, whatever its --out, decodes only new and changed files. Under torch.distributed, rank 0
checks while the other ranks wait, and they then read its cache. The check's summary names each
unreadable photo, and each damaged one that decodes anyway (`Picture.damage`), once per run, so
the damage is not repeated at every read of the photo in training.

The split shuffles each source's sorted keys with `random.Random(seed)`, as if it were alone. With
several sources, copies of one photo (the same file name stem in two sources, e.g. a full-resolution
original and its 256 px crop) follow the first-listed copy's split; when that one validates, the other
copies are left out of both splits, so no val photo trains through a copy and val holds it once.
"""
import hashlib
import json
import logging
import math
import multiprocessing
import os
import random
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

import numpy as np
from tqdm import tqdm

from gan_colorizer import color, runtime
from gan_colorizer.config import DataConfig
from gan_colorizer.data.sources import MultiSource, PhotoSource, parts
from gan_colorizer.errors import ColorizerError, DataError, ImageError

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # bump when what a check measures changes (decode size, colourfulness formula, damage)
CHECK_REDUCE = 4  # decode at 1/4 size: colourfulness and the short side need no more
_PARALLEL_MIN = 64  # fewer photos to check than this are decoded in-process: a pool's start costs more
_SEPARATOR = "\0"  # between keys in the cache: the one character no file name holds
Result = TypeVar("Result")


@dataclass
class PhotoTable:
    """What checking found for each photo of one source, arrays aligned with `keys` (the source's order)."""

    keys: list[str]
    stamps: np.ndarray  # (N, 2) int64: PhotoSource.stamps() when checked
    short_sides: np.ndarray  # (N,) int32: approximate shorter side in pixels; 0 = unreadable
    colourfulness: np.ndarray  # (N,) float32: Hasler-Süsstrunk (color.colourfulness); nan = unreadable
    reasons: dict[str, str]  # unreadable key -> one-line reason
    damaged: dict[str, str] = field(default_factory=dict)  # readable key -> what was wrong (Picture.damage)
    decoded: int = 0  # photos this call decoded; 0 when everything came from the cache


def check_photo(source: PhotoSource, key: str) -> tuple[int, float, str]:
    """(short side, colourfulness, damage or '') of one photo, or (0, nan, reason) when it cannot be decoded."""
    try:
        picture = source.decode(key, reduce=CHECK_REDUCE)
    except ImageError as err:
        return 0, math.nan, str(err)
    return min(picture.rgb.shape[:2]) * picture.reduced, color.colourfulness(picture.rgb), picture.damage


def check_photos(source: PhotoSource, workers: int | None = None) -> PhotoTable:
    """The check of every photo of one source, from the cache where a file is unchanged.

    workers: processes that decode in parallel (None: every core this process may use; 0 or 1:
    decode in this process). The cache is rewritten when a photo was decoded or a file went away.
    """
    keys, stamps = source.keys, source.stamps()
    count = len(keys)
    table = PhotoTable(keys, stamps, np.zeros(count, np.int32), np.full(count, np.nan, np.float32), {})
    cached = load_cache(source.root)
    todo = np.flatnonzero(~_reuse(cached, table)) if cached is not None else np.arange(count)
    results = _check_all(source, [keys[index] for index in todo], workers)
    for index, (short, colourfulness, remark) in zip(todo, results):
        table.short_sides[index], table.colourfulness[index] = short, colourfulness
        if remark:
            (table.reasons if short == 0 else table.damaged)[keys[index]] = remark
    table.decoded = len(todo)
    if table.decoded or cached is None or len(cached.keys) != count:
        save_cache(source.root, table)
    log.info("%s: %d photos, %d checked now, %d from the cache", source.name, count, len(todo), count - len(todo))
    return table


def _reuse(cached: PhotoTable, table: PhotoTable) -> np.ndarray:
    """Copy into `table` the cached checks of files whose stamps match; returns that (N,) bool mask."""
    position = {key: index for index, key in enumerate(cached.keys)}
    found = np.fromiter((position.get(key, -1) for key in table.keys), np.int64, len(table.keys))
    hit = found >= 0
    hit[hit] = (cached.stamps[found[hit]] == table.stamps[hit]).all(axis=1)
    hit &= table.stamps[:, 0] >= 0  # a file gone since the listing is tried again (and reported)
    table.short_sides[hit] = cached.short_sides[found[hit]]
    table.colourfulness[hit] = cached.colourfulness[found[hit]]
    for index in np.flatnonzero(hit & (table.short_sides == 0)):
        table.reasons[table.keys[index]] = cached.reasons[table.keys[index]]
    is_reused = np.zeros(len(cached.keys), bool)  # by cached position: looked up only for the few damaged keys
    is_reused[found[hit]] = True
    table.damaged.update((key, damage) for key, damage in cached.damaged.items() if is_reused[position[key]])
    return hit


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_all(source: PhotoSource, keys: list[str], workers: int | None) -> list[tuple[int, float, str]]:
    """check_photo of each key, in order, spread over a process pool when there are many."""
    workers = _usable_cores() if workers is None else workers
    if multiprocessing.current_process().daemon:  # e.g. a DataLoader worker: it may not start processes
        workers = 0
    with tqdm(total=len(keys), desc="checking photos", unit="img", leave=False,
              disable=None if runtime.world().is_main else True) as bar:
        if workers <= 1 or len(keys) < _PARALLEL_MIN:
            results = []
            for key in keys:
                results.append(check_photo(source, key))
                bar.update()
            return results
        size = max(1, min(256, len(keys) // (workers * 8)))  # small enough to balance, big enough to amortise
        chunks = [keys[start:start + size] for start in range(0, len(keys), size)]
        results = []
        with multiprocessing.Pool(workers, initializer=_start_worker, initargs=(source,)) as pool:
            for checked in pool.imap(_check_chunk, chunks):
                results.extend(checked)
                bar.update(len(checked))
        return results


_worker_source: PhotoSource | None = None  # the source a pool process checks, set once by _start_worker


def _start_worker(source: PhotoSource) -> None:
    global _worker_source
    _worker_source = source


def _check_chunk(keys: list[str]) -> list[tuple[int, float, str]]:
    return [check_photo(_worker_source, key) for key in keys]


def cache_locations(root: Path) -> list[Path]:
    """Where the check of `root` is cached: beside it, else in the user cache folder (named by its path)."""
    root = Path(root).resolve()
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return [root.parent / f".{root.name}.gan_colorizer-scan.npz", user_cache_folder() / f"scan-{root.name}-{digest}.npz"]


def user_cache_folder() -> Path:
    """$XDG_CACHE_HOME/gan_colorizer, or ~/.cache/gan_colorizer (the XDG spec ignores a relative $XDG_CACHE_HOME)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "gan_colorizer"


def load_cache(root: Path) -> PhotoTable | None:
    """The newest readable cached check of `root`, or None; a damaged or outdated file is ignored.

    The warning only comes when no file serves: an outdated cache beside read-only data (shipped with
    it, by an older version) is passed over in silence when the user cache folder holds a good one.
    """
    found = []
    for path in cache_locations(root):
        try:
            found.append((path.stat().st_mtime_ns, path))
        except OSError:  # not there (yet), or not ours to read
            continue
    unusable = []
    for _, path in sorted(found, reverse=True):
        table = _read_cache(path)
        if table is not None:
            return table
        unusable.append(path)
    for path in unusable:
        log.warning("%s: damaged or outdated photo check cache, ignored (it is rebuilt)", path)
    return None


def _read_cache(path: Path) -> PhotoTable | None:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if int(arrays["version"]) != CACHE_VERSION:
                return None
            keys = arrays["keys"].tobytes().decode().split(_SEPARATOR)
            stamps, short_sides = arrays["stamps"].astype(np.int64), arrays["short_sides"].astype(np.int32)
            colourfulness = arrays["colourfulness"].astype(np.float32)
            reasons = arrays["reasons"].tobytes().decode().split(_SEPARATOR)
            damaged_keys = arrays["damaged_keys"].tobytes().decode().split(_SEPARATOR)
            damage = arrays["damage"].tobytes().decode().split(_SEPARATOR)
    except Exception:  # foreign or damaged bytes fail np.load in many ways (zip, header, dtype, key, utf-8)
        return None
    unreadable = [key for key, short in zip(keys, short_sides) if short == 0]
    if not (stamps.shape == (len(keys), 2) and short_sides.shape == colourfulness.shape == (len(keys),)
            and len(reasons) == max(1, len(unreadable)) and len(damaged_keys) == len(damage)):
        return None
    return PhotoTable(keys, stamps, short_sides, colourfulness, dict(zip(unreadable, reasons)),
                      {key: text for key, text in zip(damaged_keys, damage) if key})  # no key is '': none damaged


def save_cache(root: Path, table: PhotoTable) -> Path | None:
    """Write the table atomically to the first writable cache location; None when none is (a warning)."""
    unreadable = [key for key, short in zip(table.keys, table.short_sides) if short == 0]
    arrays = {"version": np.array(CACHE_VERSION),
              "keys": np.frombuffer(_SEPARATOR.join(table.keys).encode(), np.uint8),
              "stamps": table.stamps, "short_sides": table.short_sides, "colourfulness": table.colourfulness,
              "reasons": np.frombuffer(_SEPARATOR.join(table.reasons[key] for key in unreadable).encode(), np.uint8),
              "damaged_keys": np.frombuffer(_SEPARATOR.join(table.damaged).encode(), np.uint8),
              "damage": np.frombuffer(_SEPARATOR.join(table.damaged.values()).encode(), np.uint8)}
    error = "no writable cache folder"
    for path in cache_locations(root):
        if path.parent.is_dir() and not _is_writable(path.parent):
            continue
        try:
            _write_atomically(path, arrays)
            return path
        except OSError as err:
            error = err.strerror
    log.warning("cannot cache the photo check of %s (%s): the next run checks every photo again", root, error)
    return None


def _is_writable(folder: Path) -> bool:
    """May we write here? Also False for a folder whose mode grants no write (r-x): root could write
    there anyway, but such a data set is meant to stay as it is."""
    return os.access(folder, os.W_OK) and bool(stat.S_IMODE(folder.stat().st_mode) & 0o222)


def _write_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A temp file renamed over `path`: a reader (another rank, a crash) never sees half a cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez_compressed(file, **arrays)
        os.chmod(temp, 0o644)  # mkstemp makes it private; other users of shared data may reuse it
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@dataclass
class Split:
    """Keys of the photos used for training and validation, and what was left out and why."""

    train: list[str]
    val: list[str]
    gray: list[str]
    unreadable: list[str]
    short_sides: np.ndarray  # (len(train),) int32 aligned with train: approximate shorter side, for a fast decode size
    duplicates: list[str] = field(default_factory=list)  # copies of val photos in later-listed sources: in neither split

    def save(self, path: Path) -> None:
        """The key lists as JSON (the short sides stay in the photo check cache)."""
        lists = {name: getattr(self, name) for name in ("train", "val", "gray", "unreadable", "duplicates")}
        Path(path).write_text(json.dumps(lists, indent=1))


def split_keys(keys: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Shuffle the sorted keys with `random.Random(seed)`; the first share becomes val.

    With val_fraction > 0 and at least two photos, val has at least one photo and train keeps one.
    """
    shuffled = sorted(keys)
    random.Random(seed).shuffle(shuffled)
    n_val = round(len(shuffled) * val_fraction)
    if val_fraction > 0 and len(shuffled) >= 2:
        n_val = min(max(n_val, 1), len(shuffled) - 1)
    return sorted(shuffled[n_val:]), sorted(shuffled[:n_val])


def scan(source: PhotoSource | MultiSource, cfg: DataConfig, workers: int | None = None) -> Split:
    """Split the photos and leave out near-gray and unreadable ones, warning once per bad file.

    Each source is split over all its listed keys, so that a gray photo never moves another
    between splits. workers: see check_photos. Under torch.distributed every rank must call it
    (rank 0 checks first, the others wait for it and read its cache).
    """
    tables = _main_rank_first(lambda: [(prefix, check_photos(part, workers)) for prefix, part in parts(source)])
    is_val = []
    for _, table in tables:
        val = set(split_keys(table.keys, cfg.val_fraction, cfg.seed)[1])
        is_val.append(np.fromiter((key in val for key in table.keys), bool, len(table.keys)))
    dropped = _follow_first_copies([table.keys for _, table in tables], is_val)
    split = Split([], [], [], [], np.zeros(0, np.int32))
    train_sides = []
    for (prefix, table), val, drop in zip(tables, is_val, dropped):
        readable = table.short_sides > 0
        usable = readable & (table.colourfulness >= cfg.gray_threshold)
        chosen = {"train": usable & ~val & ~drop, "val": usable & val & ~drop, "gray": readable & ~usable,
                  "unreadable": ~readable, "duplicates": drop}
        for name, mask in chosen.items():
            getattr(split, name).extend(prefix + table.keys[index] for index in np.flatnonzero(mask))
        train_sides.append(table.short_sides[chosen["train"]])
        for index in np.flatnonzero(~readable):
            log.warning("skipped %s%s", prefix, table.reasons[table.keys[index]])
        for key, damage in table.damaged.items():
            log.warning("%s%s: %s", prefix, key, damage)
    split.short_sides = np.concatenate(train_sides).astype(np.int32)
    _report(split, source, cfg)
    return split


def _follow_first_copies(keys: list[list[str]], is_val: list[np.ndarray]) -> list[np.ndarray]:
    """Make copies of a photo (same name stem, later source) follow the first-listed source's split.

    Updates `is_val` in place; returns per source the (N,) bool mask of copies left out of both
    splits because the first copy validates. One source: nothing to do, nothing left out.
    """
    dropped = [np.zeros(len(part), bool) for part in keys]
    if len(keys) < 2:
        return dropped
    leader: dict[str, tuple[int, bool]] = {}  # stem -> (first source holding it, does one of its photos validate)
    stems = [[PurePosixPath(key).stem for key in part] for part in keys]
    for number, (part_stems, val) in enumerate(zip(stems, is_val)):
        for stem, validates in zip(part_stems, val):
            first = leader.setdefault(stem, (number, bool(validates)))
            if first[0] == number and validates:
                leader[stem] = (number, True)
    copies = 0
    for number, (part_stems, val, drop) in enumerate(zip(stems, is_val, dropped)):
        for index, stem in enumerate(part_stems):
            first, validates = leader[stem]
            if first != number:
                copies += 1
                drop[index], val[index] = validates, False
    if copies:
        log.info("%d photo(s) share a name stem with a photo of an earlier-listed source and follow its split; "
                 "%d of them, copies of val photos, are left out", copies, sum(int(d.sum()) for d in dropped))
    return dropped


def _report(split: Split, source: PhotoSource | MultiSource, cfg: DataConfig) -> None:
    if split.unreadable:
        log.warning("%d unreadable file(s) skipped in %s", len(split.unreadable), source.name)
    if split.gray:
        log.info("%d near-gray photo(s) left out (colourfulness < %g)", len(split.gray), cfg.gray_threshold)
    if not split.train:
        raise DataError(f"{source.name}: no usable colour photos for training "
                        f"({len(split.gray)} near-gray, {len(split.unreadable)} unreadable)")


def _main_rank_first(work: Callable[[], Result]) -> Result:
    """`work()` on rank 0 while the other ranks wait, then on them (they find rank 0's cache).

    Rank 0's error reaches every rank, so all stop instead of waiting forever. Without a process
    group, just `work()`.
    """
    world = runtime.world()
    if world.size == 1:
        return work()
    if world.is_main:
        error = "rank 0 stopped while checking the photos"
        try:
            result = work()
            error = None
        except ColorizerError as err:
            error = str(err)
            raise
        finally:
            runtime.share_from_main(error)
        return result
    error = runtime.share_from_main(None)
    if error is not None:
        raise DataError(error)
    return work()
