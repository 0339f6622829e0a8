"""The GAN tool on tiny data, starting from a tiny pretrain checkpoint: both networks, events, resume, errors."""
import pytest
from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gan_colorizer import checkpoint
from tests.conftest import TINY_CONFIG
from tools import pretrain, train_gan


def invoke(tool, *args):
    return CliRunner().invoke(tool.main, [str(a) for a in args])


@pytest.fixture
def pretrained(photo_zip, tmp_path):
    out = tmp_path / "pre"
    result = invoke(pretrain, "--data", photo_zip, "--out", out, "--config", TINY_CONFIG, "--steps", 2)
    assert result.exit_code == 0, result.output
    return out / "last.pt"


@pytest.fixture
def gan_run(photo_zip, pretrained, tmp_path):
    out = tmp_path / "gan"
    result = invoke(train_gan, "--data", photo_zip, "--init", pretrained, "--out", out, "--config", TINY_CONFIG,
                    "--steps", 4, "--export", tmp_path / "model.pt")
    assert result.exit_code == 0, result.output
    return out


def test_gan_run_writes_both_networks_ema_and_events(gan_run, tmp_path):
    last = checkpoint.read(gan_run / "last.pt")
    assert last["stage"] == "gan" and last["step"] == 4
    assert last["discriminator"]["name"] == "patchgan" and last["ema"] and set(last["optimizers"]) == {"g", "d"}
    events = EventAccumulator(str(gan_run))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss_d", "train/d_real", "train/d_fake", "train/loss_g_adv", "train/loss_g_l1",
            "train/lr_g", "train/lr_d", "val/delta_cf_per_image"} <= scalars
    assert "images/val" in events.Tags()["images"]
    export = checkpoint.read(tmp_path / "model.pt")
    assert export["kind"] == "generator" and "discriminator" not in export and "optimizers" not in export


def test_resume_continues_the_gan_step_count(gan_run, photo_zip):
    result = invoke(train_gan, "--data", photo_zip, "--out", gan_run, "--steps", 6, "--resume")
    assert result.exit_code == 0, result.output
    assert checkpoint.read(gan_run / "last.pt")["step"] == 6


@pytest.mark.parametrize("make_init, message", [
    (lambda tmp: tmp / "missing.pt", "no such checkpoint"),
    (lambda tmp: (tmp / "text.pt").write_text("not a checkpoint") and tmp / "text.pt", "not a readable checkpoint"),
    (lambda tmp: None, "needs --init"),
])
def test_a_wrong_init_is_one_error_line(make_init, message, photo_zip, tmp_path):
    init = make_init(tmp_path)
    args = ["--data", photo_zip, "--out", tmp_path / "g", "--config", TINY_CONFIG, "--steps", 2]
    result = invoke(train_gan, *args, *(["--init", init] if init else []))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: ") and message in lines[-1]
