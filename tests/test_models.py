import pytest
import torch

from gan_colorizer.errors import ConfigError
from gan_colorizer.models import available, build

TINY_ARGS = {
    "mobilenet_unet": {"decoder_channels": (8, 8, 8, 8), "width_mult": 0.25},
    "pix2pix_unet": {"base_channels": 4, "depth": 3},
    "patchgan": {"base_channels": 4, "n_layers": 2},
}
GENERATORS = [name for name in available() if name != "patchgan"]


@pytest.mark.parametrize("name", GENERATORS)
@pytest.mark.parametrize("size", [(48, 40), (33, 47), (1, 1)])
def test_every_generator_maps_L_to_ab_at_any_size(name, size):
    model = build(name, **TINY_ARGS[name]).eval()
    with torch.no_grad():
        ab_n = model(torch.rand(2, 1, *size) * 2 - 1)
    assert ab_n.shape == (2, 2, *size)
    assert ab_n.abs().max() <= 1.0


def test_unknown_model_or_argument_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="unknown model 'unet9'; known: .*mobilenet_unet"):
        build("unet9")
    with pytest.raises(ConfigError, match="pix2pix_unet.*unexpected keyword"):
        build("pix2pix_unet", widht=3)
    with pytest.raises(ConfigError, match="norm must be one of"):
        build("pix2pix_unet", base_channels=4, depth=3, norm="group")


def test_default_sizes_match_the_published_pix2pix_generator():
    params = sum(p.numel() for p in build("pix2pix_unet").parameters())
    assert abs(params - 54.41e6) < 0.05e6  # unet_256 with 1 input and 2 output channels


@pytest.mark.parametrize("name", GENERATORS)
def test_thirty_l1_steps_on_one_batch_halve_the_loss(name, photo_zip):
    from gan_colorizer import data

    torch.manual_seed(0)
    source = data.PhotoSource(photo_zip)
    batch = [data.lab_tensors(data.center_square(source.decode(key).rgb, 32)) for key in source.keys[:4]]
    L_n, target = (torch.stack(t) for t in zip(*batch))
    model = build(name, **TINY_ARGS[name]).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.l1_loss(model(L_n), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
