"""PatchGAN discriminator: patch-logit shapes at any size, every norm option, the 70x70 field."""
import pytest
import torch

from gan_colorizer.errors import ConfigError
from gan_colorizer.models import available, build


def _pairs(height: int, width: int, batch: int = 2) -> torch.Tensor:
    """cat([L_n, ab_n]): (B, 3, H, W) in [-1, 1]."""
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_patchgan_is_registered_as_a_discriminator():
    assert "patchgan" in available("discriminator")


@pytest.mark.parametrize(("size", "patches"), [((48, 40), (4, 3)), ((33, 47), (2, 3)), ((256, 256), (30, 30))])
def test_default_maps_pairs_to_patch_logits(size, patches):
    disc = build("patchgan", base_channels=8)
    logits = disc(_pairs(*size))
    assert logits.shape == (2, 1, *patches)  # 256 -> 30x30, as pix2pix's 70x70 PatchGAN
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("size", [(16, 16), (1, 1), (23, 5), (24, 24)])
def test_tiny_inputs_give_one_patch(size):
    disc = build("patchgan", base_channels=8)
    assert disc(_pairs(*size)).shape == (2, 1, 1, 1)


@pytest.mark.parametrize("n_layers", [1, 2, 4])
def test_other_depths_work_at_any_size(n_layers):
    disc = build("patchgan", base_channels=4, n_layers=n_layers)
    assert disc(_pairs(33, 47)).shape[:2] == (2, 1)
    assert disc(_pairs(1, 1)).shape == (2, 1, 1, 1)


@pytest.mark.parametrize(("norm", "spectral_norm"), [
    ("batch", False), ("instance", False), ("none", False), ("instance", True), ("none", True)])
def test_every_norm_builds_trains_and_evaluates(norm, spectral_norm):
    disc = build("patchgan", base_channels=8, norm=norm, spectral_norm=spectral_norm)
    logits = disc(_pairs(48, 40))
    logits.mean().backward()
    assert all(p.grad is not None for p in disc.parameters() if p.requires_grad)
    disc.eval()
    with torch.no_grad():
        assert disc(_pairs(48, 40, batch=1)).shape == (1, 1, 4, 3)


def test_default_scores_each_image_alone():
    """The D step scores real and fake batches separately: a score must not depend on batch-mates."""
    disc = build("patchgan", base_channels=8)
    pairs = _pairs(32, 32, batch=3)
    torch.testing.assert_close(disc(pairs[:1]), disc(pairs)[:1])


def test_spectral_norm_bounds_each_conv():
    torch.manual_seed(0)
    disc = build("patchgan", base_channels=8, norm="none", spectral_norm=True)
    convs = [m for m in disc.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for conv in convs:  # raw weights ~8x too large: only the normalisation brings them back to 1
            conv.parametrizations.weight.original.mul_(10.0)
    for _ in range(3):  # each training forward runs one more power iteration on the estimate
        disc(_pairs(24, 24, batch=1))
    with torch.no_grad():
        norms = [torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2).item() for conv in convs]
    assert norms and norms == pytest.approx([1.0] * len(norms), abs=0.1)


def _receptive_field(disc: torch.nn.Module, size: int) -> tuple[int, int]:
    """Height and width of the input region that moves the centre patch's logit (norm='none' only:
    instance and batch norm couple every pixel through their statistics)."""
    x = _pairs(size, size, batch=1).requires_grad_()
    logits = disc(x)
    logits[0, 0, logits.shape[2] // 2, logits.shape[3] // 2].backward()
    rows, cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1)), as_tuple=True)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize(("n_layers", "field"), [(3, 70), (1, 16), (2, 34)])
def test_receptive_field_matches_the_documented_formula(n_layers, field):
    disc = build("patchgan", base_channels=4, n_layers=n_layers, norm="none")
    assert field == 9 * 2**n_layers - 2
    assert _receptive_field(disc, 128) == (field, field)


@pytest.mark.parametrize("args", [
    {"norm": "group"}, {"n_layers": 0}, {"base_channels": 0}, {"in_channels": 0},
    {"norm": "batch", "spectral_norm": True}, {"depth": 3}])
def test_bad_args_raise_config_error(args):
    with pytest.raises(ConfigError, match="patchgan"):
        build("patchgan", **args)
