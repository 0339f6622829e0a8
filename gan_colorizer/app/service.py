"""The web app's work, free of HTTP: one upload in, one colorized photo and its previews out.

Flow per upload: size cap (bytes) -> pixel cap (from the header, before decoding allocates) ->
`images.decode_image`, so every format and every bad file behaves as in the command-line tool ->
the one shared Colorizer, one call at a time under a lock -> the full-resolution result and two
small JPEG previews (before, after) written into a temporary folder that lives as long as the
service. Results are addressed by random ids, so one browser cannot list another's photos.
"""
import inspect
import math
import secrets
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gan_colorizer import image_writer, images, mood
from gan_colorizer.errors import ConfigError
from gan_colorizer.folder import DEFAULT_MAX_PIXELS
from gan_colorizer.inference import Colorizer
from gan_colorizer.mood_names import (
    TEMPERATURE_RANGE,  # the page's slider: what mood.control takes
)

DEFAULT_MAX_UPLOAD_MB = 100.0  # a 16-bit gray 6000x4000 TIFF scan is 48 MB, its RGB version 144 MB
DOWNLOAD_FORMATS = ("png", "jpg")  # PNG keeps every detail (and alpha); JPEG is a tenth of the size
PREVIEW_SIDE = 1024  # longer side of the before/after previews: sharp on a laptop screen, ~150 KB each


class UploadTooLarge(ConfigError):
    """An upload above the size cap; the message says how to raise it."""


@dataclass(frozen=True)
class Settings:
    """One request's choices. mood: a name in mood.mood_names() or None; color: '#rrggbb' or None;
    strength in [0, 1]; temperature: kelvin or None; out_format: one of DOWNLOAD_FORMATS."""

    mood: str | None = None
    color: str | None = None
    strength: float = 1.0
    temperature: int | None = None
    out_format: str = "png"

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "Settings":
        """The page's query parameters (empty = not set) -> Settings; bad values raise ConfigError."""
        unknown = set(query) - {"name", "mood", "color", "strength", "temperature", "format"}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        out_format = query.get("format") or "png"
        if out_format not in DOWNLOAD_FORMATS:
            raise ConfigError(f"format {out_format!r}: choose one of {', '.join(DOWNLOAD_FORMATS)}")
        return cls(mood=query.get("mood") or None, color=query.get("color") or None,
                   strength=_number(query, "strength", float, 1.0),
                   temperature=_number(query, "temperature", int, None), out_format=out_format)


def _number(query: Mapping[str, str], key: str, kind: type, default: float | int | None) -> float | int | None:
    text = query.get(key) or ""
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{key} {text!r} is not a{'n integer' if kind is int else ' number'}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {text!r}")
    return value


@dataclass(frozen=True)
class Result:
    """One colorized upload. Files: `before` and `after` JPEG previews, `file` the full-size download."""

    id: str
    name: str
    download_name: str
    width: int
    height: int
    is_colour_input: bool
    folder: Path

    @property
    def before(self) -> Path:
        return self.folder / "before.jpg"

    @property
    def after(self) -> Path:
        return self.folder / "after.jpg"

    @property
    def file(self) -> Path:
        return self.folder / f"result{Path(self.download_name).suffix}"

    def summary(self) -> dict:
        """What the page shows and needs (plain JSON values)."""
        return {"id": self.id, "name": self.name, "download_name": self.download_name, "width": self.width,
                "height": self.height, "is_colour_input": self.is_colour_input}


class PhotoService:
    """One loaded Colorizer serving every browser; results kept in a temporary folder until close().

    Thread-safe: any number of request threads may call colorize(); decoding and encoding run in
    parallel, the model runs one call at a time (one copy of the weights, and torch already spreads
    one call over the cores).
    """

    def __init__(self, colorizer: Colorizer, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        if not max_upload_mb > 0:
            raise ConfigError(f"the upload limit must be above 0 MB, got {max_upload_mb}")
        self.colorizer = colorizer
        self.max_upload_mb = max_upload_mb
        self.max_pixels = max_pixels
        # Temperature is a newer call argument; older Colorizers simply do not offer it.
        self.takes_temperature = "temperature" in inspect.signature(colorizer.__call__).parameters
        self._model_lock = threading.Lock()
        self._results: dict[str, Result] = {}
        self._results_lock = threading.Lock()
        self._folder = Path(tempfile.mkdtemp(prefix="gan_colorizer_app_"))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    def info(self) -> dict:
        """What the page needs to draw its controls."""
        return {"moods": mood.mood_names(), "max_upload_mb": self.max_upload_mb, "formats": list(DOWNLOAD_FORMATS),
                "temperature": {"supported": self.takes_temperature, "range": list(TEMPERATURE_RANGE)}}

    def check_upload_size(self, name: str, size: int) -> None:
        """Refuse an upload above the cap before its bytes are read; the message says how to allow it."""
        if size > self.max_upload_bytes:
            raise UploadTooLarge(f"{name} is {size / 1e6:.1f} MB; this app takes photos up to {self.max_upload_mb:g} MB "
                                 f"(start it with --max-upload-mb {math.ceil(size / 1e6)} to allow this one)")

    def colorize(self, data: bytes, name: str, settings: Settings) -> Result:
        """Decode, colorize and store one upload. Raises ImageError / ConfigError with a one-line message."""
        self.check_upload_size(name, len(data))
        picture = images.decode_image(data, name, max_pixels=self.max_pixels)  # refused from the header
        controls = {"mood": settings.mood, "color": settings.color, "strength": settings.strength}
        if settings.temperature is not None:
            if not self.takes_temperature:
                raise ConfigError("this version of the colorizer has no light temperature setting; leave it off")
            controls["temperature"] = settings.temperature
        with self._model_lock:
            rgb8 = self.colorizer(picture.rgb, **controls)  # (H, W, 3) uint8
        result = Result(id=secrets.token_urlsafe(12), name=name, download_name=_download_name(name, settings.out_format),
                        width=rgb8.shape[1], height=rgb8.shape[0], is_colour_input=not picture.is_gray,
                        folder=self._folder / secrets.token_hex(8))
        result.folder.mkdir()
        image_writer.write_image(result.file, rgb8, picture.alpha if settings.out_format == "png" else None)
        image_writer.write_image(result.before, _preview(picture.rgb), quality=85)
        image_writer.write_image(result.after, _preview(rgb8), quality=85)
        with self._results_lock:
            self._results[result.id] = result
        return result

    def result(self, result_id: str) -> Result | None:
        with self._results_lock:
            return self._results.get(result_id)

    def write_zip(self, results: list[Result], stream: BinaryIO) -> None:
        """Write the results' full-size files as one zip, each under its download name."""
        # STORED: PNG and JPEG are compressed already, deflating them again only costs time.
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
            for result, entry in zip(results, _unique_names([r.download_name for r in results])):
                archive.write(result.file, entry)

    def close(self) -> None:
        """Delete every stored result."""
        shutil.rmtree(self._folder, ignore_errors=True)


def _download_name(name: str, out_format: str) -> str:
    """'scans/Grandma 1950.tif' -> 'Grandma 1950_colorized.png': the base name only, never a path."""
    stem = Path(name.replace("\\", "/")).stem or "photo"
    return f"{stem}_colorized.{out_format}"


def _unique_names(names: list[str]) -> list[str]:
    """Zip entry names: a name already taken (ignoring case) gets ' (2)', ' (3)'... before its suffix."""
    taken: set[str] = set()
    unique = []
    for name in names:
        entry, count = name, 1
        while entry.lower() in taken:
            count += 1
            entry = f"{Path(name).stem} ({count}){Path(name).suffix}"
        taken.add(entry.lower())
        unique.append(entry)
    return unique


def _preview(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) image -> a copy whose longer side is at most PREVIEW_SIDE (area averaging; never enlarged)."""
    return images.fit_within(rgb, PREVIEW_SIDE)
