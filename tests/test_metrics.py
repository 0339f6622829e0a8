"""Metrics on images and features whose answers are known: identical, shifted, gray, very different."""
import math

import cv2
import numpy as np
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance
from skimage import data as skdata

from gan_colorizer import color, feature_metrics, metrics, runtime
from gan_colorizer.errors import MissingWeightsError
from tests.conftest import small

needs_lpips = pytest.mark.skipif(not (runtime.torch_cache_dir() / feature_metrics.LPIPS_NETS["squeeze"]).is_file(),
                                 reason=f"needs {feature_metrics.LPIPS_NETS['squeeze']} in {runtime.torch_cache_dir()}")
needs_inception = pytest.mark.skipif(not (runtime.torch_cache_dir() / feature_metrics.INCEPTION_WEIGHTS).is_file(),
                                     reason=f"needs {feature_metrics.INCEPTION_WEIGHTS} in {runtime.torch_cache_dir()}")


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Four (40, 48, 3) uint8 photos."""
    return [small(photo, 48, 40) for photo in (skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket())]


@pytest.fixture(scope="module")
def lpips_model():
    """Only for tests marked needs_lpips."""
    return feature_metrics.load_lpips("squeeze")


@pytest.fixture(scope="module")
def inception():
    """Only for tests marked needs_inception."""
    return feature_metrics.load_inception()


def test_psnr_of_identical_images_is_the_cap(photos):
    assert metrics.psnr(photos[0], photos[0].copy()) == metrics.PSNR_CAP_DB


def test_psnr_of_a_uniform_shift_is_known():
    gt = np.random.default_rng(0).integers(0, 240, size=(20, 30, 3), dtype=np.uint8)
    assert metrics.psnr(gt + 10, gt) == pytest.approx(20 * math.log10(255 / 10), abs=1e-9)


@pytest.mark.parametrize("shape", [(40, 48), (5, 6), (3, 9), (2, 2), (1, 1)])
def test_ssim_is_one_for_identical_images_of_any_size(shape):
    image = np.random.default_rng(1).integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    assert metrics.ssim(image, image.copy()) == pytest.approx(1.0)
    assert metrics.ssim(255 - image, image) < 0.9


def test_colourfulness_of_gray_is_zero_and_of_a_photo_is_not(photos):
    gray = np.repeat(photos[1][..., :1], 3, axis=2)
    assert metrics.colourfulness8(gray) == 0.0
    assert metrics.colourfulness8(photos[1]) > 10.0


def _features(seed: int, n: int, dims: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, 1.0, size=(n, dims))


@pytest.mark.parametrize("n", [6, 40])  # fewer than the 16 dimensions (low-rank path), and more (pytorch-fid's)
def test_frechet_distance_matches_pytorch_fid(n):
    a, b = _features(0, n, 16), _features(1, n + 3, 16, shift=0.5)
    expected = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert feature_metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_is_zero_for_a_set_against_itself_and_grows_with_difference():
    a = _features(0, 10, 64)
    assert feature_metrics.frechet_distance(a, a.copy()) == pytest.approx(0.0, abs=1e-9)
    assert feature_metrics.frechet_distance(a, _features(1, 10, 64, shift=1.0)) > 50.0


def test_kernel_inception_distance_exact_value():
    # d = 1: k(0, 0) = 1, k(1, 1) = 8, k(0, 1) = 1, so MMD^2 = 1 + 8 - 2 * 1.
    assert feature_metrics.kernel_inception_distance(np.zeros((2, 1)), np.ones((3, 1))) == pytest.approx(7.0)


def test_kernel_inception_distance_is_near_zero_for_one_distribution():
    same = feature_metrics.kernel_inception_distance(_features(0, 200, 32), _features(1, 200, 32))
    itself = feature_metrics.kernel_inception_distance(_features(0, 200, 32), _features(0, 200, 32))
    different = feature_metrics.kernel_inception_distance(_features(0, 200, 32), _features(1, 200, 32, shift=1.0))
    assert abs(same) < 0.01 * different
    assert abs(itself) < 0.01 * different


def test_set_distances_need_two_images():
    one, many = _features(0, 1, 8), _features(1, 5, 8)
    assert math.isnan(feature_metrics.frechet_distance(one, many))
    assert math.isnan(feature_metrics.kernel_inception_distance(many, one))


@pytest.mark.parametrize("net", list(feature_metrics.LPIPS_NETS))
def test_missing_lpips_weights_name_the_file(net, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match=feature_metrics.LPIPS_NETS[net]):
        feature_metrics.load_lpips(net)


def test_missing_inception_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match=feature_metrics.INCEPTION_WEIGHTS):
        feature_metrics.load_inception()


def test_foreign_weights_file_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = runtime.torch_cache_dir()
    cache.mkdir(parents=True)
    (cache / feature_metrics.INCEPTION_WEIGHTS).write_bytes(b"not a state dict")
    with pytest.raises(MissingWeightsError, match="replace it") as caught:
        feature_metrics.load_inception()
    assert "\n" not in str(caught.value)


def test_scorer_without_networks_reports_every_key(photos):
    scorer = metrics.Scorer()
    for photo in photos:
        scorer.add(photo, {"model": photo.copy()}, name="x")
    result = scorer.result()["model"]
    assert tuple(result) == metrics.METRIC_KEYS
    assert result["n"] == 4 and result["psnr"] == metrics.PSNR_CAP_DB and result["ssim"] == pytest.approx(1.0)
    assert result["delta_cf_means"] == 0.0 and result["delta_cf_per_image"] == 0.0
    assert all(math.isnan(result[key]) for key in ("lpips", "fid_lite", "kid"))
    assert [tuple(row) for row in scorer.rows] == [metrics.ROW_KEYS] * 4


def test_scorer_refuses_a_changing_set_of_predictions(photos):
    scorer = metrics.Scorer()
    scorer.add(photos[0], {"model": photos[0]})
    with pytest.raises(ValueError, match="differ"):
        scorer.add(photos[1], {"model": photos[1], "gray": photos[1]})


@needs_lpips
def test_lpips_is_zero_for_identical_images_and_grows_with_damage(lpips_model, photos):
    noisy = np.clip(photos[0] + np.random.default_rng(0).normal(0, 25, photos[0].shape), 0, 255).astype(np.uint8)
    identical, damaged, other = feature_metrics.lpips_distances(lpips_model, [photos[0], noisy, photos[2]], [photos[0]] * 3)
    assert identical == pytest.approx(0.0, abs=1e-6)
    assert 0.0 < damaged < other


@needs_lpips
def test_lpips_of_an_image_too_small_for_the_network_is_nan(lpips_model):
    tiny = np.zeros((8, 8, 3), dtype=np.uint8)
    assert math.isnan(feature_metrics.lpips_distances(lpips_model, [tiny], [tiny])[0])


@needs_inception
def test_inception_features_take_any_size(inception, photos):
    features = feature_metrics.inception_features(inception, [photos[0], small(photos[1], 31, 57)])
    assert features.shape == (2, feature_metrics.INCEPTION_DIMS) and np.isfinite(features).all()


@needs_lpips
@needs_inception
def test_scorer_identical_sets_are_perfect_and_a_different_set_is_far(lpips_model, inception, photos):
    scorer = metrics.Scorer(lpips_model, inception, batch_size=4)
    for index, photo in enumerate(photos[:3]):  # 3 images: FID needs 2; each costs 3 Inception passes
        scorer.add(photo, {"same": photo.copy(), "other": photos[index + 1][::-1].copy()}, name=str(index))
    result = scorer.result()
    same, other = result["same"], result["other"]
    assert same["psnr"] == metrics.PSNR_CAP_DB and same["ssim"] == pytest.approx(1.0)
    assert same["lpips"] == pytest.approx(0.0, abs=1e-6) and same["delta_cf_per_image"] == 0.0
    assert same["fid_lite"] == pytest.approx(0.0, abs=1e-6)
    assert other["fid_lite"] > 10.0 and other["lpips"] > 0.3


def _ab(height: int = 40, width: int = 48, seed: int = 0) -> np.ndarray:
    """(H, W, 2) float32 a*b* of varied colours, within +-80."""
    return np.random.default_rng(seed).uniform(-80, 80, (height, width, 2)).astype(np.float32)


def test_identical_chroma_is_perfect():
    ab = _ab()
    assert metrics.ab_rmse(ab, ab.copy()) == 0.0
    assert metrics.ab_auc(ab, ab.copy()) == 1.0
    assert metrics.ab_far_share(ab, ab.copy()) == 0.0


def test_a_constant_offset_of_5_units():
    truth = np.round(_ab())  # whole numbers: the offset and its removal are exact in float32
    pred = truth + np.array([3.0, 4.0], dtype=np.float32)  # distance 5 everywhere
    assert metrics.ab_rmse(pred, truth) == pytest.approx(5.0, abs=1e-4)
    assert metrics.ab_far_share(pred, truth) == 0.0
    # within t for t = 5..150: 146 of the 151 thresholds
    assert metrics.ab_auc(pred, truth) == pytest.approx(146 / 151, abs=1e-6)


def test_auc_counts_a_pixel_from_the_first_threshold_at_or_above_its_distance():
    truth = np.zeros((1, 4, 2), dtype=np.float32)
    pred = np.array([[[0, 0], [0.5, 0], [150, 0], [400, 0]]], dtype=np.float32)
    # distance 0: all 151 thresholds; 0.5: t >= 1, 150 of them; 150: t = 150 only; 400: none
    assert metrics.ab_auc(pred, truth) == pytest.approx((151 + 150 + 1 + 0) / (4 * 151))


def test_half_the_pixels_30_off_is_half_far():
    truth = _ab()
    pred = truth.copy()
    pred[:20, :, 0] += 30.0
    assert metrics.ab_far_share(pred, truth) == pytest.approx(0.5)
    assert metrics.ab_rmse(pred, truth) == pytest.approx(30.0 / np.sqrt(2.0), rel=1e-5)


def test_a_gray_prediction_of_a_colourful_photo_is_far_and_every_error_grows(photos):
    truth = photos[0]  # the astronaut: flag, patches, skin
    gray = np.repeat(cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    same, dull = metrics.chroma_errors(truth.copy(), truth), metrics.chroma_errors(gray, truth)
    assert set(dull) == {"ab_rmse", "ab_auc", "ab_far"}
    assert same == {"ab_rmse": 0.0, "ab_auc": 1.0, "ab_far": 0.0}
    assert dull["ab_far"] > 0.05 and dull["ab_rmse"] > 5.0 and dull["ab_auc"] < 1.0


def test_chroma_errors_agree_with_the_functions_on_lab(photos):
    pred, truth = photos[1], photos[2]
    pred_ab, true_ab = (color.rgb_to_lab(x.astype(np.float32) / 255.0)[..., 1:] for x in (pred, truth))
    assert metrics.chroma_errors(pred, truth) == pytest.approx(
        {"ab_rmse": metrics.ab_rmse(pred_ab, true_ab), "ab_auc": metrics.ab_auc(pred_ab, true_ab),
         "ab_far": metrics.ab_far_share(pred_ab, true_ab)})


def test_chroma_metrics_refuse_mismatched_arrays():
    with pytest.raises(ValueError, match="H, W, 2"):
        metrics.ab_rmse(_ab(40, 48), _ab(40, 47))
    with pytest.raises(ValueError, match="truth is"):
        metrics.chroma_errors(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
