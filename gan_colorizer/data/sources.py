"""Where training photos come from: a folder, .zip or .tar (`PhotoSource`), several at once (`MultiSource`),
and `open_sources`, which turns what a user passes (`--data`, repeatable, or a .txt list) into one.

A key names a photo inside its source, the same for a folder and a zip of it. With several sources
a key is `<label>/<key>`, the label being the source's folder or file stem, made unique.
"""
import bisect
import os
import tarfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np

from gan_colorizer.errors import DataError, ImageError
from gan_colorizer.images import IMAGE_SUFFIXES, Picture, decode_image, is_image_name, list_image_files

LIST_SUFFIX = ".txt"  # a --data path with this suffix lists one source per line


class PhotoSource:
    """Image files of a folder (recursive), a .zip or an uncompressed .tar (e.g. a WebDataset shard),
    addressed by a key that is the same for all three.

    The key is the path relative to the deepest folder that holds every image, so `photos/` and a
    zip of it (entries `photos/x.jpg`) list identical keys and hence split identically. Per photo
    only the sorted key list is kept (a file's name is the shared prefix + its key), plus, for a
    tar, where its bytes lie, as arrays: a million photos cost one list of strings.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        self._handle: zipfile.ZipFile | BinaryIO | None = None
        self._handle_pid = 0
        if self.root.is_dir():
            self.kind = "folder"
            names = [p.relative_to(self.root).as_posix() for p in list_image_files(self.root)]
        elif self.root.is_file() and zipfile.is_zipfile(self.root):
            self.kind = "zip"
            with zipfile.ZipFile(self.root) as archive:
                names = [n for n in archive.namelist()
                         if not n.endswith("/") and is_image_name(n) and not n.startswith("__MACOSX/")]
        elif self.root.is_file() and tarfile.is_tarfile(self.root):
            self.kind = "tar"
            names = self._list_tar()
        elif self.root.exists():
            raise DataError(f"{self.root}: not a folder or a .zip/.tar of images")
        else:
            raise DataError(f"{self.root}: no such folder or .zip/.tar file")
        if not names:
            raise DataError(f"{self.root}: no images found (looked for {' '.join(IMAGE_SUFFIXES)})")
        names.sort()
        self._prefix = _common_folder(names)
        self.keys = [name[len(self._prefix):] for name in names]  # still sorted: one prefix was cut from all

    def _list_tar(self) -> list[str]:
        """Image members of the tar, sorted, with their offsets, sizes and mtimes as aligned arrays."""
        try:
            with tarfile.open(self.root, "r:") as archive:
                members = sorted((m.name, m.offset_data, m.size, m.mtime) for m in archive
                                 if m.isfile() and is_image_name(m.name))
        except tarfile.ReadError:
            raise DataError(f"{self.root}: a compressed tar cannot be read at random; "
                            f"use an uncompressed .tar (as WebDataset shards are) or a .zip") from None
        table = np.array([member[1:] for member in members], np.int64).reshape(-1, 3)
        self._offsets, self._sizes, self._mtimes = table.T
        return [member[0] for member in members]

    @property
    def name(self) -> str:
        """How messages name this source."""
        return str(self.root)

    def read_bytes(self, key: str) -> bytes:
        if self.kind == "folder":
            return (self.root / (self._prefix + key)).read_bytes()
        if self._handle is None or self._handle_pid != os.getpid():
            # One handle per process: forked DataLoader workers sharing the parent's file offset
            # read each other's bytes (zipfile then reports bad CRCs).
            self._handle = zipfile.ZipFile(self.root) if self.kind == "zip" else open(self.root, "rb")
            self._handle_pid = os.getpid()
        if self.kind == "zip":
            return self._handle.read(self._prefix + key)
        index = bisect.bisect_left(self.keys, key)
        if index == len(self.keys) or self.keys[index] != key:
            raise KeyError(key)
        self._handle.seek(int(self._offsets[index]))
        return self._handle.read(int(self._sizes[index]))

    def decode(self, key: str, reduce: int = 1) -> Picture:
        try:
            data = self.read_bytes(key)
        except (OSError, zipfile.BadZipFile, KeyError) as err:
            raise ImageError(f"{key}: cannot read ({err})") from None
        return decode_image(data, key, reduce)

    def stamps(self) -> np.ndarray:
        """(len(keys), 2) int64 per photo: what changes when its file does, to tell a stale cached check.

        Folder: size and mtime (ns) of the file, (-1, -1) when it vanished since the listing.
        Zip: size and CRC-32 of the entry (entry times have 2 s resolution; the CRC is exact).
        Tar: size and mtime (s) of the member.
        """
        stamps = np.full((len(self.keys), 2), -1, np.int64)
        if self.kind == "folder":
            folder = os.path.join(self.root, self._prefix)  # str joins: Path objects cost more than the stat
            for index, key in enumerate(self.keys):
                try:
                    stat = os.stat(folder + key)
                except OSError:
                    continue
                stamps[index] = stat.st_size, stat.st_mtime_ns
        elif self.kind == "zip":
            with zipfile.ZipFile(self.root) as archive:
                info = {entry.filename: entry for entry in archive.infolist()}
            for index, key in enumerate(self.keys):
                entry = info[self._prefix + key]
                stamps[index] = entry.file_size, entry.CRC
        else:
            stamps[:, 0], stamps[:, 1] = self._sizes, self._mtimes
        return stamps

    def __getstate__(self) -> dict:  # an open archive cannot cross into worker processes
        return {**self.__dict__, "_handle": None}


def _common_folder(names: list[str]) -> str:
    """Deepest folder prefix ('a/b/') shared by every name, or ''."""
    parts = [PurePosixPath(n).parts[:-1] for n in names]
    common = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/".join(common) + "/" if common else ""


class MultiSource:
    """Several PhotoSources read as one, each photo keyed `<label>/<key>`.

    `sources` keeps the order the user listed them in: when the same photo is in two sources, the
    split follows the first-listed copy (see data.split).
    """

    def __init__(self, sources: dict[str, PhotoSource], name: str) -> None:
        self.sources = sources
        self._name = name
        self.keys = [f"{label}/{key}" for label, source in sources.items() for key in source.keys]

    @property
    def name(self) -> str:
        """How messages name these sources: the .txt list, or the listed paths."""
        return self._name

    def read_bytes(self, key: str) -> bytes:
        label, _, inner = key.partition("/")
        return self.sources[label].read_bytes(inner)

    def decode(self, key: str, reduce: int = 1) -> Picture:
        label, _, inner = key.partition("/")
        if label not in self.sources:
            raise ImageError(f"{key}: no source labelled {label!r} (sources: {', '.join(self.sources)})")
        return self.sources[label].decode(inner, reduce)


def parts(source: PhotoSource | MultiSource) -> Iterator[tuple[str, PhotoSource]]:
    """(key prefix, PhotoSource) of each source: ('', source) alone, ('label/', ...) in a MultiSource."""
    if isinstance(source, MultiSource):
        for label, part in source.sources.items():
            yield f"{label}/", part
    else:
        yield "", source


def open_sources(paths: Sequence[Path]) -> PhotoSource | MultiSource:
    """The photos of every path: folders, .zip and .tar files, and .txt files that list more of them.

    A .txt file names one source per line, relative to the file's folder; blank lines and lines
    starting with '#' are skipped. One source in all gives a plain PhotoSource, whose keys and split
    are those of `PhotoSource(path)`; several give a MultiSource labelled by folder or file stem
    (`photos256.zip` -> `photos256`, a second `photos` -> `photos-2`).
    """
    roots = []
    for path in map(Path, paths):
        if path.suffix.lower() == LIST_SUFFIX:
            roots.extend(_read_list(path))
        else:
            roots.append(path.expanduser())
    if not roots:
        raise DataError(f"{', '.join(map(str, paths)) or '--data'}: no data sources given")
    seen: dict[Path, Path] = {}
    for root in roots:
        if root.resolve() in seen:
            raise DataError(f"{root}: listed twice as a data source (also as {seen[root.resolve()]})")
        seen[root.resolve()] = root
    if len(roots) == 1:
        return PhotoSource(roots[0])
    labelled: dict[str, PhotoSource] = {}
    for root in roots:
        stem = root.resolve().stem if root.is_file() else root.resolve().name
        label, copy = stem, 1
        while label in labelled:
            copy += 1
            label = f"{stem}-{copy}"
        labelled[label] = PhotoSource(root)
    return MultiSource(labelled, ", ".join(map(str, paths)))


def _read_list(path: Path) -> list[Path]:
    """The source paths a .txt file lists, relative to its folder."""
    try:
        lines = Path(path).expanduser().read_text().splitlines()
    except OSError as err:
        raise DataError(f"{path}: cannot read the list of data sources ({err.strerror})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file listing data sources, one per line") from None
    entries = [line.strip() for line in lines]
    roots = [path.parent / Path(entry).expanduser() for entry in entries if entry and not entry.startswith("#")]
    nested = [root for root in roots if root.suffix.lower() == LIST_SUFFIX]
    if nested:
        raise DataError(f"{path}: lists another list ({nested[0]}); name the folders and zips themselves")
    if not roots:
        raise DataError(f"{path}: lists no data sources (one folder or .zip per line, '#' starts a comment)")
    return roots
