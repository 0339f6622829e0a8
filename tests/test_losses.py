"""Adversarial, L1 and colourfulness losses on hand-made inputs whose values are known exactly."""
import math

import pytest
import torch

from gan_colorizer.losses import colourfulness_loss, gan_loss, generator_adv_loss, l1_loss


def _logits(value: float) -> torch.Tensor:
    return torch.full((2, 1, 3, 4), value)  # (B, 1, h, w) patch logits


@pytest.mark.parametrize(("mode", "value", "is_real", "expected"), [
    ("vanilla", 0.0, True, math.log(2.0)),  # sigmoid(0) = 1/2 either way
    ("vanilla", 0.0, False, math.log(2.0)),
    ("vanilla", 2.0, True, math.log1p(math.exp(-2.0))),
    ("vanilla", 2.0, False, math.log1p(math.exp(2.0))),
    ("lsgan", 1.0, True, 0.0),
    ("lsgan", 0.0, True, 1.0),
    ("lsgan", 0.0, False, 0.0),
    ("lsgan", 3.0, False, 9.0),
    ("hinge", 2.0, True, 0.0),  # beyond the margin: no loss
    ("hinge", 0.0, True, 1.0),
    ("hinge", 0.0, False, 1.0),
    ("hinge", -0.5, False, 0.5),
    ("hinge", -3.0, True, 4.0),
])
def test_gan_loss_exact_values(mode, value, is_real, expected):
    assert gan_loss(_logits(value), is_real, mode).item() == pytest.approx(expected, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize(("mode", "real_score", "fake_score"), [
    ("vanilla", 2.0, -2.0), ("lsgan", 1.0, 0.0), ("hinge", 2.0, -2.0)])
def test_gan_loss_is_lower_for_the_right_answer(mode, real_score, fake_score):
    says_real, says_fake = _logits(real_score), _logits(fake_score)
    assert gan_loss(says_real, True, mode) < gan_loss(says_fake, True, mode)
    assert gan_loss(says_fake, False, mode) < gan_loss(says_real, False, mode)


def test_gan_loss_averages_over_patches():
    mixed = torch.tensor([[[[0.0, 2.0]]]])  # one patch in the hinge margin, one beyond it
    assert gan_loss(mixed, True, "hinge").item() == pytest.approx(0.5)


@pytest.mark.parametrize("mode", ["vanilla", "lsgan"])
def test_generator_loss_is_discriminator_loss_with_real_target(mode):
    fake = torch.randn(2, 1, 3, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(generator_adv_loss(fake, mode), gan_loss(fake, True, mode))


def test_generator_hinge_is_minus_mean():
    fake = torch.tensor([[[[1.0, -3.0, 0.5, 5.5]]]])
    assert generator_adv_loss(fake, "hinge").item() == pytest.approx(-1.0)


@pytest.mark.parametrize("mode", ["vanilla", "lsgan", "hinge"])
def test_generator_loss_rewards_fooling_the_discriminator(mode):
    assert generator_adv_loss(_logits(2.0), mode) < generator_adv_loss(_logits(-2.0), mode)


@pytest.mark.parametrize("loss", [lambda x, mode: gan_loss(x, True, mode), generator_adv_loss])
def test_unknown_mode_names_the_known_ones(loss):
    with pytest.raises(ValueError, match="vanilla, lsgan, hinge.*'wgan'"):
        loss(_logits(0.0), "wgan")


def test_l1_loss_value():
    pred = torch.zeros(1, 2, 2, 2)
    true = torch.full((1, 2, 2, 2), 0.25)
    assert l1_loss(pred, true).item() == pytest.approx(0.25)


def _vivid_ab_n(batch: int = 2, size: int = 16) -> torch.Tensor:
    """(B, 2, size, size) ab_n with varying, strong chroma: a hue sweep of rising saturation."""
    angle = torch.linspace(0, 2 * math.pi, size * size).view(1, size, size)
    radius = torch.linspace(0.1, 0.6, size * size).view(1, size, size)
    ab_n = torch.cat([radius * torch.cos(angle), radius * torch.sin(angle)]).unsqueeze(0)
    return ab_n.repeat(batch, 1, 1, 1)


def test_colourfulness_loss_is_zero_for_a_perfect_or_more_vivid_prediction():
    true = _vivid_ab_n()
    assert colourfulness_loss(true.clone(), true).item() == 0.0
    assert colourfulness_loss(true * 1.5, true).item() == 0.0  # one-sided: never caps colour


def test_colourfulness_loss_penalises_gray_and_washed_out_predictions():
    true = _vivid_ab_n()
    gray = colourfulness_loss(torch.zeros_like(true), true).item()
    washed_out = colourfulness_loss(true * 0.5, true).item()
    assert gray > washed_out > 0


def test_colourfulness_loss_gradient_step_raises_chroma():
    true = _vivid_ab_n()
    pred = (true * 0.3).requires_grad_()
    loss = colourfulness_loss(pred, true)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    stepped = pred.detach() - 10.0 * pred.grad
    assert colourfulness_loss(stepped, true) < loss
    assert stepped.norm(dim=1).mean() > pred.detach().norm(dim=1).mean()


def test_colourfulness_loss_gradient_is_finite_for_gray():
    true = _vivid_ab_n()
    pred = torch.zeros_like(true, requires_grad=True)
    colourfulness_loss(pred, true).backward()
    assert torch.isfinite(pred.grad).all()
