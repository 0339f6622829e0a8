import pickle

import pytest
import torch

from gan_colorizer import checkpoint
from gan_colorizer.errors import CheckpointError


def test_round_trip_gives_identical_outputs(tiny_checkpoint, tiny_generator):
    loaded, ckpt = checkpoint.load_generator(tiny_checkpoint)
    L_n = torch.rand(2, 1, 33, 47) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(L_n), tiny_generator(L_n))
    assert ckpt["generator"]["name"] == "mobilenet_unet" and ckpt["format"] == checkpoint.FORMAT


def test_truncated_missing_and_foreign_files_give_one_line_errors(tiny_checkpoint, tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    foreign = tmp_path / "foreign.pt"
    torch.save([1, 2, 3], foreign)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    for path, reason in [(truncated, "not a readable checkpoint"), (tmp_path / "none.pt", "no such checkpoint"),
                         (foreign, "not a gan_colorizer checkpoint"), (text, "not a readable checkpoint")]:
        with pytest.raises(CheckpointError, match=reason) as info:
            checkpoint.read(path)
        assert "\n" not in str(info.value)


class Payload:
    def __reduce__(self):
        return (exec, ("raise SystemExit('pickled code ran')",))


def test_pickled_code_is_refused_never_run(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": 1, "generator": Payload()}, f)
    with pytest.raises(CheckpointError, match="not plain data"):
        checkpoint.read(path)


def test_architecture_mismatch_is_a_checkpoint_error(tiny_checkpoint, tmp_path):
    ckpt = checkpoint.read(tiny_checkpoint)
    ckpt["generator"]["args"] = {"decoder_channels": (16, 8, 8, 8), "width_mult": 0.25}
    bad = tmp_path / "bad.pt"
    checkpoint.save(bad, {k: v for k, v in ckpt.items() if k != "format"})
    with pytest.raises(CheckpointError, match="does not match"):
        checkpoint.load_generator(bad)


def test_failed_write_keeps_the_previous_file(tiny_checkpoint, monkeypatch):
    before = tiny_checkpoint.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="No space left on device.*previous file is unchanged"):
        checkpoint.save(tiny_checkpoint, {"generator": {}})
    assert tiny_checkpoint.read_bytes() == before
    assert not tiny_checkpoint.with_name(tiny_checkpoint.name + ".tmp").exists()
