"""Tiny fixtures: small real photos from scikit-image, awkward files, a tiny generator and checkpoint."""
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata

from gan_colorizer import checkpoint
from gan_colorizer.models import build

TINY_GENERATOR = {"name": "mobilenet_unet", "args": {"decoder_channels": (8, 8, 8, 8), "width_mult": 0.25}}
TINY_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
BINS = tuple(range(120, 360))  # a band of the colour-bin grid around gray (models.chroma_bins)


def small(rgb8: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(rgb8, (width, height), interpolation=cv2.INTER_AREA)


@pytest.fixture
def chelsea_48x40() -> np.ndarray:
    """(40, 48, 3) float32 RGB in [0, 1]: an odd-sized real photo."""
    return small(skdata.chelsea(), 48, 40).astype(np.float32) / 255.0


def write_png(path: Path, rgb8: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.ascontiguousarray(rgb8[..., ::-1]))
    return path


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """A folder of 8 small colour photos (crops of scikit-image photos), two in a sub-folder."""
    root = tmp_path / "photos"
    sources = [skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket()]
    for index in range(8):
        photo = sources[index % 4]
        height, width = photo.shape[:2]
        top, left = (index * 37) % (height // 2), (index * 53) % (width // 2)
        crop = photo[top:top + height // 2, left:left + width // 2]
        sub = "more/" if index >= 6 else ""
        write_png(root / f"{sub}photo{index}.png", small(crop, 40 + index, 36 + 2 * index))
    return root


@pytest.fixture
def photo_zip(photo_dir: Path, tmp_path: Path) -> Path:
    """The same photos as photo_dir, zipped under a top folder as a user's archive would be."""
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(photo_dir.rglob("*.png")):
            zf.write(path, "photos/" + path.relative_to(photo_dir).as_posix())
    return archive


@pytest.fixture
def tiny_generator():
    return build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"]).eval()


@pytest.fixture
def tiny_checkpoint(tmp_path: Path, tiny_generator) -> Path:
    """A generator-only export of a tiny random generator."""
    path = tmp_path / "tiny.pt"
    entry = checkpoint.network_entry(TINY_GENERATOR["name"], TINY_GENERATOR["args"], tiny_generator)
    checkpoint.save(path, {"kind": "generator", "generator": entry, "step": 0, "stage": "pretrain", "run_config": {}})
    return path


@pytest.fixture
def pointed_checkpoint(tmp_path: Path) -> Path:
    """A tiny generator export taking a colour hint and colour points, its point convs and hint layer not
    zero (so both change the output)."""
    torch.manual_seed(0)
    args = {**TINY_GENERATOR["args"], "hint": True, "points": True}
    generator = build(TINY_GENERATOR["name"], **args).eval()
    with torch.no_grad():
        for parameter in [*generator.point_convs.parameters(), *generator.film.parameters()]:
            parameter.normal_(0.0, 0.3)
    path = tmp_path / "pointed.pt"
    entry = checkpoint.network_entry(TINY_GENERATOR["name"], args, generator)
    checkpoint.save(path, {"kind": "generator", "generator": entry, "step": 0, "stage": "pretrain", "run_config": {}})
    return path


def distribution_generator(vividness: float = 0.5, **extra):
    """A tiny generator with a distribution head whose logits are not zero (so it has an opinion)."""
    torch.manual_seed(0)
    generator = build(TINY_GENERATOR["name"], **TINY_GENERATOR["args"], bins=BINS, vividness=vividness, **extra).eval()
    with torch.no_grad():
        generator.bins_head.weight.normal_(0.0, 0.5)
    return generator


@pytest.fixture
def distribution_checkpoint(tmp_path):
    generator = distribution_generator()
    args = {**TINY_GENERATOR["args"], "bins": list(BINS), "vividness": 0.5}
    path = tmp_path / "distribution.pt"
    checkpoint.save(path, {"kind": "generator", "generator": checkpoint.network_entry(TINY_GENERATOR["name"], args, generator),
                           "step": 0, "stage": "pretrain", "run_config": {}})
    return path


def encoded(rgb8: np.ndarray, suffix: str) -> bytes:
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(rgb8[..., ::-1]))
    assert ok
    return buf.tobytes()


def with_stray_bytes(jpeg: bytes) -> bytes:
    """The JPEG with 5 bytes of junk before its first quantization table (DQT marker 0xdb), as in a photo
    of our data: libjpeg decodes it but prints "Corrupt JPEG data: 5 extraneous bytes before marker 0xdb"."""
    marker = jpeg.index(b"\xff\xdb")
    return jpeg[:marker] + b"hello" + jpeg[marker:]


@pytest.fixture
def broken_files(tmp_path: Path) -> dict[str, Path]:
    """Files a user's folder may hold that are not usable images."""
    root = tmp_path / "broken"
    root.mkdir()
    jpeg = encoded(small(skdata.coffee(), 64, 48), ".jpg")
    files = {"truncated": root / "truncated.jpg", "text": root / "notes.png", "empty": root / "empty.png"}
    files["truncated"].write_bytes(jpeg[: len(jpeg) // 2])
    files["text"].write_text("this is not an image\n")
    files["empty"].write_bytes(b"")
    return files


