"""The learned colour hint: its statistics, its random drop, the FiLM generator and the Colorizer path."""
import numpy as np
import pytest
import torch

from gan_colorizer import checkpoint, color, hint, mood
from gan_colorizer.config import load_config
from gan_colorizer.errors import ConfigError
from gan_colorizer.inference import Colorizer
from gan_colorizer.models import build
from gan_colorizer.train import pretrain
from tests.conftest import TINY_CONFIG, TINY_GENERATOR


def test_stats_hint_measures_what_mood_ab_stats_measures():
    rng = np.random.default_rng(0)
    ab = rng.normal([6.0, -12.0], [9.0, 4.0], size=(20, 30, 2)).astype(np.float32)
    stats = mood.ab_stats(ab)
    row = hint.stats_hint(torch.from_numpy(color.normalize_ab(ab)).permute(2, 0, 1)[None])[0]
    expected = [*stats.mean_ab, stats.spread]
    assert row[:3].numpy() * hint.HINT_UNIT == pytest.approx(expected, abs=1e-3)
    assert row[3:].tolist() == [1.0, 1.0]


def test_random_hints_drop_whole_statistics_and_repeat_with_the_seed():
    ab_n = torch.rand(4000, 2, 4, 4) * 0.4 - 0.2
    draw = hint.random_hints(ab_n, torch.Generator().manual_seed(3))
    assert torch.equal(draw, hint.random_hints(ab_n, torch.Generator().manual_seed(3)))
    has_mean, has_spread = draw[:, 3] == 1, draw[:, 4] == 1
    assert torch.all(draw[~has_mean][:, :2] == 0) and torch.all(draw[~has_spread][:, 2] == 0)
    assert torch.all(draw[has_spread][:, 2] > 0)
    none = (~has_mean & ~has_spread).float().mean().item()
    both = (has_mean & has_spread).float().mean().item()
    assert abs(none - hint.P_NONE) < 0.03 and abs(both - hint.P_BOTH) < 0.03


def test_target_hint_flags_only_what_the_target_sets():
    assert hint.target_hint(None, 2).abs().sum() == 0
    vivid = hint.target_hint(mood.MOODS["vivid"], 3)
    assert vivid.shape == (3, hint.HINT_SIZE) and vivid[0].tolist() == pytest.approx([0, 0, 24 / hint.HINT_UNIT, 0, 1])
    warm = hint.target_hint(mood.MOODS["warm"], 1)[0]
    assert warm.tolist() == pytest.approx([4 / hint.HINT_UNIT, 18 / hint.HINT_UNIT, 0, 1, 0])


def test_a_hinted_generator_starts_as_the_plain_one_and_a_plain_one_refuses_hints():
    torch.manual_seed(0)
    plain = build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"]).eval()
    hinted = build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"], hint=True).eval()
    missing, unexpected = hinted.load_state_dict(plain.state_dict(), strict=False)
    assert all(key.startswith("film.") for key in missing) and not unexpected
    L_n = torch.rand(2, 1, 37, 45) * 2 - 1
    with torch.no_grad():
        expected = plain(L_n)
        assert torch.equal(hinted(L_n), expected)
        assert torch.equal(hinted(L_n, hint.target_hint(mood.MOODS["sepia"], 2)), expected)
    assert hinted.takes_hint and not plain.takes_hint
    with pytest.raises(ValueError, match="no colour hint"):
        plain(L_n, torch.zeros(2, hint.HINT_SIZE))


@pytest.fixture(scope="module")
def hinted_checkpoint(tmp_path_factory):
    """A tiny hinted generator trained long enough (about 10 s) to follow the hint's mean colour."""
    from tests.conftest import small, write_png
    from skimage import data as skdata

    root = tmp_path_factory.mktemp("hint")
    for index, photo in enumerate([skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket()] * 2):
        write_png(root / "photos" / f"p{index}.png", small(photo[index * 20:], 48, 40))
    cfg = load_config(TINY_CONFIG, {"model.args.hint": True, "train.steps": 150, "train.batch_size": 8,
                                    "train.lr": 1e-2, "train.val_every": 150, "train.grid_images": 0,
                                    "data.paths": [str(root / "photos")]})
    pretrain(cfg, root / "run", torch.device("cpu"))
    return root / "run" / "last.pt"


def test_checkpoints_say_whether_a_model_takes_a_hint(hinted_checkpoint, tiny_checkpoint):
    assert checkpoint.read(hinted_checkpoint)["generator"]["args"]["hint"] is True
    assert Colorizer.from_checkpoint(hinted_checkpoint).takes_hint
    assert not Colorizer.from_checkpoint(tiny_checkpoint).takes_hint


def test_learned_control_moves_toward_the_target_keeps_L_and_off_means_off(hinted_checkpoint, chelsea_48x40):
    generator, _ = checkpoint.load_generator(hinted_checkpoint)
    L = color.rgb_to_L(chelsea_48x40)
    target = np.array(mood.MOODS["cool"].mean_ab)
    distances = []
    colorizer = Colorizer(generator)
    assert colorizer.takes_hint
    for strength in (0.0, 0.5, 1.0):
        ab = colorizer.predict_ab([L], mood.control("cool", strength=strength))[0]
        distances.append(np.linalg.norm(ab.reshape(-1, 2).mean(axis=0) - target))
        out = colorizer(chelsea_48x40, mood="cool", strength=strength)
        assert np.abs(color.rgb_to_L(out.astype(np.float32) / 255) - L).max() < 1.5
    assert distances[0] > distances[1] > distances[2]
    plain = colorizer(chelsea_48x40)
    assert np.array_equal(colorizer(chelsea_48x40, mood="cool", strength=0.0), plain)
    learned = colorizer(chelsea_48x40, mood="cool")
    assert not np.array_equal(colorizer(chelsea_48x40, mood="cool", learned=False), learned)


def test_learned_control_rejects_bad_strength(hinted_checkpoint):
    with pytest.raises(ConfigError, match="strength"):
        Colorizer.from_checkpoint(hinted_checkpoint)(np.zeros((8, 8), np.uint8), mood="warm", strength=1.5)
