"""Every registered model through the generator / discriminator contract, and pretrained encoder weights."""
import pytest
import torch
import torchvision

from gan_colorizer.errors import ConfigError, MissingWeightsError
from gan_colorizer.models import Generator, available, build
from gan_colorizer.training_setup import freeze_encoder

TINY_ARGS = {  # a new model without an entry is tested at its default size
    "mobilenet_unet": {"decoder_channels": (8, 8, 8, 8), "width_mult": 0.25},
    "pix2pix_unet": {"base_channels": 4, "depth": 3},
    "patchgan": {"base_channels": 4, "n_layers": 2},
}
GENERATORS = available("generator")
DISCRIMINATORS = available("discriminator")
TORCHVISION_V1, TORCHVISION_V2, CONVERTED = build("mobilenet_unet", **TINY_ARGS["mobilenet_unet"]).pretrained.files


def tiny(name: str, **extra) -> torch.nn.Module:
    return build(name, **TINY_ARGS.get(name, {}), **extra)


def test_every_model_has_one_kind():
    assert GENERATORS and DISCRIMINATORS
    assert sorted(GENERATORS + DISCRIMINATORS) == available()


@pytest.mark.parametrize("name", GENERATORS)
@pytest.mark.parametrize("size", [(48, 40), (33, 47), (1, 1)])
def test_every_generator_maps_L_to_ab_at_any_size(name, size):
    model = tiny(name, kind="generator").eval()
    assert isinstance(model, Generator)
    with torch.no_grad():
        ab_n = model(torch.rand(2, 1, *size) * 2 - 1)
    assert ab_n.shape == (2, 2, *size)
    assert ab_n.abs().max() <= 1.0


@pytest.mark.parametrize("name", GENERATORS)
def test_a_generator_without_hint_support_refuses_a_hint(name):
    model = tiny(name).eval()
    if model.takes_hint:
        pytest.skip(f"{name} takes a hint by default")
    with pytest.raises(ValueError, match="no colour hint"):
        model(torch.zeros(1, 1, 8, 8), torch.zeros(1, 5))


@pytest.mark.parametrize("name", DISCRIMINATORS)
def test_every_discriminator_maps_pairs_to_finite_patch_logits(name):
    logits = tiny(name, kind="discriminator")(torch.rand(2, 3, 48, 40) * 2 - 1)
    assert logits.shape[:2] == (2, 1) and torch.isfinite(logits).all()


def test_unknown_model_or_argument_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="unknown model 'unet9'; known: .*mobilenet_unet"):
        build("unet9")
    with pytest.raises(ConfigError, match="^model.name: unknown model 'unet9'; generators: mobilenet_unet"):
        build("unet9", kind="generator")
    with pytest.raises(ConfigError, match="pix2pix_unet.*unexpected keyword"):
        build("pix2pix_unet", widht=3)
    with pytest.raises(ConfigError, match="norm must be one of"):
        build("pix2pix_unet", base_channels=4, depth=3, norm="group")


def test_a_name_of_the_other_kind_is_a_config_error_naming_the_key_and_the_choices():
    with pytest.raises(ConfigError) as caught:
        build("patchgan", kind="generator")
    assert str(caught.value) == f"model.name: 'patchgan' is a discriminator; generators: {', '.join(GENERATORS)}"
    with pytest.raises(ConfigError, match=f"^gan.discriminator: 'pix2pix_unet' is a generator; "
                                          f"discriminators: {', '.join(DISCRIMINATORS)}$"):
        build("pix2pix_unet", kind="discriminator")


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
    model = tiny(name).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.l1_loss(model(L_n), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("name", GENERATORS)
def test_freezing_stops_exactly_the_first_encoder_stages(name):
    model = tiny(name).train()
    stages = model.encoder_stages()
    if stages is None:
        with pytest.raises(ConfigError, match="train.freeze_encoder_layers: 1 is more than the generator's 0"):
            freeze_encoder(model, 1)
        return
    trainable = freeze_encoder(model, 2)
    frozen = {id(p) for p in stages[:2].parameters()}
    assert frozen and not frozen & {id(p) for p in trainable}
    assert len(trainable) == sum(1 for _ in model.parameters()) - len(frozen)
    with pytest.raises(ConfigError, match=f"more than the generator's {len(stages)} encoder blocks"):
        freeze_encoder(tiny(name), len(stages) + 1)


# Pretrained encoder weights. Full-width (width_mult 1.0) models: ImageNet weights exist only for that width.

def _torchvision_state() -> dict[str, torch.Tensor]:
    """What torchvision's download holds: the whole classifier, keys `features.N...` and `classifier...`."""
    return torchvision.models.mobilenet_v2().state_dict()


def _converted_state() -> dict[str, torch.Tensor]:
    """Our converted file's layout: `mobilenet_v2().features` alone, keys `N...`."""
    return torchvision.models.mobilenet_v2().features.state_dict()


def _encoder_equals(model: Generator, state: dict[str, torch.Tensor]) -> bool:
    features = {key.removeprefix("features."): value for key, value in state.items()}
    return all(torch.equal(tensor, features[key]) for key, tensor in model.encoder_stages().state_dict().items())


@pytest.fixture
def torch_cache(tmp_path, monkeypatch):
    """An empty `$TORCH_HOME/hub/checkpoints/` of this test's own."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    return cache


@pytest.mark.parametrize(("file_name", "make_state"), [
    (TORCHVISION_V1, _torchvision_state), (TORCHVISION_V2, _torchvision_state), (CONVERTED, _converted_state)])
def test_imagenet_weights_load_from_the_torch_cache_by_their_standard_names(torch_cache, file_name, make_state):
    torch.manual_seed(1)
    state = make_state()
    torch.save(state, torch_cache / file_name)
    torch.manual_seed(2)
    model = build("mobilenet_unet", kind="generator", weights="imagenet")
    assert _encoder_equals(model, state)


def test_torchvisions_own_file_is_preferred_over_ours(torch_cache):
    torch.manual_seed(1)
    torch.save(_converted_state(), torch_cache / CONVERTED)
    official = _torchvision_state()
    torch.save(official, torch_cache / TORCHVISION_V1)
    assert _encoder_equals(build("mobilenet_unet", weights="imagenet"), official)


@pytest.mark.parametrize("make_state", [_converted_state, _torchvision_state])
def test_a_weights_file_given_as_a_path_loads(torch_cache, tmp_path, make_state):
    path = tmp_path / "somewhere" / CONVERTED
    path.parent.mkdir()
    state = make_state()
    torch.save(state, path)
    assert _encoder_equals(build("mobilenet_unet", weights=str(path)), state)


def test_missing_weights_are_one_line_naming_the_file_the_fetch_command_and_the_flag(torch_cache):
    with pytest.raises(MissingWeightsError) as caught:
        build("mobilenet_unet", kind="generator", weights="imagenet")
    message = str(caught.value)
    assert "\n" not in message
    assert f"{TORCHVISION_V1} not found in {torch_cache}" in message
    assert """python -c "import torchvision; torchvision.models.mobilenet_v2(weights='IMAGENET1K_V1')\"""" in message
    assert "--set model.encoder_weights=none" in message
    with pytest.raises(MissingWeightsError, match="nowhere.pth: no such file"):
        build("mobilenet_unet", weights=str(torch_cache / "nowhere.pth"))


def test_the_standard_names_are_torchvisions_and_the_fetch_command_gets_the_first():
    """torchvision saves a download under its url's last part; the fetch command asks for IMAGENET1K_V1."""
    weights = torchvision.models.MobileNet_V2_Weights
    assert weights.verify("IMAGENET1K_V1").url.rsplit("/", 1)[1] == TORCHVISION_V1 == "mobilenet_v2-b0353104.pth"
    assert weights.IMAGENET1K_V2.url.rsplit("/", 1)[1] == TORCHVISION_V2 == "mobilenet_v2-7ebf99e0.pth"


def test_none_keeps_random_weights_and_unusable_files_are_config_errors(torch_cache, tmp_path):
    torch.manual_seed(0)
    random_init = build("mobilenet_unet").encoder_stages().state_dict()
    torch.manual_seed(0)
    assert _encoder_equals(build("mobilenet_unet", weights="none"), random_init)  # the cache is empty: no error
    narrow = tmp_path / "narrow.pth"
    torch.save(_converted_state(), narrow)
    with pytest.raises(ConfigError, match="does not fit this encoder.*width_mult 1.0"):
        build("mobilenet_unet", weights=str(narrow), **TINY_ARGS["mobilenet_unet"])
    foreign = tmp_path / "pix2pix.pth"
    torch.save(tiny("pix2pix_unet").state_dict(), foreign)
    with pytest.raises(ConfigError, match="lacks .* encoder tensors"):
        build("mobilenet_unet", weights=str(foreign))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a pickle")
    with pytest.raises(MissingWeightsError, match="garbage.pth: not a readable weights file"):
        build("mobilenet_unet", weights=str(garbage))


def test_a_generator_without_a_pretrained_encoder_refuses_weights_but_takes_none():
    with pytest.raises(ConfigError, match="no pretrained encoder.*set it to none"):
        tiny("pix2pix_unet", weights="imagenet")
    assert tiny("pix2pix_unet", weights="none").encoder_stages() is None
