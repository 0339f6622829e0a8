import pytest

from gan_colorizer.config import load_config, parse_override, save_config
from gan_colorizer.errors import ConfigError
from tests.conftest import TINY_CONFIG


def test_yaml_and_overrides_resolve(tmp_path):
    cfg = load_config(TINY_CONFIG, {"train.steps": 7, "train.lr": "3e-4", "data.seed": 5})
    assert cfg.train.steps == 7 and cfg.train.lr == pytest.approx(3e-4) and cfg.data.seed == 5
    assert cfg.model.args["width_mult"] == 0.25
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize("overrides, message", [
    ({"train.stpes": 3}, "train.stpes: unknown key; did you mean 'steps'?"),
    ({"train.steps": "ten"}, "train.steps: expected int"),
    ({"train.steps": 0}, "train.steps: must be at least 1"),
    ({"data.val_fraction": 1.5}, "data.val_fraction"),
    ({"train.schedule": "linear"}, "train.schedule"),
    ({"nope.x": 1}, "nope: unknown key"),
])
def test_bad_values_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as info:
        load_config(TINY_CONFIG, overrides)
    assert message in str(info.value)


def test_parse_override_reads_yaml_values():
    assert parse_override("train.lr=2.0e-4") == ("train.lr", 2.0e-4)
    assert parse_override("model.args.attention=false") == ("model.args.attention", False)
    with pytest.raises(ConfigError):
        parse_override("train.lr")
