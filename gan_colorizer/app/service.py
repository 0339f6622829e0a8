"""The web app's work, free of HTTP: one upload in, one colorized photo and its previews out, and
the same photo coloured again with other settings or colour points without sending it again.

Flow per upload: size cap (bytes) -> pixel cap (from the header, before decoding allocates) ->
`images.decode_image`, so every format and every bad file behaves as in the command-line tool ->
its lightness L (and alpha) kept on disk as a `Photo` -> the one shared Colorizer, one call at a
time under a lock, predicts a*b* at its working size -> a small JPEG "after" preview rendered from
a preview-size L. The full-resolution file is rendered from the full L only when it is downloaded,
so a click on the page (a new colour point, another look) costs one network call and a preview, not
a full-size encode: a fraction of a second even for a 12 MP scan (docs/performance.md). Files live
in a temporary folder as long as the service; results are addressed by random ids, so one browser
cannot list another's photos.
"""
import json
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
import torch

from gan_colorizer import color, hint, hint_file, image_writer, images, mood, points
from gan_colorizer.errors import ConfigError
from gan_colorizer.folder import DEFAULT_MAX_PIXELS
from gan_colorizer.inference import Colorizer, predict_ab, shrink_L
from gan_colorizer.mood_names import (
    TEMPERATURE_RANGE,  # the page's slider: what mood.control takes
)

DEFAULT_MAX_UPLOAD_MB = 100.0  # a 16-bit gray 6000x4000 TIFF scan is 48 MB, its RGB version 144 MB
DOWNLOAD_FORMATS = ("png", "jpg")  # PNG keeps every detail (and alpha); JPEG is a tenth of the size
PREVIEW_SIDE = 1024  # longer side of the before/after previews: sharp on a laptop screen, ~150 KB each
CACHED_PHOTOS = 2  # full-size L arrays kept in memory (48 MB each at 12 MP); the rest are read from disk
KEPT_RESULTS = 4  # colourings kept per photo: the page shows the newest; each click makes one (~1 MB)
# Recommended colours for a spot: what the model paints there when asked for these overall casts
# (a*b* means of the colour hint, Lab units) beside its own colour: the hues it finds plausible there.
SUGGESTION_CASTS = ((0.0, 0.0), (18.0, 8.0), (-6.0, 24.0), (-18.0, 10.0), (-12.0, -16.0), (4.0, -20.0),
                    (16.0, -10.0), (24.0, 24.0))
SUGGESTION_MIN_DE = 6.0  # suggestions closer than this to one already listed are left out


class UploadTooLarge(ConfigError):
    """An upload above the size cap; the message says how to raise it."""


@dataclass(frozen=True)
class Settings:
    """One request's choices. mood: a name in mood.mood_names() or None; color: '#rrggbb' or None;
    strength in [0, 1]; temperature: kelvin or None; out_format: one of DOWNLOAD_FORMATS; vividness in
    [0, 1] or None (the model's default; a model with a colour-distribution head only)."""

    mood: str | None = None
    color: str | None = None
    strength: float = 1.0
    temperature: int | None = None
    out_format: str = "png"
    vividness: float | None = None

    def look(self) -> dict:
        """The arguments of `mood.control` (what a hint file's "look" holds)."""
        look = {"mood": self.mood, "color": self.color, "temperature": self.temperature}
        look = {key: value for key, value in look.items() if value is not None}
        return {**look, "strength": self.strength} if look else {}

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "Settings":
        """The page's query parameters (empty = not set) -> Settings; bad values raise ConfigError."""
        unknown = set(query) - {"name", "mood", "color", "strength", "temperature", "format", "vividness"}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        out_format = query.get("format") or "png"
        if out_format not in DOWNLOAD_FORMATS:
            raise ConfigError(f"format {out_format!r}: choose one of {', '.join(DOWNLOAD_FORMATS)}")
        return cls(mood=query.get("mood") or None, color=query.get("color") or None,
                   strength=_number(query, "strength", float, 1.0),
                   temperature=_number(query, "temperature", int, None), out_format=out_format,
                   vividness=_number(query, "vividness", float, None))


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
class Photo:
    """One upload as the model needs it, kept so it can be coloured again: its full-size L (H, W) in
    [0, 100] and alpha saved in `folder`, and the "before" preview."""

    name: str
    width: int
    height: int
    is_colour_input: bool
    has_alpha: bool
    folder: Path

    @property
    def before(self) -> Path:
        return self.folder / "before.jpg"


@dataclass(frozen=True)
class Result:
    """One colouring of a photo: its settings and points, the predicted a*b* (h, w, 2) at the network's
    working size, the `after` preview, and `file`, the full-size download, written on first request."""

    id: str
    photo: Photo
    settings: Settings
    points: tuple[points.Point, ...]
    ab: np.ndarray
    notes: tuple[str, ...]
    folder: Path

    @property
    def name(self) -> str:
        return self.photo.name

    @property
    def download_name(self) -> str:
        return _download_name(self.photo.name, self.settings.out_format)

    @property
    def before(self) -> Path:
        return self.photo.before

    @property
    def after(self) -> Path:
        return self.folder / "after.jpg"

    @property
    def file(self) -> Path:
        return self.folder / f"result{Path(self.download_name).suffix}"

    def hints(self) -> hint_file.PhotoHints:
        """What a hint file of this result holds (`hint_file.to_json`)."""
        look = self.settings.look()
        return hint_file.PhotoHints(self.points, None, look or None, self.settings.vividness)

    def summary(self) -> dict:
        """What the page shows and needs (plain JSON values)."""
        return {"id": self.id, "name": self.name, "download_name": self.download_name, "width": self.photo.width,
                "height": self.photo.height, "is_colour_input": self.photo.is_colour_input, "notes": list(self.notes),
                "hints": json.loads(hint_file.to_json(self.hints()))}


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
        self._model_lock = threading.Lock()
        self._results: dict[str, Result] = {}
        self._results_lock = threading.Lock()
        self._file_lock = threading.Lock()
        self._cache: dict[Path, np.ndarray] = {}  # photo folder -> full-size L, most recently used last
        self._cache_lock = threading.Lock()
        self._folder = Path(tempfile.mkdtemp(prefix="gan_colorizer_app_"))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    def info(self) -> dict:
        """What the page needs to draw its controls."""
        return {"moods": mood.mood_names(), "max_upload_mb": self.max_upload_mb, "formats": list(DOWNLOAD_FORMATS),
                "temperature": {"range": list(TEMPERATURE_RANGE)}, "takes_points": self.colorizer.takes_points,
                "vividness": self.colorizer.default_vividness if self.colorizer.takes_vividness else None,
                "gives_uncertainty": self.colorizer.gives_uncertainty}

    def check_upload_size(self, name: str, size: int) -> None:
        """Refuse an upload above the cap before its bytes are read; the message says how to allow it."""
        if size > self.max_upload_bytes:
            raise UploadTooLarge(f"{name} is {size / 1e6:.1f} MB; this app takes photos up to {self.max_upload_mb:g} MB "
                                 f"(start it with --max-upload-mb {math.ceil(size / 1e6)} to allow this one)")

    def colorize(self, data: bytes, name: str, settings: Settings) -> Result:
        """Decode, keep and colour one upload. Raises ImageError / ConfigError with a one-line message."""
        self.check_upload_size(name, len(data))
        picture = images.decode_image(data, name, max_pixels=self.max_pixels)  # refused from the header
        self._controls(settings)  # a bad look is refused before anything is kept
        height, width = picture.size
        photo = Photo(name=name, width=width, height=height, is_colour_input=not picture.is_gray,
                      has_alpha=picture.alpha is not None, folder=self._folder / secrets.token_hex(8))
        photo.folder.mkdir()
        L = picture.L
        np.save(photo.folder / "L.npy", L)
        if picture.alpha is not None:
            np.save(photo.folder / "alpha.npy", picture.alpha)
        image_writer.write_image(photo.before, _preview(picture.rgb), quality=85)
        self._remember(photo, L)
        return self.recolor_photo(photo, settings, ())

    def recolor(self, result_id: str, settings: Settings, wanted: list | tuple) -> Result:
        """The photo of an earlier result coloured with other settings and colour points (as users write
        them, `points.parse_point`). KeyError for an unknown id; ConfigError for bad settings or points."""
        return self.recolor_photo(self._known(result_id).photo, settings, wanted)

    def recolor_from_hints(self, result_id: str, text: bytes) -> Result:
        """An earlier result's photo coloured as a hint file says (its points and look; the download
        format kept). ConfigError naming the file's problem."""
        result = self._known(result_id)
        try:
            data = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"the hint file is not readable as JSON ({err})") from None
        hints = hint_file.parse(data, "the hint file")
        look = {key: value for key, value in (hints.look_args or {}).items() if key != "learned"}
        settings = Settings(out_format=result.settings.out_format, vividness=hints.vividness, **look)
        return self.recolor_photo(result.photo, settings, hints.points)

    def recolor_photo(self, photo: Photo, settings: Settings, wanted: list | tuple) -> Result:
        """One network call on the photo's L with these settings and points, and the `after` preview."""
        request = mood.control(**self._controls(settings))
        vividness = self.colorizer.checked_vividness(settings.vividness)
        chosen = self.colorizer.checked_points(list(wanted)) or ()
        L = self._L(photo)
        points.check_inside(chosen, *L.shape)
        with self._model_lock:
            prediction = self.colorizer.predict([L], request, [chosen] if chosen else None, vividness)[0]
        small_L = self._preview_L(photo, L)
        after = self.colorizer.render(small_L, prediction.ab)
        scale = small_L.shape[1] / L.shape[1]
        seen = tuple(points.Point(p.x * scale, p.y * scale, p.ab, p.radius_in(*L.shape) * scale, p.label) for p in chosen)
        notes = [note for note in (prediction.control.note() if prediction.control else None,
                                   self.colorizer.points_report(after, seen).note() if seen else None) if note]
        result = Result(id=secrets.token_urlsafe(12), photo=photo, settings=settings, points=chosen,
                        ab=prediction.ab, notes=tuple(notes), folder=photo.folder / secrets.token_hex(6))
        result.folder.mkdir()
        image_writer.write_image(result.after, after, quality=85)
        with self._results_lock:
            self._results[result.id] = result
            older = [old for old in self._results.values() if old.photo is photo][:-KEPT_RESULTS]
            for old in older:  # a long session of clicks must not grow without bound
                del self._results[old.id]
        for old in older:
            shutil.rmtree(old.folder, ignore_errors=True)
        return result

    def suggest(self, result_id: str, x: float, y: float) -> list[str]:
        """Recommended colours (hex) for the spot (x, y) of a result's photo, in its pixels: the model's
        own colour there first, then what it paints there when asked for other overall casts
        (SUGGESTION_CASTS through the colour hint), near-duplicates left out. Each is shown at the
        spot's own lightness, the only lightness a point there can have. A model without the colour
        hint offers its own colour alone."""
        result = self._known(result_id)
        L = self._L(result.photo)
        points.check_inside((points.Point(x, y, (0.0, 0.0)),), *L.shape)
        small = shrink_L(L, self.colorizer.render_size)
        casts = SUGGESTION_CASTS if self.colorizer.takes_hint else SUGGESTION_CASTS[:1]
        hints = torch.cat([hint.target_hint(mood.ColorTarget(mean_ab=cast, spread=None), 1) for cast in casts])
        if not self.colorizer.takes_hint:
            hints = None
        with self._model_lock:
            abs_ = predict_ab(self.colorizer.generator, np.repeat(small[None], len(casts), axis=0), hints)
        row = min(round((y + 0.5) * small.shape[0] / L.shape[0] - 0.5), small.shape[0] - 1)
        col = min(round((x + 0.5) * small.shape[1] / L.shape[1] - 0.5), small.shape[1] - 1)
        found = [result.ab[row, col], *abs_[1:, row, col]] if self.colorizer.takes_hint else [result.ab[row, col]]
        chosen: list[np.ndarray] = []
        for ab in found:
            if all(np.hypot(*(ab - other)) >= SUGGESTION_MIN_DE for other in chosen):
                chosen.append(ab)
        lightness = float(small[row, col])
        return [_hex(lightness, ab) for ab in chosen]

    def uncertainty_file(self, result: Result) -> Path:
        """The photo's uncertainty map at preview size (`Colorizer.uncertainty`, a gray PNG: white where the
        model is unsure, where a point helps most), made on first request. ConfigError for a model
        without a distribution head."""
        path = result.photo.folder / "uncertainty.png"
        with self._file_lock:
            if not path.exists():
                small_L = self._preview_L(result.photo, self._L(result.photo))
                with self._model_lock:
                    unsure = self.colorizer.uncertainty(small_L)
                image_writer.write_gray_png(path, unsure)
        return path

    def full_file(self, result: Result) -> Path:
        """The full-size download of `result`, rendered from the full L on first request."""
        with self._file_lock:
            if not result.file.exists():
                rgb8 = self.colorizer.render(self._L(result.photo), result.ab)
                alpha = np.load(result.photo.folder / "alpha.npy") if result.photo.has_alpha else None
                image_writer.write_image(result.file, rgb8, alpha if result.settings.out_format == "png" else None)
        return result.file

    def _controls(self, settings: Settings) -> dict:
        """The settings as `mood.control` arguments, checked (a bad mood or colour is a ConfigError)."""
        controls = {"mood": settings.mood, "color": settings.color, "strength": settings.strength,
                    "temperature": settings.temperature}
        mood.control(**controls)
        return controls

    def _preview_L(self, photo: Photo, L: np.ndarray) -> np.ndarray:
        """The photo's L at preview size, made once (a full-size resize costs tens of ms at 12 MP)."""
        path = photo.folder / "L_preview.npy"
        if path.exists():
            return np.load(path)
        small = _preview(L)
        np.save(path, small)
        return small

    def _known(self, result_id: str) -> Result:
        result = self.result(result_id)
        if result is None:
            raise KeyError(result_id)
        return result

    def _remember(self, photo: Photo, L: np.ndarray) -> None:
        with self._cache_lock:
            self._cache[photo.folder] = L
            while len(self._cache) > CACHED_PHOTOS:
                self._cache.pop(next(iter(self._cache)))

    def _L(self, photo: Photo) -> np.ndarray:
        """A photo's full-size L: from memory for the last CACHED_PHOTOS used, else from its folder."""
        with self._cache_lock:
            L = self._cache.pop(photo.folder, None)
        if L is None:
            L = np.load(photo.folder / "L.npy")
        self._remember(photo, L)
        return L

    def result(self, result_id: str) -> Result | None:
        with self._results_lock:
            return self._results.get(result_id)

    def write_zip(self, results: list[Result], stream: BinaryIO) -> None:
        """Write the results' full-size files as one zip, each under its download name."""
        # STORED: PNG and JPEG are compressed already, deflating them again only costs time.
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
            for result, entry in zip(results, _unique_names([r.download_name for r in results])):
                archive.write(self.full_file(result), entry)

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


def _preview(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) image -> a copy whose longer side is at most PREVIEW_SIDE (area averaging;
    never enlarged)."""
    return images.fit_within(image, PREVIEW_SIDE)


def _hex(L: float, ab: np.ndarray) -> str:
    """The sRGB hex of Lab (L, a*, b*), chroma lowered into the gamut as the written image's is."""
    rgb = color.lab_to_rgb_in_gamut(np.array([[[L, ab[0], ab[1]]]], dtype=np.float32))
    return "#" + "".join(f"{value:02x}" for value in image_writer.to_uint8(rgb)[0, 0])
