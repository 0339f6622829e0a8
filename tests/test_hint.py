"""The learned colour hint: its statistics, its random drop, the FiLM generator and the Colorizer path."""
import numpy as np
import pytest
import torch

from gan_colorizer import checkpoint, color, hint, losses, mood
from gan_colorizer.config import HintConfig, load_config
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


def test_training_hints_drop_whole_statistics_in_the_configured_shares_and_repeat_with_the_seed():
    ab_n = torch.rand(4000, 2, 4, 4) * 0.4 - 0.2
    cfg = HintConfig(p_recolour=0.0)
    draw = hint.training_hints(ab_n, cfg, hint.step_generator(3, 7, 0))
    assert torch.equal(draw.hints, hint.training_hints(ab_n, cfg, hint.step_generator(3, 7, 0)).hints)
    assert not torch.equal(draw.hints, hint.training_hints(ab_n, cfg, hint.step_generator(3, 8, 0)).hints)
    assert torch.equal(draw.target_ab_n, ab_n)
    hints = draw.hints
    has_mean, has_spread = hints[:, 3] == 1, hints[:, 4] == 1
    assert torch.all(hints[~has_mean][:, :2] == 0) and torch.all(hints[~has_spread][:, 2] == 0)
    assert torch.all(hints[has_spread][:, 2] > 0)
    none = (~has_mean & ~has_spread).float().mean().item()
    both = (has_mean & has_spread).float().mean().item()
    assert abs(none - cfg.p_none) < 0.03 and abs(both - cfg.p_both) < 0.03


def test_recoloured_hints_reach_past_the_photos_and_describe_their_targets():
    ab_n = torch.rand(2000, 2, 6, 6) * 0.2 - 0.1  # means within ±0.01 ab_n: ~±1 Lab unit
    cfg = HintConfig(p_none=0.0, p_recolour=0.5)
    draw = hint.training_hints(ab_n, cfg, hint.step_generator(0, 0, 0))
    moved = (draw.target_ab_n != ab_n).flatten(1).any(dim=1)
    assert abs(moved.float().mean().item() - 0.5) < 0.05
    has_mean, has_spread = draw.hints[:, 3], draw.hints[:, 4]
    measured = hint.stats_hint(draw.target_ab_n) * torch.stack([has_mean, has_mean, has_spread, has_mean, has_spread], 1)
    assert torch.allclose(draw.hints, measured, atol=1e-5)  # a hint is its target's own statistics
    mean_lab = draw.hints[moved & (draw.hints[:, 3] == 1), :2] * hint.HINT_UNIT
    assert mean_lab.std().item() == pytest.approx(cfg.shift_std, rel=0.15)  # far past the truths' ±1
    assert torch.equal(hint.training_hints(ab_n, cfg, hint.step_generator(0, 0, 0), recolour=False).target_ab_n, ab_n)


def test_hint_config_is_checked_and_named():
    with pytest.raises(ConfigError, match="hint.p_none"):
        load_config(None, {"hint.p_none": 0.8, "hint.p_both": 0.4})
    with pytest.raises(ConfigError, match="hint.p_recolour"):
        load_config(None, {"hint.p_recolour": 1.5})
    assert load_config(None, {"hint.stats_weight": "2.0"}).hint.stats_weight == 2.0


def test_hint_stats_loss_is_zero_on_target_counts_only_what_was_asked_and_has_gradients():
    pred = (torch.rand(3, 2, 8, 8) * 0.4 - 0.2).requires_grad_(True)
    exact = hint.stats_hint(pred.detach())
    assert losses.hint_stats_loss(pred, *hint.unpack(exact)).item() == pytest.approx(0.0, abs=1e-4)
    off = exact.clone()
    off[:, 1] += 0.5  # mean b* asked 0.5 hint units (12.5 Lab) higher
    off[0, 3] = 0.0  # ... but the first sample did not ask for a mean
    loss = losses.hint_stats_loss(pred, *hint.unpack(off))
    assert loss.item() == pytest.approx(2 / 3 * 0.5 * hint.HINT_UNIT / 110, rel=1e-3)
    loss.backward()
    assert pred.grad.abs().sum() > 0 and torch.isfinite(pred.grad).all()


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


def test_pretraining_a_hinted_model_logs_and_weighs_the_hint_statistics_loss(photo_dir, tmp_path):
    from gan_colorizer.loaders import open_photos
    from gan_colorizer.runtime import world
    from gan_colorizer.train import Pretrainer
    from gan_colorizer.training_setup import build_generator

    cfg = load_config(TINY_CONFIG, {"model.args.hint": True, "hint.p_none": 0.0, "hint.stats_weight": 2.0,
                                    "data.paths": [str(photo_dir)]})
    trainer = Pretrainer(cfg, tmp_path / "run", torch.device("cpu"), open_photos(cfg), None, build_generator(cfg))
    L_n, ab_n = next(iter(trainer.photos.train_loader(0, world(), torch.device("cpu"))))
    scalars = trainer.train_step(L_n, ab_n)
    assert set(scalars) == {"loss_l1", "loss_hint_stats"} and all(np.isfinite(list(scalars.values())))


def _crops_32() -> tuple[torch.Tensor, torch.Tensor]:
    """(8, 1, 32, 32) L_n and (8, 2, 32, 32) ab_n of real photo crops."""
    from skimage import data as skdata

    from tests.conftest import small

    photos = [skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket()]
    lab = np.stack([color.rgb_to_lab(small(photo[i * 30:], 32, 32).astype(np.float32) / 255)
                    for i in range(2) for photo in photos])
    L_n = torch.from_numpy(color.normalize_L(lab[..., 0]))[:, None]
    return L_n, torch.from_numpy(color.normalize_ab(lab[..., 1:])).permute(0, 3, 1, 2).contiguous()


@pytest.fixture
def one_thread():
    """Run torch on one thread: on tensors this small, handing work between threads costs more than
    it saves (the test below takes ~8 s alone but minutes on a CPU shared with other jobs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_statistics_loss_makes_a_tiny_model_follow_recoloured_hints_better(one_thread):
    L_n, ab_n = _crops_32()
    cfg = HintConfig(p_none=0.0, p_recolour=1.0)  # every sample hinted beyond its own colours

    def stats_error_after_training(weight: float, steps: int = 40) -> tuple[float, float]:
        torch.manual_seed(0)
        generator = build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"], hint=True)
        optimizer = torch.optim.Adam(generator.parameters(), lr=3e-3)

        def held_out_error() -> float:  # draws no training step saw
            generator.eval()
            with torch.no_grad():
                errors = [losses.hint_stats_loss(generator(L_n, drawn.hints), *hint.unpack(drawn.hints)).item()
                          for drawn in (hint.training_hints(ab_n, cfg, hint.step_generator(0, 1000 + i, 0))
                                        for i in range(4))]
            generator.train()
            return float(np.mean(errors))

        before = held_out_error()
        for step in range(steps):
            drawn = hint.training_hints(ab_n, cfg, hint.step_generator(0, step, 0))
            fake_ab_n = generator(L_n, drawn.hints)
            loss = losses.l1_loss(fake_ab_n, drawn.target_ab_n)
            loss = loss + weight * losses.hint_stats_loss(fake_ab_n, *hint.unpack(drawn.hints))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return before, held_out_error()

    before, with_loss = stats_error_after_training(1.0)
    _, without_loss = stats_error_after_training(0.0)
    assert with_loss < 0.8 * before
    assert with_loss < without_loss


def test_recolouring_changes_only_the_statistics_the_hint_tells():
    ab_n = torch.rand(400, 2, 6, 6) * 0.2 - 0.1
    draw = hint.training_hints(ab_n, HintConfig(p_none=0.0, p_both=0.0, p_mean_only=0.5, p_recolour=1.0),
                               hint.step_generator(1, 2, 0))
    truth, target = hint.stats_hint(ab_n)[:, :3], hint.stats_hint(draw.target_ab_n)[:, :3]
    mean_only, spread_only = draw.hints[:, 4] == 0, draw.hints[:, 3] == 0
    assert torch.allclose(target[mean_only, 2], truth[mean_only, 2], atol=1e-4)  # spread kept
    assert torch.allclose(target[spread_only, :2], truth[spread_only, :2], atol=1e-5)  # mean kept
    assert not torch.allclose(target[mean_only, :2], truth[mean_only, :2], atol=1e-2)


def test_recolouring_with_lightness_tints_lit_pixels_more_than_shadows_and_keeps_the_mean_shift():
    ab_n = torch.zeros(200, 2, 4, 4)
    L_n = torch.full((200, 1, 4, 4), 0.8)
    L_n[:, :, :2] = -0.8  # top half in shadow: L* 10 against 90
    cfg = HintConfig(p_none=0.0, p_both=0.0, p_mean_only=1.0, p_recolour=1.0)
    lit = hint.training_hints(ab_n, cfg, hint.step_generator(0, 5, 0), L_n=L_n)
    flat = hint.training_hints(ab_n, cfg, hint.step_generator(0, 5, 0))
    assert torch.allclose(lit.hints, flat.hints, atol=1e-5)  # the same requested mean either way
    moved = lit.target_ab_n.abs().sum(dim=1).mean(dim=2)  # (B, 4) per-row chroma, rows 0-1 shadow
    sure = moved[:, 2] > 0.01  # samples whose drawn shift is not tiny
    assert torch.allclose(moved[sure, 0] / moved[sure, 2], torch.full_like(moved[sure, 0], 0.2 / 1.8), atol=0.02)
