"""The evaluator: folder pairing, the gray baseline, both CLI modes and their errors."""
import json
import math
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data as skdata

from gan_colorizer import checkpoint, color, data, evaluate, feature_metrics, metrics, runtime
from gan_colorizer.config import DataConfig
from tests.conftest import TINY_GENERATOR, small, write_png
from tools import evaluate as evaluate_tool

needs_weights = pytest.mark.skipif(
    not all((runtime.torch_cache_dir() / name).is_file()
            for name in (feature_metrics.LPIPS_NETS["squeeze"], feature_metrics.INCEPTION_WEIGHTS)),
    reason=f"needs {feature_metrics.LPIPS_NETS['squeeze']} and {feature_metrics.INCEPTION_WEIGHTS} in "
           f"{runtime.torch_cache_dir()} (see README: Pretrained weights)")


def _photos() -> dict[str, np.ndarray]:
    return {"sub/cat": small(skdata.chelsea(), 48, 40), "coffee": small(skdata.coffee(), 40, 32),
            "rocket": small(skdata.rocket(), 36, 44)}


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """gt/ holds PNG truths; pred/ the same pictures under other suffixes, as lossless PNG and TIFF."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for (key, photo), suffix in zip(_photos().items(), (".tif", ".png", ".tiff")):
        write_png(gt / f"{key}.png", photo)
        pred.joinpath(key).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(pred / f"{key}{suffix}"), photo[..., ::-1])
    return pred, gt


def _run(*args: str):
    return CliRunner().invoke(evaluate_tool.main, [str(a) for a in args])


def _error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Error:")]


def test_gray_version_keeps_lightness_and_has_no_colour():
    truth = _photos()["sub/cat"]
    gray = evaluate.gray_version(truth)
    assert gray.shape == truth.shape and gray.dtype == np.uint8
    assert metrics.colourfulness8(gray) == 0.0
    L_truth, L_gray = (color.rgb_to_L(image.astype(np.float32) / 255) for image in (truth, gray))
    assert np.abs(L_truth - L_gray).max() < 0.5  # 8-bit rounding of the gray level


def test_pairing_by_relative_path_and_stem(folders):
    pred, gt = folders
    write_png(pred / "sub" / "extra.png", np.zeros((8, 8, 3), np.uint8))
    write_png(gt / "lonely.png", np.zeros((8, 8, 3), np.uint8))
    write_png(gt / "coffee.jpg", np.zeros((8, 8, 3), np.uint8))  # a second truth named coffee
    pairs, unpaired, ambiguous = evaluate.pair_folders(pred, gt)
    assert [(key, p.name, g.name) for key, p, g in pairs] == [("rocket", "rocket.tiff", "rocket.png"),
                                                              ("sub/cat", "cat.tif", "cat.png")]
    assert len(unpaired) == 2 and {"extra.png", "lonely.png"} == {Path(line.split(":")[0]).name for line in unpaired}
    assert len(ambiguous) == 1 and ambiguous[0].startswith("coffee:")


@needs_weights
def test_cli_on_identical_folders(folders, tmp_path):
    pred, gt = folders
    json_path, csv_path = tmp_path / "out" / "m.json", tmp_path / "rows.csv"
    result = _run("--pred", pred, "--gt", gt, "--json", json_path, "--csv", csv_path, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "model" in result.output and "gray" in result.output
    table = json.loads(json_path.read_text())
    assert list(table) == ["model", "gray"]
    for row in table.values():
        assert tuple(row) == metrics.METRIC_KEYS and row["n"] == 3
        assert all(math.isfinite(value) for value in row.values())
    model, gray = table["model"], table["gray"]
    assert model["psnr"] == metrics.PSNR_CAP_DB and model["ssim"] == pytest.approx(1.0)
    assert model["lpips"] == pytest.approx(0.0, abs=1e-6) and model["fid_lite"] == pytest.approx(0.0, abs=1e-6)
    assert model["delta_cf_means"] == 0.0 and model["delta_cf_per_image"] == 0.0
    assert gray["cf_pred"] == 0.0 and gray["psnr"] < 40 and gray["lpips"] > 0.05 and gray["fid_lite"] > 1.0
    assert len(csv_path.read_text().splitlines()) == 1 + 3 * 2  # header, then model and gray per image


@needs_weights
def test_cli_leaves_out_unpaired_mismatched_and_unreadable_files(folders, tmp_path):
    pred, gt = folders
    write_png(pred / "alone.png", np.zeros((40, 40, 3), np.uint8))
    write_png(pred / "small.png", np.zeros((40, 40, 3), np.uint8))
    write_png(gt / "small.png", np.zeros((44, 40, 3), np.uint8))
    (pred / "broken.png").write_text("not an image")
    write_png(gt / "broken.png", np.zeros((40, 40, 3), np.uint8))
    json_path = tmp_path / "m.json"
    result = _run("--pred", pred, "--gt", gt, "--json", json_path, "--device", "cpu")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "alone.png: no ground truth" in result.output
    assert "40x40 px but its ground truth" in result.output and "44 px" in result.output
    assert "broken.png: not a readable image" in result.output
    assert _error_lines(result) == ["Error: 2 pair(s) left out; reasons printed above"]
    assert json.loads(json_path.read_text())["model"]["n"] == 3


@pytest.mark.parametrize("net", list(feature_metrics.LPIPS_NETS))
def test_missing_weights_leave_their_columns_out_and_the_rest_is_scored(folders, tmp_path, monkeypatch, net):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    pred, gt = folders
    json_path = tmp_path / "m.json"
    result = _run("--pred", pred, "--gt", gt, "--lpips-net", net, "--json", json_path)
    assert result.exit_code == 0, result.output
    left_out = [line for line in result.output.splitlines() if "left out:" in line]
    assert len(left_out) == 2
    assert left_out[0].startswith("LPIPS left out") and feature_metrics.LPIPS_NETS[net] in left_out[0]
    assert left_out[1].startswith("FID-lite and KID left out") and feature_metrics.INCEPTION_WEIGHTS in left_out[1]
    assert "LPIPS" not in result.output.splitlines()[-1] and "FID-lite" not in result.output.splitlines()[-1]
    table = json.loads(json_path.read_text())
    assert table["model"]["lpips"] is None and table["model"]["kid"] is None and table["model"]["psnr"] == 100.0
    assert table["gray"]["psnr"] < 100 and 0 < table["gray"]["ab_far"] <= 1


@pytest.mark.parametrize("measured, footer", [
    ({"lpips", "fid_lite", "kid"}, "LPIPS alex; FID-lite and KID over n=25 images: compare FID-lite only at equal n."),
    ({"fid_lite", "kid"}, "FID-lite and KID over n=25 images: compare FID-lite only at equal n."),
    ({"lpips"}, "LPIPS alex."),
    (set(), None),
], ids=["both", "no-lpips", "no-inception", "neither"])
def test_the_table_footer_names_only_the_networks_that_ran(measured, footer):
    """With LPIPS or Inception weights missing, their columns are '-' and the footer does not name them."""
    row = {key: 0.5 if key in measured or key not in ("lpips", "fid_lite", "kid") else math.nan
           for key in metrics.COLUMNS}
    row["n"] = 25
    lines = evaluate.format_table({"model": row, "gray": dict(row)}, "alex").splitlines()
    assert len(lines) == 3 + (footer is not None)
    assert footer is None or lines[-1] == footer


@pytest.mark.parametrize("args", [
    ["--pred", "{tmp}/nowhere", "--gt", "{tmp}/gt"],
    ["--pred", "{tmp}/pred"],
    ["--pred", "{tmp}/pred", "--gt", "{tmp}/gt", "--checkpoint", "{tmp}/x.pt"],
    ["--pred", "{tmp}/pred", "--gt", "{tmp}/gt", "--save-pred", "{tmp}/out"],
    ["--checkpoint", "{tmp}/missing.pt", "--data", "{tmp}/gt"],
    ["--checkpoint", "{tmp}/gt/coffee.png", "--data", "{tmp}/gt"],
])
def test_bad_input_is_one_error_line(folders, tmp_path, args):
    result = _run(*[arg.format(tmp=tmp_path) for arg in args])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert len(_error_lines(result)) == 1


@pytest.fixture
def tiny_run_checkpoint(tmp_path: Path, tiny_generator) -> Path:
    """A generator checkpoint that records the data config it was trained with (a quarter held out)."""
    path = tmp_path / "run" / "best.pt"
    entry = checkpoint.network_entry(TINY_GENERATOR["name"], TINY_GENERATOR["args"], tiny_generator)
    run_config = {"data": asdict(DataConfig(val_fraction=0.25, seed=3, gray_threshold=0.0))}
    checkpoint.save(path, {"kind": "generator", "generator": entry, "step": 0, "run_config": run_config})
    return path


@needs_weights
def test_checkpoint_mode_scores_the_training_val_split(tiny_run_checkpoint, photo_zip, tmp_path):
    preds = tmp_path / "preds"
    result = _run("--checkpoint", tiny_run_checkpoint, "--data", photo_zip, "--split", "val",
                  "--save-pred", preds, "--device", "cpu", "--json", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    source = data.PhotoSource(photo_zip)
    _, val = data.split_keys(source.keys, 0.25, 3)
    assert sorted(p.relative_to(preds).with_suffix(".png").as_posix() for p in preds.rglob("*.png")) == \
        [str(Path(key).with_suffix(".png").as_posix()) for key in val]
    for key in val:
        saved = cv2.imread(str(preds / Path(key).with_suffix(".png")))
        assert saved.shape == source.decode(key).rgb.shape
    assert json.loads((tmp_path / "m.json").read_text())["model"]["n"] == len(val)


def test_val_split_needs_the_stored_data_config(tiny_checkpoint, photo_zip):
    result = _run("--checkpoint", tiny_checkpoint, "--data", photo_zip, "--split", "val")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert _error_lines(result) and "--split all" in _error_lines(result)[0]


def test_save_pred_inside_the_data_folder_is_refused(tiny_run_checkpoint, photo_dir):
    result = _run("--checkpoint", tiny_run_checkpoint, "--data", photo_dir, "--save-pred", photo_dir / "preds")
    assert result.exit_code == 1 and "inside --data" in _error_lines(result)[0]


def test_degraded_inputs_score_lower_and_their_gray_row_is_the_aged_input(tiny_checkpoint, photo_zip, monkeypatch):
    monkeypatch.setattr(evaluate, "build_scorer", lambda device, lpips_net="squeeze": metrics.Scorer())
    clean = evaluate.evaluate_checkpoint(tiny_checkpoint, [photo_zip], "all", "cpu")
    aged = evaluate.evaluate_checkpoint(tiny_checkpoint, [photo_zip], "all", "cpu", degrade=True)
    again = evaluate.evaluate_checkpoint(tiny_checkpoint, [photo_zip], "all", "cpu", degrade=True)
    for label in ("model", "gray"):  # seeded per photo: the same damage every run
        assert aged.metrics[label] == pytest.approx(again.metrics[label], rel=1e-6, nan_ok=True)
    assert aged.metrics["gray"]["psnr"] < clean.metrics["gray"]["psnr"]  # the aged input is further from the truth
    assert aged.metrics["gray"]["cf_pred"] == 0.0 and aged.metrics["model"]["n"] == clean.metrics["model"]["n"]


def test_a_checkpoint_mode_without_data_uses_the_recorded_data_or_says_what_to_pass(tiny_checkpoint, photo_zip,
                                                                                    monkeypatch):
    from gan_colorizer.errors import DataError

    monkeypatch.setattr(evaluate, "build_scorer", lambda device, lpips_net="squeeze": metrics.Scorer())
    with pytest.raises(DataError, match="records no training data; pass --data"):
        evaluate.evaluate_checkpoint(tiny_checkpoint, None, "all", "cpu")
    ckpt = checkpoint.read(tiny_checkpoint)
    ckpt["run_config"] = {"data": {"paths": [str(photo_zip)]}}
    checkpoint.save(tiny_checkpoint, {key: value for key, value in ckpt.items() if key != "format"})
    assert evaluate.evaluate_checkpoint(tiny_checkpoint, None, "all", "cpu").metrics["model"]["n"] == 8


def test_points_rows_come_closer_to_the_truth_and_their_points_arrive(pointed_checkpoint, photo_zip, monkeypatch,
                                                                      tmp_path):
    monkeypatch.setattr(evaluate, "build_scorer", lambda device, lpips_net="squeeze": metrics.Scorer())
    result = evaluate.evaluate_checkpoint(pointed_checkpoint, [photo_zip], "all", "cpu", point_counts=(0, 2, 10))
    table = result.metrics
    assert list(table) == ["model", "pts2", "pts10", "gray"] and table["pts10"]["n"] == table["model"]["n"]
    assert table["pts10"]["ab_rmse"] < table["pts2"]["ab_rmse"] < table["model"]["ab_rmse"]
    # tiny photos: a 3-px disc spans dark and light pixels, not all of which can hold the disc's mean colour
    assert set(result.arrival) == {2, 10} and min(result.arrival.values()) >= 0.8
    again = evaluate.evaluate_checkpoint(pointed_checkpoint, [photo_zip], "all", "cpu", point_counts=(10,))
    assert again.metrics["pts10"] == pytest.approx(table["pts10"], nan_ok=True)  # the same clicks every run
    evaluate.save_json(table, tmp_path / "m.json", arrival=result.arrival)
    assert json.loads((tmp_path / "m.json").read_text())["arrival"]["pts10"] == result.arrival[10]


def test_points_for_a_model_without_them_is_one_line(tiny_checkpoint, photo_zip):
    result = _run("--checkpoint", tiny_checkpoint, "--data", photo_zip, "--split", "all", "--points", "5")
    assert result.exit_code == 1 and "takes no colour points" in _error_lines(result)[0]
