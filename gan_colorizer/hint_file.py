"""Hint files: one photo's colour points and look, saved by the web app and replayed by a folder run.

`photo.hints.json` beside `photo.jpg` (or `colorize --hints FILE` for one photo) holds what an
archivist set on the page, so the full-resolution batch run gives the pixels the page showed:

    {"gan_colorizer_hints": 1,
     "points": [{"x": 120, "y": 80, "color": "#c03020", "radius": 6}, {"x": 40, "y": 200, "color": [12, -30]}],
     "look": {"mood": "warm", "strength": 0.7}, "vividness": 0.6}

"gan_colorizer_hints" is the format's version. Points are in the photo's own pixels (x right, y
down, from the top-left pixel's centre), as `points.parse_point` reads them; "look" holds the
arguments of `mood.control` (mood, color, temperature, reference: a photo's path, relative to the hint
file's folder; strength, learned), and replaces the run's
own look for this photo; "vividness" (in [0, 1], for a model with a colour-distribution head) replaces
the run's. Every key but the version may be left out.

A video's hint file (`colorize --in film.mp4 --hints film.hints.json`) lists entries by frame number
(from 0), each with a photo's keys; an entry's look holds for the whole shot of its frame, its points
from that frame to the end of the shot, moving with the content (`video.ShotHints`):

    {"gan_colorizer_hints": 1, "shots": [{"frame": 0, "look": {"mood": "warm"}},
                                         {"frame": 240, "points": [{"x": 300, "y": 120, "color": "#2050c0"}]}]}
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_colorizer import mood, points
from gan_colorizer.errors import ConfigError

VERSION = 1
SUFFIX = ".hints.json"
LOOK_KEYS = ("mood", "color", "temperature", "reference", "strength", "learned")


@dataclass(frozen=True)
class PhotoHints:
    """What a hint file asks for one photo: its points, and its look (None: the run's own)."""

    points: tuple[points.Point, ...]
    look: mood.Control | None
    look_args: dict[str, Any] | None = None  # the look as written, to save it again
    vividness: float | None = None  # None: the run's


def beside(photo: Path) -> Path:
    """Where a photo's hint file lives: `scans/photo.jpg` -> `scans/photo.hints.json`."""
    return photo.with_name(photo.stem + SUFFIX)


def parse(data: Any, where: str, folder: Path | None = None) -> PhotoHints:
    """A hint file's decoded JSON -> PhotoHints; ConfigError naming `where` and the fix for anything else.
    folder: where a relative "reference" path starts (the hint file's folder); None (an upload to the web
    app): no reference is taken, so a file sent to the app cannot make it read a path on the machine."""
    fix = "see 'Hint files' in the README"
    if not isinstance(data, dict) or data.get("gan_colorizer_hints") != VERSION:
        raise ConfigError(f"{where}: not a gan_colorizer hint file (version {VERSION}): {fix}")
    unknown = set(data) - {"gan_colorizer_hints", "points", "look", "vividness"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}; expected points, look and vividness: {fix}")
    vividness = data.get("vividness")
    if vividness is not None and (isinstance(vividness, bool) or not isinstance(vividness, int | float)
                                  or not 0.0 <= vividness <= 1.0):
        raise ConfigError(f"{where}: vividness must be a number in [0, 1], got {vividness!r}: {fix}")
    look_args = data.get("look")
    if look_args is not None and (not isinstance(look_args, dict) or set(look_args) - set(LOOK_KEYS)):
        raise ConfigError(f"{where}: look must be an object with keys among {', '.join(LOOK_KEYS)}: {fix}")
    try:
        wanted = points.parse_points(data.get("points", []))
        reference = (look_args or {}).get("reference")
        if reference is not None and (not isinstance(reference, str) or folder is None):
            raise ConfigError(f"look's reference must be a photo's path, in a hint file on disk (colorize --hints); "
                              f"got {reference!r}")
        resolved = {**look_args, "reference": folder / reference} if reference is not None else look_args
        look = mood.control(**resolved) if look_args else None
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    return PhotoHints(wanted, look, look_args or None, None if vividness is None else float(vividness))


def parse_video(data: Any, where: str, folder: Path | None = None) -> dict[int, PhotoHints]:
    """A video hint file's decoded JSON -> {frame: PhotoHints}; ConfigError naming `where` and the entry."""
    if not isinstance(data, dict) or data.get("gan_colorizer_hints") != VERSION or set(data) != {"gan_colorizer_hints",
                                                                                                  "shots"}:
        raise ConfigError(f"{where}: not a gan_colorizer video hint file (version {VERSION}, a list of \"shots\"): "
                          f"see 'Old film: videos' in the README")
    entries = {}
    for index, entry in enumerate(data["shots"] if isinstance(data["shots"], list) else [None]):
        frame = entry.get("frame") if isinstance(entry, dict) else None
        if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0 or frame in entries:
            raise ConfigError(f"{where}: shot entry {index + 1} needs its own \"frame\", a frame number from 0")
        entries[frame] = parse({"gan_colorizer_hints": VERSION, **{k: v for k, v in entry.items() if k != "frame"}},
                               f"{where}: shot entry {index + 1}", folder)
    return entries


def read(path: Path, video: bool = False) -> PhotoHints | dict[int, PhotoHints]:
    """Read and check a photo's hint file (a video's: `parse_video`); ConfigError (one line naming the file)
    for an unreadable or malformed one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such hint file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: not readable as JSON ({err}); fix it or remove it") from None
    folder = Path(path).parent
    return parse_video(data, str(path), folder) if video else parse(data, str(path), folder)


def to_json(hints: PhotoHints) -> str:
    """The file's text for `hints`: what the web app offers as "save hints"."""
    written = [{"x": p.x, "y": p.y, "color": p.label if p.label.startswith("#") else list(p.ab),
                **({"radius": p.radius} if p.radius is not None else {})} for p in hints.points]
    data = {"gan_colorizer_hints": VERSION, "points": written, **({"look": hints.look_args} if hints.look_args else {}),
            **({"vividness": hints.vividness} if hints.vividness is not None else {})}
    return json.dumps(data, indent=1)
