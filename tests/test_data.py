import socket
import tarfile
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata
from torch.utils.data import DataLoader

from gan_colorizer import data
from gan_colorizer.config import DataConfig, DegradeConfig
from gan_colorizer.errors import ConfigError, DataError
from tests.conftest import encoded, with_stray_bytes, write_png


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
    with pytest.raises(DataError, match="not a folder or a .zip/.tar"):
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


def test_degradation_ages_the_input_only_and_leaves_the_crop_where_it_was(photo_zip):
    clean_cfg = DataConfig(size=32, val_fraction=0.25)
    aged_cfg = DataConfig(size=32, val_fraction=0.25, degrade=DegradeConfig(p=1.0))
    source = data.PhotoSource(photo_zip)
    split = data.scan(source, clean_cfg)
    clean, aged = (data.TrainCrops(source, split, cfg, seed=1) for cfg in (clean_cfg, aged_cfg))
    for sample in range(4):
        (clean_L, clean_ab), (aged_L, aged_ab) = clean[sample], aged[sample]
        assert torch.equal(clean_ab, aged_ab)  # the target stays the clean photo's chroma
        assert not torch.equal(clean_L, aged_L) and aged_L.abs().max() <= 1.0
        assert torch.equal(aged[sample][0], aged_L)  # seeded: a resumed run sees the same damage


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


# -- one source stays exactly as before; the photo check is cached -------------------------------------------

# From the code before the cache and multi-source (commit 3c40d82): photo_dir split at val_fraction 0.25, seed 3,
# and the photos that samples 0..13 of TrainCrops(seed=1) crop. Runs' split.json and resumes rely on both.
PINNED_VAL = ["more/photo6.png", "photo3.png"]
PINNED_STREAM = ["photo4.png", "more/photo7.png", "photo1.png", "photo0.png", "photo5.png", "photo2.png",
                 "photo0.png", "photo4.png", "more/photo7.png", "photo2.png", "photo1.png", "photo5.png",
                 "photo4.png", "photo5.png"]


def count_decodes(monkeypatch) -> list[str]:
    """Record the key of every photo decoded in this process from now on."""
    decoded, decode = [], data.PhotoSource.decode

    def counting(self, key, reduce=1):
        decoded.append(key)
        return decode(self, key, reduce)
    monkeypatch.setattr(data.PhotoSource, "decode", counting)
    return decoded


def test_one_source_keeps_its_split_and_sample_stream(photo_dir, tmp_path):
    cfg = DataConfig(val_fraction=0.25, seed=3)
    (tmp_path / "list.txt").write_text("# the only source\n\nphotos\n")
    for source in (data.PhotoSource(photo_dir), data.open_sources([photo_dir]), data.open_sources([tmp_path / "list.txt"])):
        assert isinstance(source, data.PhotoSource) and source.keys == data.PhotoSource(photo_dir).keys
        split = data.scan(source, cfg)
        assert split.val == PINNED_VAL and len(split.short_sides) == len(split.train) == 6
        crops = data.TrainCrops(source, split, cfg, seed=1)
        assert [crops.key_of(sample) for sample in range(14)] == PINNED_STREAM


def test_a_second_scan_decodes_nothing_and_a_touched_file_alone_is_checked_again(photo_dir, monkeypatch):
    first = data.scan(data.PhotoSource(photo_dir), DataConfig())
    decoded = count_decodes(monkeypatch)
    again = data.scan(data.PhotoSource(photo_dir), DataConfig())
    assert decoded == [] and (again.train, again.val) == (first.train, first.val)
    assert (again.short_sides == first.short_sides).all()
    write_png(photo_dir / "photo2.png", np.full((30, 30, 3), 120, np.uint8))  # now gray
    write_png(photo_dir / "new.png", np.random.default_rng(0).integers(0, 255, (30, 40, 3), np.uint8))
    (photo_dir / "photo5.png").unlink()
    table = data.check_photos(data.PhotoSource(photo_dir))
    assert sorted(decoded) == ["new.png", "photo2.png"] and table.decoded == 2
    changed = data.scan(data.PhotoSource(photo_dir), DataConfig())
    assert changed.gray == ["photo2.png"] and "photo5.png" not in changed.train + changed.val
    assert sorted(decoded) == ["new.png", "photo2.png"]


def test_unreadable_files_are_reported_again_from_the_cache(photo_dir, broken_files, caplog):
    (photo_dir / "truncated.jpg").write_bytes(broken_files["truncated"].read_bytes())
    data.scan(data.PhotoSource(photo_dir), DataConfig())
    first = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
    caplog.clear()
    split = data.scan(data.PhotoSource(photo_dir), DataConfig())
    assert split.unreadable == ["truncated.jpg"] and first[0].startswith("skipped truncated.jpg: ")
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")] == first


def test_a_damaged_photo_is_reported_once_per_check_and_never_by_the_decoder(photo_dir, capfd, caplog):
    """A JPEG libjpeg complains about at every read trains as decoded; the check names it once per run."""
    (photo_dir / "junk.jpg").write_bytes(with_stray_bytes(encoded(skdata.coffee()[:64, :80], ".jpg")))
    for run in ("checks", "reads the cache"):
        caplog.clear()
        split = data.scan(data.PhotoSource(photo_dir), DataConfig(val_fraction=0.0))
        assert "junk.jpg" in split.train, run
        assert [r.getMessage() for r in caplog.records if "junk.jpg" in r.getMessage()] == [
            "junk.jpg: damaged JPEG: decoded without 5 extraneous bytes before marker 0xdb"], run
    data.PhotoSource(photo_dir).decode("junk.jpg")  # as training reads it
    assert capfd.readouterr().err == ""


def test_a_damaged_cache_is_ignored_and_rebuilt(photo_zip, monkeypatch, caplog):
    first = data.scan(data.PhotoSource(photo_zip), DataConfig())
    cache = data.split.cache_locations(photo_zip)[0]
    assert cache.is_file()
    cache.write_bytes(b"PK\x03\x04 not really a zip")
    decoded = count_decodes(monkeypatch)
    rebuilt = data.scan(data.PhotoSource(photo_zip), DataConfig())
    assert (rebuilt.train, rebuilt.val) == (first.train, first.val) and len(decoded) == 8
    assert any("damaged or outdated" in r.getMessage() for r in caplog.records)
    assert data.check_photos(data.PhotoSource(photo_zip)).decoded == 0


def test_read_only_data_caches_in_the_user_cache_folder(photo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    shared = tmp_path / "shared"
    shared.mkdir()
    photos = photo_dir.rename(shared / "photos")
    shared.chmod(0o555)  # r-x: left alone even by root, who could write there anyway
    try:
        data.scan(data.PhotoSource(photos), DataConfig())
        assert data.check_photos(data.PhotoSource(photos)).decoded == 0
        assert sorted(p.name for p in shared.iterdir()) == ["photos"]
    finally:
        shared.chmod(0o755)
    assert data.split.cache_locations(photos)[1].parent == tmp_path / "xdg" / "gan_colorizer"
    assert data.split.cache_locations(photos)[1].is_file()


def test_an_outdated_cache_beside_read_only_data_is_passed_over_quietly_when_the_user_cache_serves(
        photo_dir, tmp_path, monkeypatch, caplog):
    """Data shipped with an older version's cache beside it, in a folder no one may write: every run
    reads the user cache folder's copy, and says nothing about the old file it cannot replace."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    shared = tmp_path / "shared"
    shared.mkdir()
    photos = photo_dir.rename(shared / "photos")
    beside, in_user_cache = data.split.cache_locations(photos)
    data.scan(data.PhotoSource(photos), DataConfig())  # writes beside the data
    in_user_cache.parent.mkdir(parents=True)
    beside.rename(in_user_cache)
    beside.write_bytes(b"PK\x03\x04 an older version's cache")  # newer than the good one: read first
    shared.chmod(0o555)
    try:
        caplog.clear()
        assert data.check_photos(data.PhotoSource(photos)).decoded == 0
        assert not [r for r in caplog.records if "photo check cache" in r.getMessage()]
    finally:
        shared.chmod(0o755)


def test_many_photos_are_checked_by_a_process_pool_like_in_process(tmp_path):
    rng = np.random.default_rng(0)
    for index in range(70):  # above the in-process limit
        write_png(tmp_path / "many" / f"{index:02d}.png", rng.integers(0, 255, (12, 16 + index % 5, 3), np.uint8))
    source = data.PhotoSource(tmp_path / "many")
    pooled = data.check_photos(source, workers=2)
    assert pooled.decoded == 70
    for key, short, colourfulness in zip(source.keys[::9], pooled.short_sides[::9], pooled.colourfulness[::9]):
        assert data.check_photo(source, key) == (short, pytest.approx(colourfulness), "")


# -- sample stream ----------------------------------------------------------------------------------------------

def test_each_epoch_order_is_computed_once_and_visits_every_photo(photo_dir, monkeypatch):
    cfg = DataConfig(val_fraction=0.25, seed=3)
    source = data.PhotoSource(photo_dir)
    crops = data.TrainCrops(source, data.scan(source, cfg), cfg, seed=1)
    calls, order = [], data.crops.epoch_order
    monkeypatch.setattr(data.crops, "epoch_order", lambda *args: calls.append(args[1]) or order(*args))
    keys = [crops.key_of(sample) for sample in range(3 * len(crops))]
    assert calls == [0, 1, 2]
    assert all(sorted(keys[e * 6:(e + 1) * 6]) == sorted(data.scan(source, cfg).train) for e in range(3))


def test_samples_are_the_same_whatever_the_number_of_workers(photo_zip):
    cfg = DataConfig(size=32, val_fraction=0.25)
    source = data.PhotoSource(photo_zip)
    crops = data.TrainCrops(source, data.scan(source, cfg), cfg, seed=2)
    sampler = data.StepSampler(1, 4, 3)  # a resumed run: steps 1..3, 3 samples each, 1.5 epochs
    batches = {workers: list(DataLoader(crops, batch_size=3, sampler=sampler, num_workers=workers))
               for workers in (0, 2)}
    for (L0, ab0), (L2, ab2) in zip(batches[0], batches[2], strict=True):
        assert torch.equal(L0, L2) and torch.equal(ab0, ab2)


# -- several sources --------------------------------------------------------------------------------------------

@pytest.fixture
def copies(photo_dir: Path, tmp_path: Path) -> Path:
    """`originals/`: the photo_dir photos again, at other sizes and as JPEG, plus two of their own."""
    root = tmp_path / "originals"
    for path in sorted(photo_dir.rglob("*.png")):
        rgb8 = cv2.imread(str(path))[..., ::-1]
        write_jpeg(root / f"{path.stem}.jpg", cv2.resize(rgb8, None, fx=2, fy=2))
    for index, photo in enumerate((skdata.astronaut(), skdata.coffee())):
        write_jpeg(root / f"own{index}.jpg", photo[::8, ::8])
    return root


def write_jpeg(path: Path, rgb8: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded(rgb8, ".jpg"))


def test_several_sources_get_labelled_keys_and_each_its_own_split(photo_zip, tmp_path):
    other = tmp_path / "elsewhere" / "photos"
    for index, photo in enumerate((skdata.rocket(), skdata.chelsea(), skdata.coffee())):
        write_png(other / f"x{index}.png", photo[::8, ::8])
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "all.txt").write_text("../photos.zip\n# a comment\n../elsewhere/photos\n")
    source = data.open_sources([tmp_path / "lists" / "all.txt"])
    assert isinstance(source, data.MultiSource) and list(source.sources) == ["photos", "photos-2"]
    assert source.keys[0] == "photos/more/photo6.png" and source.keys[-1] == "photos-2/x2.png"
    cfg = DataConfig(val_fraction=0.34, seed=5)
    split = data.scan(source, cfg)
    alone = data.scan(data.PhotoSource(photo_zip), cfg)
    assert [k for k in split.val if k.startswith("photos/")] == ["photos/" + k for k in alone.val]
    assert [k for k in split.val if k.startswith("photos-2/")] == ["photos-2/" + k for k in
                                                                   data.scan(data.PhotoSource(other), cfg).val]
    key = split.train[0]
    crops = data.TrainCrops(source, split, DataConfig(size=32), seed=0)
    assert crops[0][0].shape == (1, 32, 32) and source.decode(key).rgb.ndim == 3


def test_copies_of_a_photo_in_another_source_never_cross_train_and_val(photo_dir, copies):
    cfg = DataConfig(val_fraction=0.25, seed=3)
    split = data.scan(data.open_sources([photo_dir, copies]), cfg)
    stems = {split_name: {PurePosixPath(k).stem for k in getattr(split, split_name)} for split_name in ("train", "val")}
    assert not stems["train"] & stems["val"]
    assert split.val == ["photos/" + key for key in PINNED_VAL] + [k for k in split.val if k.startswith("originals/")]
    assert len(split.val) == len(stems["val"])  # each val photo once
    assert split.duplicates == ["originals/photo3.jpg", "originals/photo6.jpg"]
    assert {"originals/photo0.jpg", "originals/photo7.jpg"} <= set(split.train)  # copies of train photos train


def test_bad_source_lists_are_data_errors(photo_dir, tmp_path):
    with pytest.raises(DataError, match="cannot read the list"):
        data.open_sources([tmp_path / "missing.txt"])
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(DataError, match="lists no data sources"):
        data.open_sources([tmp_path / "empty.txt"])
    (tmp_path / "nested.txt").write_text("empty.txt\n")
    with pytest.raises(DataError, match="lists another list"):
        data.open_sources([tmp_path / "nested.txt"])
    with pytest.raises(DataError, match="listed twice"):
        data.open_sources([photo_dir, tmp_path / "photos"])
    with pytest.raises(DataError, match="no such folder"):
        data.open_sources([photo_dir, tmp_path / "nope"])


def test_source_weights_set_each_source_share_of_the_samples(photo_dir, copies):
    source = data.open_sources([photo_dir, copies])
    split = data.scan(source, DataConfig(val_fraction=0.0))
    shares = {}
    for weights in ({}, {"originals": 3}, {"originals/own*": 0.0, "originals": 3}):
        crops = data.TrainCrops(source, split, DataConfig(source_weights=weights), seed=4)
        keys = [crops.key_of(sample) for sample in range(20 * len(crops))]
        shares[len(shares)] = {k: sum(key.startswith(k) for key in keys) / len(keys)
                               for k in ("originals/", "originals/own")}
    assert shares[0]["originals/"] == pytest.approx(10 / 18)  # equal per photo: 10 of 18 photos
    assert shares[1]["originals/"] == pytest.approx(30 / 38, abs=0.01)  # 10 photos x3 against 8
    assert shares[2]["originals/"] == pytest.approx(24 / 32, abs=0.01) and shares[2]["originals/own"] == 0
    crops = data.TrainCrops(source, split, DataConfig(source_weights={"photos": 2, "originals": 2}), seed=4)
    plain = data.TrainCrops(source, split, DataConfig(), seed=4)
    assert [crops.key_of(s) for s in range(40)] == [plain.key_of(s) for s in range(40)]  # equal weights: same stream


def test_bad_source_weights_are_config_errors(photo_dir, copies):
    source = data.open_sources([photo_dir, copies])
    split = data.scan(source, DataConfig())
    with pytest.raises(ConfigError, match="'extra' matches no training photo"):
        data.TrainCrops(source, split, DataConfig(source_weights={"extra": 0.5}), seed=0)
    with pytest.raises(ConfigError, match="every training photo has weight 0"):
        data.TrainCrops(source, split, DataConfig(source_weights={"*": 0}), seed=0)
    with pytest.raises(ConfigError, match="data.source_weights.photos: must be a number >= 0"):
        DataConfig(source_weights={"photos": -1})


def _scan_on_rank(rank: int, port: int, photo_dir: Path, counts: Path) -> None:
    """One gloo rank of test_rank_0_checks_while_the_other_ranks_wait: scan and write its decode count."""
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        decoded, decode = [], data.PhotoSource.decode
        data.PhotoSource.decode = lambda self, key, reduce=1: decoded.append(key) or decode(self, key, reduce)
        split = data.scan(data.PhotoSource(photo_dir), DataConfig(val_fraction=0.25, seed=3))
        (counts / f"rank{rank}.txt").write_text(f"{len(decoded)} {' '.join(split.val)}")
    finally:
        torch.distributed.destroy_process_group()


def test_rank_0_checks_while_the_other_ranks_wait(photo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    torch.multiprocessing.start_processes(_scan_on_rank, args=(port, photo_dir, tmp_path), nprocs=2, start_method="fork")
    counts = [(tmp_path / f"rank{rank}.txt").read_text() for rank in (0, 1)]
    assert counts == [f"8 {' '.join(PINNED_VAL)}", f"0 {' '.join(PINNED_VAL)}"]


def test_a_tar_shard_lists_and_splits_like_its_folder(photo_dir, tmp_path, monkeypatch):
    shard = tmp_path / "shard-000000.tar"
    with tarfile.open(shard, "w") as archive:
        for path in sorted(photo_dir.rglob("*.png")):
            archive.add(path, "photos/" + path.relative_to(photo_dir).as_posix())
        notes = tmp_path / "photo0.json"
        notes.write_text("{}")
        archive.add(notes, "photos/photo0.json")  # WebDataset keeps labels beside each image
    cfg = DataConfig(val_fraction=0.25, seed=3)
    source = data.PhotoSource(shard)
    assert source.keys == data.PhotoSource(photo_dir).keys and data.scan(source, cfg).val == PINNED_VAL
    for key in source.keys:
        assert source.read_bytes(key) == (photo_dir / key).read_bytes()
    decoded = count_decodes(monkeypatch)
    assert data.scan(data.PhotoSource(shard), cfg).val == PINNED_VAL and decoded == []
    packed = tmp_path / "shard.tar.gz"
    with tarfile.open(packed, "w:gz") as archive:
        archive.add(photo_dir / "photo0.png", "photo0.png")
    with pytest.raises(DataError, match="compressed tar"):
        data.PhotoSource(packed)
