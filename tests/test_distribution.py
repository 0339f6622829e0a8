"""The colour-distribution head: bins, prior, loss, training (both stages), vividness and uncertainty everywhere."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from skimage import data as skdata

from gan_colorizer import checkpoint, color, data, losses
from gan_colorizer.config import DataConfig
from gan_colorizer.data.colour_prior import ab_histogram
from gan_colorizer.errors import ConfigError
from gan_colorizer.inference import Colorizer
from gan_colorizer.models import build, chroma_bins
from tests.conftest import BINS, TINY_CONFIG, TINY_GENERATOR, distribution_generator, small, write_png
from tools import colorize, evaluate, pretrain, train_gan



@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """The colour prior's cache goes to the test's folder, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# -- the model ------------------------------------------------------------------------------------------
def test_grid_cells_round_trip_and_a_gained_head_starts_as_the_plain_model():
    centres = chroma_bins.cell_centres()
    assert torch.equal(chroma_bins.cell_of(centres), torch.arange(chroma_bins.GRID_CELLS ** 2))
    torch.manual_seed(1)
    plain = build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"]).eval()
    gained = build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"], bins=BINS).eval()
    missing = gained.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing == ["bins_head.weight", "bins_head.bias"]
    L_n = torch.rand(2, 1, 45, 67) * 2 - 1
    prediction = gained(L_n, vividness=1.0, details=True)
    assert torch.allclose(prediction.ab_n, plain(L_n), atol=1e-6)  # zero head: confidence 0, nothing added
    assert prediction.logits.shape == (2, len(BINS), 12, 17)


def test_vividness_moves_toward_the_annealed_mean_only_where_the_model_is_sure():
    generator = distribution_generator()
    L_n = torch.rand(1, 1, 40, 48) * 2 - 1
    calm, vivid = generator(L_n, vividness=0.0), generator(L_n, vividness=1.0)
    assert torch.allclose(calm, generator(L_n, details=True).calm_ab_n, atol=1e-6)
    assert (vivid - calm).abs().max() > 1e-3
    logits = torch.zeros(1, len(BINS), 2, 2)
    logits[0, 5, 0, 0] = 50.0  # one pixel certain of bin 5, the others uniform (unsure)
    decoded = chroma_bins.decode(torch.zeros(1, 2, 4, 4), logits, generator.bin_centres, torch.ones(1, 1, 1, 1))
    assert torch.allclose(decoded[0, :, 0, 0], generator.bin_centres[5], atol=1e-3)  # (the distribution is coarser)
    assert decoded[0, :, 3, 3].abs().max() < 1e-5


def test_models_without_a_head_refuse_vividness_and_bad_bins_are_refused():
    plain = build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"]).eval()
    with pytest.raises(ValueError, match="no colour-distribution head"):
        plain(torch.zeros(1, 1, 32, 32), vividness=0.5)
    for bad in ((5,), (3, 2), (0, 484)):
        with pytest.raises(ConfigError, match="bins"):
            build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"], bins=bad)
    with pytest.raises(ConfigError, match="vividness"):
        build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"], bins=BINS, vividness=1.5)


# -- prior and loss -------------------------------------------------------------------------------------
def test_soft_encoding_puts_most_weight_on_the_nearest_bin_and_sums_to_one():
    centres = chroma_bins.cell_centres()[list(BINS)]
    ab_n = centres[[10, 100]].T.reshape(1, 2, 1, 2) + 0.01
    target = losses.soft_encode(ab_n, centres, 5, 5 / 110)
    assert torch.allclose(target.sum(dim=1), torch.ones(1, 1, 2))
    assert target[0, :, 0, 0].argmax() == 10 and target[0, :, 0, 1].argmax() == 100
    assert (target > 0).sum() == 10


def test_rebalancing_lifts_rare_bins_and_mix_one_weighs_all_alike():
    prior = torch.tensor([0.7, 0.2, 0.09, 0.01])
    assert torch.allclose(losses.rebalance_weights(prior, 1.0), torch.ones(4))
    weights = losses.rebalance_weights(prior, 0.5)
    assert torch.all(weights[1:] > weights[:-1]) and torch.isclose((prior * weights).sum(), torch.tensor(1.0))


def test_the_loss_is_lower_for_the_right_distribution():
    centres = chroma_bins.cell_centres()[list(BINS)]
    truth = centres[40].reshape(1, 2, 1, 1).expand(1, 2, 4, 4)
    right, wrong = torch.zeros(1, len(BINS), 2, 2), torch.zeros(1, len(BINS), 2, 2)
    right[:, 40], wrong[:, 200] = 10.0, 10.0
    weights = torch.ones(len(BINS))
    assert losses.distribution_loss(right, truth, centres, weights, 5, 5 / 110) < \
        losses.distribution_loss(wrong, truth, centres, weights, 5, 5 / 110)


def test_the_prior_counts_the_training_photos_colours_and_is_cached(photo_dir, tmp_path):
    source = data.open_sources([photo_dir])
    split = data.scan(source, DataConfig(val_fraction=0.0))
    prior = data.colour_prior(source, split, photos=100)
    assert prior.shape == (chroma_bins.GRID_CELLS ** 2,) and np.isclose(prior.sum(), 1.0)
    first = color.rgb_to_lab(source.decode(split.train[0], reduce=4).rgb)[..., 1:]
    assert all(prior[cell] > 0 for cell in np.flatnonzero(ab_histogram(first)))
    cached = list((tmp_path / "cache" / "gan_colorizer").glob("prior-*.npy"))
    assert len(cached) == 1
    np.save(cached[0], np.eye(1, chroma_bins.GRID_CELLS ** 2, 7)[0])  # the next call reads the cache, not the photos
    assert data.colour_prior(source, split, photos=100).argmax() == 7
    bins = data.bins_of(prior)
    assert bins == tuple(sorted(bins)) and np.isclose(data.class_prior(prior, bins, 5.0).sum(), 1.0)


# -- training -------------------------------------------------------------------------------------------
def tiny_pretrain(photo_zip, out, *args: str):
    """The pretrain tool on the tiny config and photos, into `out`."""
    return CliRunner().invoke(pretrain.main, ["--data", str(photo_zip), "--out", str(out), "--config", str(TINY_CONFIG),
                                              *args])


@pytest.fixture
def plain_run(photo_zip, tmp_path):
    """A tiny pretraining run without a distribution head, to --init from."""
    assert tiny_pretrain(photo_zip, tmp_path / "plain", "--steps", "1").exit_code == 0
    return tmp_path / "plain"


def test_pretraining_gains_a_head_logs_its_loss_resumes_and_feeds_the_gan(photo_zip, plain_run, tmp_path):
    runner = CliRunner()
    out = tmp_path / "head"
    flags = ["--set", "distribution.head=true", "--set", "distribution.rebalance_mix=0.5",
             "--set", "distribution.decoded_l1_weight=1.0", "--set", "train.log_every=1"]
    result = tiny_pretrain(photo_zip, out, "--steps", "2", "--init", str(plain_run / "last.pt"), *flags)
    assert result.exit_code == 0, result.output
    last = checkpoint.read(out / "last.pt")
    bins = last["generator"]["args"]["bins"]
    assert len(bins) >= 2 and last["generator"]["state_dict"]["bins_head.weight"].abs().sum() > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(out))
    events.Reload()
    assert {"train/loss_ce", "train/loss_decoded_l1"} <= set(events.Tags()["scalars"])
    result = runner.invoke(pretrain.main, ["--out", str(out), "--steps", "3", "--resume"])
    assert result.exit_code == 0, result.output
    assert checkpoint.read(out / "last.pt")["generator"]["args"]["bins"] == bins
    gan = tmp_path / "gan"
    result = runner.invoke(train_gan.main, ["--data", str(photo_zip), "--out", str(gan), "--config", str(TINY_CONFIG),
                                            "--steps", "2", "--init", str(out / "last.pt"),
                                            "--set", "gan.d_pretrain_steps=1", "--set", "train.log_every=1"])
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(gan))
    events.Reload()
    assert "train/loss_g_ce" in events.Tags()["scalars"]
    assert checkpoint.read(gan / "last.pt")["generator"]["args"]["bins"] == bins


# -- using it -------------------------------------------------------------------------------------------
def test_the_api_takes_vividness_per_call_and_gives_an_uncertainty_map():
    colorizer = Colorizer(distribution_generator())
    gray = small(skdata.camera(), 64, 48)
    calm, vivid = colorizer(gray, vividness=0.0), colorizer(gray, vividness=1.0)
    assert np.abs(calm.astype(int) - vivid).max() > 0
    assert np.array_equal(colorizer(gray), colorizer(gray, vividness=0.5))  # the model's default
    unsure = colorizer.uncertainty(color.rgb_to_L(np.dstack([gray] * 3).astype(np.float32) / 255.0))
    assert unsure.shape == gray.shape and unsure.dtype == np.uint8 and unsure.max() > unsure.min()
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        colorizer(gray, vividness=2.0)
    plain = Colorizer(build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"]).eval())
    with pytest.raises(ConfigError, match="no colour-distribution head"):
        plain(gray, vividness=0.5)
    with pytest.raises(ConfigError, match="distribution head"):
        plain.check_uncertainty()


def test_colorize_cli_writes_uncertainty_maps_and_refuses_vividness_without_a_head(distribution_checkpoint,
                                                                                   tiny_checkpoint, tmp_path):
    src = tmp_path / "in"
    for name, photo in (("cat.png", skdata.chelsea()), ("cup.png", skdata.coffee())):
        write_png(src / name, small(photo, 50, 40))
    out = tmp_path / "out"
    result = CliRunner().invoke(colorize.main, ["--in", str(src), "--out", str(out), "--checkpoint",
                                                str(distribution_checkpoint), "--vividness", "0.9", "--save-uncertainty"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["cat.png", "cat.uncertainty.png", "cup.png", "cup.uncertainty.png"]
    import cv2
    assert cv2.imread(str(out / "cat.uncertainty.png"), cv2.IMREAD_UNCHANGED).shape == (40, 50)
    for flag in (["--vividness", "0.5"], ["--save-uncertainty"]):
        refused = CliRunner().invoke(colorize.main, ["--in", str(src), "--out", str(tmp_path / "x"),
                                                     "--checkpoint", str(tiny_checkpoint), *flag])
        assert refused.exit_code == 1 and "distribution head" in refused.output.splitlines()[-1]
        assert "Traceback" not in refused.output


def test_the_onnx_backend_decodes_as_torch_at_any_vividness(tmp_path):
    pytest.importorskip("onnxruntime")
    from gan_colorizer import onnx_backend
    torch_colorizer = Colorizer(distribution_generator(vividness=0.7))
    onnx_backend.export_onnx(torch_colorizer.generator, tmp_path / "m.onnx")
    onnx_colorizer = Colorizer.from_checkpoint(tmp_path / "m.onnx")
    assert onnx_colorizer.takes_vividness and onnx_colorizer.default_vividness == pytest.approx(0.7)
    gray = small(skdata.camera(), 64, 48)
    for vividness in (None, 0.0, 1.0):
        difference = onnx_colorizer(gray, vividness=vividness).astype(int) - torch_colorizer(gray, vividness=vividness)
        assert np.abs(difference).max() <= 1
    assert not onnx_colorizer.gives_uncertainty


def test_evaluate_scores_a_row_per_vividness(distribution_checkpoint, photo_dir, tmp_path):
    pytest.importorskip("lpips")
    result = CliRunner().invoke(evaluate.main, ["--checkpoint", str(distribution_checkpoint), "--data", str(photo_dir),
                                                "--split", "all", "--vividness", "0", "--vividness", "1",
                                                "--json", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    import json
    table = json.loads((tmp_path / "m.json").read_text())
    rows = table.get("metrics", table)
    assert {"model", "viv0", "viv1", "gray"} <= set(rows)
    assert rows["viv1"]["cf_pred"] != rows["viv0"]["cf_pred"]


def test_head_only_training_changes_the_head_and_nothing_else(photo_zip, plain_run, tmp_path):
    out = tmp_path / "head_only"
    result = tiny_pretrain(photo_zip, out, "--steps", "2", "--init", str(plain_run / "last.pt"),
                           "--set", "distribution.head=true", "--set", "distribution.head_only=true")
    assert result.exit_code == 0, result.output
    before = checkpoint.read(plain_run / "last.pt")["generator"]["state_dict"]
    after = checkpoint.read(out / "last.pt")["generator"]["state_dict"]
    assert all(torch.equal(before[key], after[key]) for key in before)  # BatchNorm statistics included
    assert after["bins_head.weight"].abs().sum() > 0
    refused = tiny_pretrain(photo_zip, tmp_path / "no", "--steps", "1", "--set", "distribution.head_only=true")
    assert refused.exit_code == 1 and "no distribution head" in refused.output.splitlines()[-1]
