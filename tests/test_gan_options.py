"""The GAN's optional regularisers and the projected discriminator: each changes the computation as
documented, and a tiny train_gan run completes with each switched on by one config key."""
import math

import pytest
import torch
import torchvision
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gan_colorizer import checkpoint, losses
from gan_colorizer.config import load_config
from gan_colorizer.errors import ConfigError, MissingWeightsError
from gan_colorizer.models import available, build
from tests.conftest import TINY_CONFIG
from tests.test_models import torch_cache  # noqa: F401  (fixture: an empty torch cache of the test's own)
from tests.test_train_gan_cli import invoke, pretrained  # noqa: F401  (pretrained: a tiny pretrain last.pt)
from tools import train_gan

TINY_PROJECTED = {"width_mult": 0.25, "head_channels": 8}


def _pair(batch: int = 4, height: int = 24, width: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """L_n (B, 1, H, W) in [-1, 1] and ab_n (B, 2, H, W) in [-0.5, 0.5], no pixel exactly gray."""
    rng = torch.Generator().manual_seed(seed)
    L_n = torch.rand(batch, 1, height, width, generator=rng) * 2 - 1
    magnitude = 0.01 + 0.49 * torch.rand(batch, 2, height, width, generator=rng)
    sign = torch.randint(0, 2, (batch, 2, height, width), generator=rng) * 2 - 1  # every hue quadrant
    ab_n = magnitude * sign
    return L_n, ab_n


def _seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- DiffAugment ------------------------------------------------------------------------------------

@pytest.mark.parametrize("ops", [("color",), ("translation",), ("cutout",), ("color", "translation", "cutout")])
def test_diffaugment_keeps_shapes_changes_every_image_and_repeats_with_its_seed(ops):
    L_n, ab_n = _pair()
    out_L, out_ab = losses.diff_augment(L_n, ab_n, ops, _seeded(0))
    assert out_L.shape == L_n.shape and out_ab.shape == ab_n.shape
    changed = (out_L != L_n).flatten(1).any(dim=1) | (out_ab != ab_n).flatten(1).any(dim=1)
    assert changed.all()
    again_L, again_ab = losses.diff_augment(L_n, ab_n, ops, _seeded(0))
    assert torch.equal(again_L, out_L) and torch.equal(again_ab, out_ab)
    other_L, other_ab = losses.diff_augment(L_n, ab_n, ops, _seeded(1))  # each call draws its own parameters
    assert not (torch.equal(other_L, out_L) and torch.equal(other_ab, out_ab))


def test_diffaugment_colour_moves_lightness_and_chroma_but_never_hue():
    L_n, ab_n = _pair()
    out_L, out_ab = losses.diff_augment(L_n, ab_n, ("color",), _seeded(0))
    hue, out_hue = torch.atan2(ab_n[:, 1], ab_n[:, 0]), torch.atan2(out_ab[:, 1], out_ab[:, 0])
    torch.testing.assert_close(out_hue, hue)
    scale = out_ab.norm(dim=1) / ab_n.norm(dim=1)  # one chroma factor per image, within the documented range
    assert torch.allclose(scale, scale[:, :1, :1].expand_as(scale), atol=1e-5)
    assert ((scale > math.exp(-0.25) - 1e-5) & (scale < math.exp(0.25) + 1e-5)).all()
    assert not torch.allclose(out_L, L_n)


def test_diffaugment_translation_shifts_L_and_ab_together_with_gray_shifted_in():
    L_n, ab_n = _pair(batch=6, height=16, width=16)
    pair = torch.cat([L_n, ab_n], dim=1)
    out = torch.cat(losses.diff_augment(L_n, ab_n, ("translation",), _seeded(3)), dim=1)
    padded = torch.nn.functional.pad(pair, (2, 2, 2, 2))  # shifts are at most 16 / 8 = 2 pixels
    for image in range(6):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if torch.equal(out[image], padded[image, :, 2 + dy:18 + dy, 2 + dx:18 + dx])]
        assert matches, f"image {image} is not a whole-pixel shift of its input"


def test_diffaugment_cutout_grays_one_block_of_L_and_ab():
    L_n, ab_n = _pair(batch=6, height=16, width=12)
    out = torch.cat(losses.diff_augment(L_n, ab_n, ("cutout",), _seeded(0)), dim=1)
    source = torch.cat([L_n, ab_n], dim=1)
    hole = (out == 0).all(dim=1)  # (B, H, W): every channel zeroed at once
    assert torch.equal(out[~hole.unsqueeze(1).expand_as(out)], source[~hole.unsqueeze(1).expand_as(out)])
    for image_hole in hole:
        rows, cols = image_hole.any(dim=1).nonzero(), image_hole.any(dim=0).nonzero()
        assert 0 < len(rows) <= 8 and 0 < len(cols) <= 6  # at most half of each side, clipped at the border
        assert image_hole.sum() == len(rows) * len(cols)  # one rectangle


def test_diffaugment_is_differentiable_and_rejects_unknown_ops():
    L_n, ab_n = _pair()
    ab_n.requires_grad_()
    out_L, out_ab = losses.diff_augment(L_n, ab_n, ("color", "translation", "cutout"), _seeded(0))
    (out_L.sum() + out_ab.pow(2).sum()).backward()
    assert ab_n.grad is not None and ab_n.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="hue"):
        losses.diff_augment(L_n, ab_n, ("hue",))


@pytest.mark.parametrize(("value", "ops"), [("", ()), ("translation,cutout", ("translation", "cutout")),
                                            (" color , cutout ", ("color", "cutout"))])
def test_diffaugment_config_reads_a_comma_list(value, ops):
    assert load_config(TINY_CONFIG, {"gan.diffaugment": value}).gan.diffaugment_ops == ops


@pytest.mark.parametrize(("key", "value", "message"), [
    ("gan.diffaugment", "hue", "gan.diffaugment: must be a comma-separated list"),
    ("gan.diffaugment", "cutout,cutout", "distinct ops"),
    ("gan.r1_gamma", -1, "gan.r1_gamma: must be >= 0"),
    ("gan.r1_every", 0, "gan.r1_every: must be at least 1"),
    ("gan.instance_noise", -0.1, "gan.instance_noise: must be >= 0")])
def test_bad_option_values_are_config_errors_naming_the_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(TINY_CONFIG, {key: value})


# -- instance noise and R1 ----------------------------------------------------------------------------

def test_instance_noise_falls_linearly_to_zero_over_the_run():
    x = torch.zeros(4, 3, 64, 64)
    stds = [losses.add_instance_noise(x, 0.2, progress, _seeded(0)).std().item() for progress in (0.0, 0.5)]
    assert stds == pytest.approx([0.2, 0.1], rel=0.05)
    for progress in (1.0, 1.5):
        assert losses.add_instance_noise(x, 0.2, progress, _seeded(0)) is x
    assert losses.add_instance_noise(x, 0.0, 0.0) is x


def test_r1_is_the_squared_gradient_of_the_mean_patch_score_by_the_real_chroma():
    torch.manual_seed(0)
    critic = torch.nn.Conv2d(3, 1, 1)  # a linear D: score = w . [L, ab] + bias at every pixel
    L_n, ab_n = _pair(batch=2, height=6, width=5)
    ab_n.requires_grad_()
    penalty = losses.r1_penalty(critic(torch.cat([L_n, ab_n], dim=1)), ab_n)
    w_ab = critic.weight.flatten()[1:]
    # d(mean score)/d(ab at a pixel) = w_ab / 30 at each of 30 pixels: squared and summed, |w_ab|^2 / 30
    assert penalty.item() == pytest.approx(w_ab.pow(2).sum().item() / 30, rel=1e-5)
    penalty.backward()  # it trains D: its gradient reaches the weights
    assert critic.weight.grad.abs().sum() > 0


# -- the projected discriminator ---------------------------------------------------------------------

def test_projected_discriminator_scores_rgb_at_three_scales_with_a_frozen_backbone():
    assert "projected_patchgan" in available("discriminator")
    disc = build("projected_patchgan", kind="discriminator", **TINY_PROJECTED).train()
    backbone = [p for name, p in disc.named_parameters() if name.startswith("backbone.")]
    before = {key: value.clone() for key, value in disc.state_dict().items() if key.startswith("backbone.")}
    rgb = torch.rand(2, 3, 64, 48, requires_grad=True)
    logits = disc(rgb)
    assert logits.shape == (2, 1, 3 * 4 * 3) and torch.isfinite(logits).all()  # 3 scales of a 4x3 grid (stride 16)
    logits.mean().backward()
    assert backbone and all(not p.requires_grad and p.grad is None for p in backbone)
    assert rgb.grad is not None and rgb.grad.abs().sum() > 0  # G's adversarial gradient passes through it
    assert all(torch.equal(value, disc.state_dict()[key]) for key, value in before.items())  # BN stats kept
    assert disc(torch.rand(1, 3, 1, 1)).shape == (1, 1, 3)


@pytest.mark.parametrize("args", [{"taps": [6, 3]}, {"taps": [18]}, {"taps": []}, {"head_channels": 0}])
def test_projected_discriminator_bad_args_are_config_errors(args):
    with pytest.raises(ConfigError, match="projected_patchgan"):
        build("projected_patchgan", **args)


def test_projected_backbone_loads_the_generators_imagenet_file_and_names_it_when_missing(torch_cache):
    with pytest.raises(MissingWeightsError) as caught:
        build("projected_patchgan", kind="discriminator", weights="imagenet")
    message = str(caught.value)
    assert "\n" not in message and f"mobilenet_v2-b0353104.pth not found in {torch_cache}" in message
    assert "--set gan.discriminator=patchgan" in message
    torch.manual_seed(1)
    state = torchvision.models.mobilenet_v2().features.state_dict()
    torch.save(state, torch_cache / "mobilenet_v2_features_imagenet-26a8ac00.pth")
    disc = build("projected_patchgan", kind="discriminator", weights="imagenet")
    assert all(torch.equal(tensor, state[key]) for key, tensor in disc.backbone.state_dict().items())


def test_a_discriminator_without_a_backbone_refuses_a_weights_file():
    build("patchgan", weights="imagenet")  # the config default: nothing to load, no error
    with pytest.raises(ConfigError, match="gan.discriminator: 'patchgan' has no pretrained part"):
        build("patchgan", weights="some.pth")


# -- tiny train_gan runs -------------------------------------------------------------------------------

def _train_gan(photo_zip, init, out, steps, *sets):
    args = ["--data", photo_zip, "--out", out, "--config", TINY_CONFIG, "--steps", steps]
    args += ["--init", init] if init else ["--resume"]
    return invoke(train_gan, *args, *[item for s in sets for item in ("--set", s)])


def _scalars(run_dir):
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: [event.value for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_each_option_is_used_in_d_and_g_steps(photo_zip, pretrained, tmp_path, monkeypatch):
    """One run with every regulariser on: augmentation reaches D's real, D's fake and G's fake input."""
    calls = []
    augment = losses.diff_augment

    def recording(L_n, ab_n, ops, generator=None):
        calls.append(ops)
        return augment(L_n, ab_n, ops, generator)

    monkeypatch.setattr(losses, "diff_augment", recording)
    out = tmp_path / "gan"
    result = _train_gan(photo_zip, pretrained, out, 2, "gan.diffaugment=translation,cutout", "gan.r1_gamma=10",
                        "gan.r1_every=2", "gan.instance_noise=0.1", "gan.d_pretrain_steps=1", "train.val_every=2")
    assert result.exit_code == 0, result.output
    assert calls == [("translation", "cutout")] * (2 + 3)  # step 0: D's real and fake; step 1: and G's fake
    scalars = _scalars(out)
    assert scalars["train/d_r1"][0] > 0  # step 0 computes R1; step 1 (lazy, every 2nd) logs the same value
    assert scalars["train/d_r1"][1] == scalars["train/d_r1"][0]


@pytest.mark.parametrize("sets", [
    ("gan.diffaugment=color,translation,cutout",),
    ("gan.r1_gamma=1.0", "gan.r1_every=4"),
    ("gan.instance_noise=0.1",),
])
def test_a_tiny_gan_run_completes_with_each_option(photo_zip, pretrained, tmp_path, sets):
    out = tmp_path / "gan"
    result = _train_gan(photo_zip, pretrained, out, 2, *sets)
    assert result.exit_code == 0, result.output
    scalars = _scalars(out)
    assert all(math.isfinite(value) for values in scalars.values() for value in values)
    assert ("train/d_r1" in scalars) == any(s.startswith("gan.r1_gamma") for s in sets)


def test_a_tiny_gan_run_with_the_projected_discriminator_trains_resumes_and_keeps_its_backbone(
        photo_zip, pretrained, tmp_path):
    out = tmp_path / "gan"
    args = '{"width_mult": 0.25, "head_channels": 8}'
    result = _train_gan(photo_zip, pretrained, out, 2, "gan.discriminator=projected_patchgan",
                        f"gan.discriminator_args={args}", "gan.discriminator_weights=none")
    assert result.exit_code == 0, result.output
    first = checkpoint.read(out / "last.pt")["discriminator"]
    assert first["name"] == "projected_patchgan"
    result = _train_gan(photo_zip, None, out, 3)
    assert result.exit_code == 0, result.output
    second = checkpoint.read(out / "last.pt")["discriminator"]["state_dict"]
    for key, tensor in first["state_dict"].items():
        if key.startswith("backbone."):
            assert torch.equal(tensor, second[key]), key  # frozen through D's and G's steps
    assert any(not torch.equal(tensor, second[key]) for key, tensor in first["state_dict"].items()
               if key.startswith("heads."))
