import numpy as np
import pytest

from gan_colorizer import data
from gan_colorizer.config import DataConfig
from gan_colorizer.errors import DataError


def test_split_is_reproducible_disjoint_and_equal_for_folder_and_zip(photo_dir, photo_zip):
    cfg = DataConfig(val_fraction=0.25, seed=3)
    from_dir = data.scan(data.PhotoSource(photo_dir), cfg)
    from_zip = data.scan(data.PhotoSource(photo_zip), cfg)
    assert (from_dir.train, from_dir.val) == (from_zip.train, from_zip.val)
    assert not set(from_dir.train) & set(from_dir.val)
    assert len(from_dir.val) == 2 and len(from_dir.train) == 6
    assert "more/photo6.png" in from_dir.train + from_dir.val  # recursive, keyed by relative path
    again = data.scan(data.PhotoSource(photo_dir), cfg)
    assert again.val == from_dir.val
    keys = data.PhotoSource(photo_dir).keys
    assert len({tuple(data.split_keys(keys, 0.5, seed)[1]) for seed in range(6)}) > 1  # the seed matters


def test_gray_and_unreadable_photos_are_left_out_and_counted(photo_dir, broken_files, caplog):
    gray = np.full((30, 30, 3), 120, np.uint8)
    from tests.conftest import write_png
    write_png(photo_dir / "gray.png", gray)
    for path in broken_files.values():
        (photo_dir / path.name).write_bytes(path.read_bytes())
    split = data.scan(data.PhotoSource(photo_dir), DataConfig())
    assert split.gray == ["gray.png"]
    assert sorted(split.unreadable) == ["empty.png", "notes.png", "truncated.jpg"]
    assert "gray.png" not in split.train + split.val
    assert sum(r.getMessage().startswith("skipped") for r in caplog.records) == 3


def test_empty_or_missing_data_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        data.PhotoSource(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        data.PhotoSource(tmp_path / "empty")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="not a folder or a .zip"):
        data.PhotoSource(tmp_path / "x.txt")


def test_training_crops_have_the_right_shape_range_and_are_deterministic(photo_zip):
    cfg = DataConfig(size=32, val_fraction=0.25)
    source = data.PhotoSource(photo_zip)
    crops = data.TrainCrops(source, data.scan(source, cfg), cfg, seed=1)
    L_n, ab_n = crops[5]
    assert L_n.shape == (1, 32, 32) and ab_n.shape == (2, 32, 32)
    assert -1.0 <= L_n.min() and L_n.max() <= 1.0 and ab_n.abs().max() <= 1.0
    again_L, again_ab = crops[5]
    assert (again_L == L_n).all() and (again_ab == ab_n).all()
    assert not (crops[6][0] == L_n).all()


def test_small_photos_are_resized_up_and_large_ones_cropped():
    rng = np.random.default_rng(0)
    tiny = np.random.default_rng(1).random((10, 14, 3), dtype=np.float32)
    assert data.random_square(tiny, 32, data.crop_fraction(10, 32, 0.7, rng), rng).shape == (32, 32, 3)
    big = np.random.default_rng(2).random((300, 500, 3), dtype=np.float32)
    fractions = [data.crop_fraction(300, 32, 0.7, rng) for _ in range(200)]
    assert min(fractions) < 0.2 and max(fractions) > 0.8  # native-detail patches up to the whole view
    assert all(data.random_square(big, 32, f, rng).shape == (32, 32, 3) for f in fractions[:5])


def test_step_sampler_resumes_the_same_stream_and_shards_by_rank():
    full = list(data.StepSampler(0, 5, 4))
    assert full == list(range(20))
    assert list(data.StepSampler(3, 5, 4)) == full[12:]
    ranks = [list(data.StepSampler(0, 5, 2, rank=r, num_replicas=2)) for r in (0, 1)]
    assert sorted(ranks[0] + ranks[1]) == full
