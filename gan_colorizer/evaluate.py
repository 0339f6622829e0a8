"""Score colorizations against the truth: two folders, or a checkpoint on a data set's split.

Every evaluation has two rows: `model` (the predictions) and `gray` (the truth's own lightness with
a*b* = 0, i.e. what the model was given), so a table always says how far a model is above doing
nothing. Per-file problems (unreadable, sizes that differ) get one line each and are left out;
files with no partner in the other folder are listed and left out. Metrics: see metrics.py.
"""
import csv
import io
import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from tqdm import tqdm

from gan_colorizer import checkpoint, color, control_scores, data, feature_metrics, image_writer, images, metrics, points
from gan_colorizer.config import load_config
from gan_colorizer.degrade import DEGRADE_EVAL, degrade_L
from gan_colorizer.errors import (CheckpointError, ColorizerError, ConfigError, DataError, ImageError,
                                  MissingWeightsError)
from gan_colorizer.inference import Colorizer

SPLITS = ("val", "all")
_MAX_LISTED = 10  # unpaired files printed one per line; the rest as a count
DEGRADE_SEED = 20261130  # evaluate --degrade: the same damage to each photo in every run
POINTS_SEED = 20261206  # evaluate --points: the same simulated clicks on each photo in every run


@dataclass
class Evaluation:
    """metrics: {"model": {...}, "gray": {...}}, each keyed by metrics.METRIC_KEYS.

    rows: per image and prediction, keyed by metrics.ROW_KEYS.
    unpaired: files without a partner, left out. skipped: one `name: reason` line per pair left out.
    """

    metrics: dict[str, dict[str, float]]
    rows: list[dict]
    unpaired: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    control: dict[str, dict[str, float]] = field(default_factory=dict)  # colour-control runs: see evaluate_checkpoint
    arrival: dict[int, float] = field(default_factory=dict)  # --points N -> share of points that arrived


def gray_version(gt_rgb8: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W, 3) uint8 gray with the same L and a*b* = 0: the model's own input."""
    return gray_from_L(color.rgb_to_L(gt_rgb8.astype(np.float32) / 255.0))


def degraded_gray(gt_rgb8: np.ndarray, key: str) -> np.ndarray:
    """The truth's gray version aged as an archive scan (degrade.DEGRADE_EVAL), seeded by the photo's
    name so every run, model and order sees the same damage: (H, W, 3) uint8."""
    rng = np.random.default_rng([DEGRADE_SEED, zlib.crc32(key.encode())])
    return gray_from_L(degrade_L(color.rgb_to_L(gt_rgb8.astype(np.float32) / 255.0), DEGRADE_EVAL, rng))


def gray_from_L(L: np.ndarray) -> np.ndarray:
    """(H, W) L in [0, 100] -> (H, W, 3) uint8 neutral gray of that lightness."""
    rgb = color.lab_to_rgb(color.merge_lab(L, np.zeros((*L.shape, 2), dtype=np.float32)))
    # Lab -> RGB leaves the three channels ~1e-7 apart; one channel copied keeps the gray exactly neutral.
    return np.repeat(image_writer.to_uint8(rgb[..., 0])[..., None], 3, axis=2)


def build_scorer(device: torch.device, lpips_net: str = "squeeze") -> metrics.Scorer:
    """A Scorer with LPIPS and Inception loaded on `device` when their weights are in the torch cache.

    A missing network is one printed line naming its file and the columns left empty, so an
    evaluation without those files still gives PSNR, SSIM, colourfulness and the chroma errors.
    """
    networks, left_out = {}, []
    for name, load, columns in (("lpips", lambda: feature_metrics.load_lpips(lpips_net, device), "LPIPS"),
                                ("inception", lambda: feature_metrics.load_inception(device), "FID-lite and KID")):
        try:
            networks[name] = load()
        except MissingWeightsError as err:
            left_out.append(f"{columns} left out: {err}")
    for line in left_out:
        tqdm.write(line)
    return metrics.Scorer(networks.get("lpips"), networks.get("inception"))


def _read_rgb8(path: Path) -> np.ndarray:
    """Any image file -> (H, W, 3) uint8; alpha is ignored (metrics compare colour only)."""
    return image_writer.to_uint8(images.read_image(path).rgb)


def _note(lines: list[str], line: str) -> None:
    lines.append(line)
    tqdm.write(line)


def list_images(root: Path) -> dict[str, list[Path]]:
    """Relative path without suffix ('a/x') -> the image files under `root` with that name."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    found: dict[str, list[Path]] = {}
    for path in images.list_image_files(root):
        found.setdefault(path.relative_to(root).with_suffix("").as_posix(), []).append(path)
    return found


def pair_folders(pred_dir: Path, gt_dir: Path) -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    """Pair predictions with truths by relative path and stem (pred a/x.png <-> truth a/x.jpg).

    Returns (pairs (key, pred, truth), unpaired lines, ambiguous lines); a name held by two files
    of one folder (x.jpg and x.png) is ambiguous and left out.
    """
    preds, truths = list_images(pred_dir), list_images(gt_dir)
    pairs, unpaired, ambiguous = [], [], []
    for key in sorted(preds.keys() | truths.keys()):
        mine, theirs = preds.get(key, []), truths.get(key, [])
        if len(mine) > 1 or len(theirs) > 1:
            names = ", ".join(str(p) for p in mine + theirs)
            ambiguous.append(f"{key}: several files share this name ({names}); left out")
        elif not theirs:
            unpaired.append(f"{mine[0]}: no ground truth named {key}.* in {gt_dir}; left out")
        elif not mine:
            unpaired.append(f"{theirs[0]}: no prediction named {key}.* in {pred_dir}; left out")
        else:
            pairs.append((key, mine[0], theirs[0]))
    return pairs, unpaired, ambiguous


def evaluate_folders(pred_dir: Path, gt_dir: Path, device: torch.device, lpips_net: str = "squeeze") -> Evaluation:
    """Score every prediction in `pred_dir` against its truth in `gt_dir`, plus the gray baseline."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    pairs, unpaired, skipped = pair_folders(pred_dir, gt_dir)
    if not pairs:
        raise DataError(f"{pred_dir} and {gt_dir}: no prediction has a ground truth of the same "
                        f"relative path and name")
    scorer = build_scorer(device, lpips_net)
    for line in unpaired[:_MAX_LISTED]:
        tqdm.write(line)
    if len(unpaired) > _MAX_LISTED:
        tqdm.write(f"... and {len(unpaired) - _MAX_LISTED} more file(s) without a partner, left out")
    for line in skipped:
        tqdm.write(line)
    for key, pred_path, gt_path in tqdm(pairs, desc="evaluating", unit="image", disable=None):
        try:
            pred, truth = _read_rgb8(pred_path), _read_rgb8(gt_path)
        except ImageError as err:
            _note(skipped, f"{err}; pair {key} left out")
            continue
        if pred.shape != truth.shape:
            _note(skipped, f"{pred_path}: {pred.shape[1]}x{pred.shape[0]} px but its ground truth {gt_path} "
                           f"is {truth.shape[1]}x{truth.shape[0]} px; left out")
            continue
        scorer.add(truth, {"model": pred, "gray": gray_version(truth)}, name=key)
    return _finish(scorer, unpaired, skipped)


def _finish(scorer: metrics.Scorer, unpaired: list[str], skipped: list[str]) -> Evaluation:
    if not scorer.rows:
        raise DataError(f"no image pair could be scored ({len(skipped)} left out; reasons above)")
    return Evaluation(scorer.result(), scorer.rows, unpaired, skipped)


def split_keys_of(ckpt: dict, checkpoint_path: Path, source: data.PhotoSource | data.MultiSource,
                  split: str) -> list[str]:
    """The photos of `split`: 'val' is the checkpoint's own val split (its stored data config), 'all' every photo.

    ckpt: the checkpoint, already read. Near-gray and unreadable photos are left out as in training (data.scan).
    """
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    stored = ckpt.get("run_config") or {}
    if split == "val" and "data" not in stored:
        raise CheckpointError(f"{checkpoint_path}: stores no data config, so its val split is unknown; "
                              f"use --split all")
    data_cfg = load_config(None, base={"data": stored.get("data", {})}).data
    photos = data.scan(source, data_cfg)
    keys = photos.val if split == "val" else sorted(photos.train + photos.val)
    if not keys:
        raise DataError(f"{source.name}: the {split} split is empty (val_fraction {data_cfg.val_fraction})")
    return keys


def simulated_clicks(truth: np.ndarray, count: int, key: str) -> tuple[points.Point, ...]:
    """`count` colour points a user who knows the true colours might set on one photo (H, W, 3) uint8:
    places drawn uniformly over the photo, seeded by its name (the first n of them for any n <=
    count are the same), each asking for the truth's mean a*b* in its disc (the default radius,
    points.Point.radius_in), as a user picks the colour of a region rather than of one pixel."""
    height, width = truth.shape[:2]
    rng = np.random.default_rng([POINTS_SEED, zlib.crc32(key.encode())])
    places = rng.uniform((0.0, 0.0), (width - 1.0, height - 1.0), size=(count, 2))
    where = tuple(points.Point(float(x), float(y), (0.0, 0.0)) for x, y in places)
    return tuple(points.Point(p.x, p.y, ab, label="the truth's colour")
                 for p, ab in zip(where, points.written_colours(truth, where)))


def evaluate_checkpoint(checkpoint_path: Path, data_paths: list[Path] | None, split: str, device: torch.device,
                        lpips_net: str = "squeeze", save_pred: Path | None = None,
                        control: dict | None = None, degrade: bool = False,
                        point_counts: tuple[int, ...] = (), vividness: tuple[float, ...] = ()) -> Evaluation:
    """Colorize each photo of `split` at full resolution from its gray version and score it.

    degrade: age each gray input as an archive scan first (`degraded_gray`, seeded per photo), the
    truth staying the clean photo; the gray row is then that degraded input, so robustness to real
    scans is a number beside the clean one.

    save_pred: folder for the predictions as PNG (lossless, so `--pred` on it gives the same
    numbers), mirroring the photos' relative paths; it must lie outside a data folder.
    control: `mood.control` arguments (mood, color, reference, temperature, strength). The
    controlled predictions are scored as more rows next to the uncontrolled "model" row (see
    `control_scores.ControlRuns`); Evaluation.control says per row what was requested and reached.
    point_counts: for each n > 0, a row `pts<n>` colorized with n simulated clicks of the truth's
    colours (`simulated_clicks`); Evaluation.arrival says per n the share of points whose disc
    came within points.ARRIVAL_TOLERANCE of the colour asked. n = 0 is the `model` row.
    vividness: for each value, a row `viv<value>` colorized at that vividness (a model with a
    distribution head); the `model` row is at the model's default.
    """
    checkpoint_path = Path(checkpoint_path)
    ckpt = checkpoint.read(checkpoint_path)  # once: the generator, its data and its val split all come from it
    data_paths = [Path(p) for p in data_paths or (ckpt.get("run_config") or {}).get("data", {}).get("paths", [])]
    if not data_paths:
        raise DataError(f"{checkpoint_path}: records no training data; pass --data FOLDER_OR_ZIP")
    for data_path in data_paths:
        real_data, real_out = data_path.resolve(), Path(save_pred or "/nonexistent").resolve()
        if save_pred is not None and data_path.is_dir() and (real_out == real_data or real_data in real_out.parents):
            raise ConfigError(f"--save-pred {save_pred} is inside --data {data_path}; choose a folder outside it")
    colorizer = Colorizer(checkpoint.generator_from(ckpt, checkpoint_path), device)
    counts = sorted({count for count in point_counts if count > 0})
    if counts and not colorizer.takes_points:
        raise ConfigError(f"--points: {checkpoint_path} takes no colour points (trained without model.args.points)")
    for value in vividness:
        colorizer.checked_vividness(value)
    source = data.open_sources(data_paths)
    keys = split_keys_of(ckpt, checkpoint_path, source, split)
    scorer = build_scorer(device, lpips_net)
    controlled = control_scores.ControlRuns(colorizer, control or {}, scorer.lpips_model) if control else None
    skipped: list[str] = []
    arrived: dict[int, list[bool]] = {count: [] for count in counts}
    for key in tqdm(keys, desc=f"evaluating {split}", unit="image", disable=None):
        try:
            truth = image_writer.to_uint8(source.decode(key).rgb)
        except ImageError as err:
            _note(skipped, f"{err}; left out")
            continue
        gray = degraded_gray(truth, key) if degrade else gray_version(truth)
        pred = colorizer(gray)
        if save_pred is not None:
            image_writer.write_image(Path(save_pred) / PurePosixPath(key).with_suffix(".png"), pred)
        preds = {"model": pred, **(controlled.add(gray, pred) if controlled else {})}
        preds.update({f"viv{value:g}": colorizer(gray, vividness=value) for value in vividness})
        clicks = simulated_clicks(truth, counts[-1], key) if counts else ()
        for count in counts:
            preds[f"pts{count}"], _, report = colorizer.colorize_with_report(gray, None, clicks[:count])
            missed = {index for index, _ in report.misses()}
            arrived[count] += [index not in missed for index in range(count)]
        scorer.add(truth, {**preds, "gray": gray}, name=key)
    result = _finish(scorer, [], skipped)
    if controlled:
        result.control = controlled.summary(result.metrics)
    result.arrival = {count: float(np.mean(flags)) for count, flags in arrived.items() if flags}
    return result


def _plain(value: float | int) -> float | int | None:
    """JSON has no NaN or infinity: a metric without data is written as null."""
    return value if isinstance(value, int) or math.isfinite(value) else None


def save_json(table: dict[str, dict[str, float]], path: Path,
              control: dict[str, dict[str, float]] | None = None, arrival: dict[int, float] | None = None) -> None:
    """Write {"model": {...}, "gray": {...}} with metrics.METRIC_KEYS (plus the "learned"/"fallback"
    rows and, under "control", the colour distances of colour-control runs); nan becomes null."""
    content: dict = {label: {key: _plain(row[key]) for key in metrics.METRIC_KEYS} for label, row in table.items()}
    if control:
        content["control"] = {name: {key: _plain(value) for key, value in row.items()} for name, row in control.items()}
    if arrival:
        content["arrival"] = {f"pts{count}": share for count, share in arrival.items()}
    _write_text(Path(path), json.dumps(content, indent=2) + "\n")


def save_csv(rows: list[dict], path: Path) -> None:
    """A header and one line per image and prediction, columns metrics.ROW_KEYS."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=metrics.ROW_KEYS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write_text(Path(path), buffer.getvalue())


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as err:
        raise ColorizerError(f"{path}: cannot write ({err.strerror})") from None


def format_table(table: dict[str, dict[str, float]], lpips_net: str = "squeeze") -> str:
    """The metrics as an aligned text table, one line per row, and a note on what n means."""
    columns = [(key, column.title, column.spec) for key, column in metrics.COLUMNS.items()]
    lines = ["       " + " ".join(f"{title:>9}" for _, title, _ in columns)]
    for label, row in table.items():
        cells = [format(row[key], spec) if key == "n" or math.isfinite(row[key]) else f"{'-':>9}"
                 for key, _, spec in columns]
        lines.append(f"{label:<7}" + " ".join(cells))
    n = next(iter(table.values()))["n"] if table else 0
    footer = []  # names only the networks that ran: a missing one's columns are all '-'
    if any(math.isfinite(row["lpips"]) for row in table.values()):
        footer.append(f"LPIPS {lpips_net}")
    if any(math.isfinite(row["fid_lite"]) for row in table.values()):
        footer.append(f"FID-lite and KID over n={n} images: compare FID-lite only at equal n")
    if footer:
        lines.append("; ".join(footer) + ".")
    return "\n".join(lines)


def format_arrival(arrival: dict[int, float]) -> list[str]:
    """One line per `--points N`: the share of its simulated points that arrived."""
    return [f"pts{count:<4} {100 * share:.0f} % of the points arrived (disc mean within dE "
            f"{points.ARRIVAL_TOLERANCE:g} of the colour asked)" for count, share in arrival.items()]
