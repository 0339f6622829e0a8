"""The pretrain tool end to end on tiny data: files written, loss falls, resume continues, errors are one line."""
import re

import pytest
from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gan_colorizer import checkpoint
from tests.conftest import TINY_CONFIG
from tests.test_metrics import needs_lpips
from tools import pretrain


def run(*args: str):
    return CliRunner().invoke(pretrain.main, [str(a) for a in args])


@pytest.fixture
def tiny_run(photo_zip, tmp_path):
    out = tmp_path / "run"
    result = run("--data", photo_zip, "--out", out, "--config", TINY_CONFIG, "--steps", 4)
    assert result.exit_code == 0, result.output
    return out


def test_pretrain_writes_checkpoints_events_config_and_split(tiny_run):
    for name in ("last.pt", "best.pt", "config.yaml", "split.json"):
        assert (tiny_run / name).is_file()
    last = checkpoint.read(tiny_run / "last.pt")
    assert last["step"] == 4 and last["stage"] == "pretrain" and {"psnr", "ssim", "cf_pred", "cf_gt", "delta_cf_per_image"} <= set(last["metrics"])
    events = EventAccumulator(str(tiny_run))
    events.Reload()
    assert "images/val" in events.Tags()["images"]
    assert {"train/loss_l1", "train/lr", "val/psnr", "val/ssim"} <= set(events.Tags()["scalars"])


def test_resume_continues_the_step_count(tiny_run, photo_zip):
    result = run("--data", photo_zip, "--out", tiny_run, "--steps", 6, "--resume")
    assert result.exit_code == 0, result.output
    assert checkpoint.read(tiny_run / "last.pt")["step"] == 6


def test_a_spent_time_budget_ends_the_run_validated_and_resumable(photo_zip, tmp_path):
    out = tmp_path / "timed"
    result = run("--data", photo_zip, "--out", out, "--config", TINY_CONFIG, "--steps", 50,
                 "--set", "train.max_minutes=1e-6", "--set", "train.val_every=10")
    assert result.exit_code == 0, result.output
    last = checkpoint.read(out / "last.pt")
    assert last["step"] == 1 and "psnr" in last["metrics"] and (out / "best.pt").is_file()
    result = run("--data", photo_zip, "--out", out, "--steps", 3, "--resume", "--set", "train.max_minutes=0")
    assert result.exit_code == 0, result.output
    assert checkpoint.read(out / "last.pt")["step"] == 3


def test_pretrain_lowers_l1_on_its_data(photo_zip, tmp_path):
    out = tmp_path / "longer"
    result = run("--data", photo_zip, "--out", out, "--config", TINY_CONFIG, "--steps", 40,
                 "--set", "train.val_every=40", "--set", "data.val_fraction=0")
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(out))
    events.Reload()
    losses = [s.value for s in events.Scalars("train/loss_l1")]
    assert sum(losses[-5:]) < 0.8 * sum(losses[:5])


@pytest.mark.parametrize("args, message", [
    (["--data", "{tmp}/nope"], "no such folder or .zip"),
    (["--data", "{zip}", "--set", "train.lr=fast"], "train.lr: expected a number"),
    (["--data", "{zip}", "--set", "train.stpes=3"], "did you mean 'steps'"),
    (["--data", "{zip}", "--set", "model.name=unet9"], "unknown model 'unet9'"),
    (["--data", "{zip}", "--set", "model.args.depth=3"], "unexpected keyword argument 'depth'"),
    (["--data", "{zip}", "--set", "model.name=patchgan"], "model.name: 'patchgan' is a discriminator"),
    (["--data", "{zip}", "--set", "train.best_metric=cf_pred"], "train.best_metric: 'cf_pred' is not a metric"),
    (["--set", "train.lr=1.0e-3"], "no photos given; pass --data"),
    (["--data", "{tmp}/empty.txt"], "empty.txt"),
])
def test_bad_input_is_one_error_line_and_leaves_no_run_dir(args, message, photo_zip, tmp_path):
    (tmp_path / "empty.txt").write_text("# no sources listed\n")
    args = [a.format(tmp=tmp_path, zip=photo_zip) for a in args]
    result = run(*args, "--out", tmp_path / "bad", "--config", TINY_CONFIG)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: ") and message in lines[-1]
    assert "Traceback" not in result.output
    assert not (tmp_path / "bad").exists()  # a run that failed before its first step leaves nothing behind


def test_degraded_training_inputs_and_several_sources_are_recorded(photo_zip, photo_dir, tmp_path):
    out = tmp_path / "aged"
    result = run("--data", photo_zip, "--data", photo_dir, "--out", out, "--config", TINY_CONFIG, "--steps", 2,
                 "--set", "data.degrade.p=1.0")
    assert result.exit_code == 0, result.output
    stored = checkpoint.read(out / "last.pt")["run_config"]["data"]
    assert stored["paths"] == [str(photo_zip.resolve()), str(photo_dir.resolve())] and stored["degrade"]["p"] == 1.0


@pytest.mark.parametrize("weight, scalar", [
    pytest.param("train.perceptual_weight", "train/loss_lpips", marks=needs_lpips),
    ("train.colourfulness_weight", "train/loss_cf"),
])
def test_a_loss_weight_adds_its_term_to_the_pretraining_loss(weight, scalar, photo_zip, tmp_path):
    out = tmp_path / "weighted"
    result = run("--data", photo_zip, "--out", out, "--config", TINY_CONFIG, "--steps", 2, "--set", f"{weight}=0.2")
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(out))
    events.Reload()
    terms = [s.value for s in events.Scalars(scalar)]  # logged only when the term takes part
    assert terms and all(0.0 <= v < 1.0 for v in terms)
    assert checkpoint.read(out / "last.pt")["run_config"]["train"][weight.split(".")[1]] == 0.2


def test_init_starts_from_a_trained_generator_and_takes_its_model(tiny_run, photo_zip, tmp_path):
    out = tmp_path / "tuned"
    result = run("--data", photo_zip, "--out", out, "--config", TINY_CONFIG, "--steps", 2, "--init", tiny_run / "best.pt",
                 "--set", "model.args.decoder_channels=[8, 8, 8, 8]")  # ignored: the network is the init's
    assert result.exit_code == 0, result.output
    init, tuned = checkpoint.read(tiny_run / "best.pt"), checkpoint.read(out / "last.pt")
    assert tuned["generator"]["args"] == init["generator"]["args"] and tuned["step"] == 2
    assert tuned["run_config"]["model"]["encoder_weights"] == "none"
    missing = run("--data", photo_zip, "--out", tmp_path / "nope", "--config", TINY_CONFIG, "--init", tmp_path / "x.pt")
    assert missing.exit_code == 1 and "x.pt" in missing.output.splitlines()[-1] and "Traceback" not in missing.output


def test_under_nohup_training_prints_progress_lines_with_losses_and_eta(photo_zip, tmp_path):
    """The reported failure: `nohup pretrain ... > run.log` showed nothing between the data check and the first
    validation. CliRunner's streams are no terminal, as a log file is not."""
    result = run("--data", photo_zip, "--out", tmp_path / "run", "--config", TINY_CONFIG, "--steps", "3",
                 "--progress-interval", "0")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("pretrain: ")]
    assert len(lines) == 3, result.stderr
    assert re.fullmatch(r"pretrain: 3/3 \(100\.0 %\) [\d.e+-]+ step/s, ETA 0 s, loss_l1 [\d.]+.*images_per_s [\d.]+",
                        lines[-1]), lines[-1]
    assert "\r" not in result.stderr  # no bar redrawn in place
