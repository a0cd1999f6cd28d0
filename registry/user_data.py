"""Image datasets uploaded through the dashboard, kept in the runs store's home (``datasets/``).

An upload is an ``.npz`` array file or a ``.zip`` of images (a folder, subfolders as classes:
the ImageFolder convention of :mod:`genzoo.registry.imagefiles`). It is checked before it is
kept: its size is capped, a zip's entries may only be images in folders (no absolute path, no
``..``, no link: nothing lands outside its folder), its unpacked size and file count are capped
while it is read (a zip's header can lie), and the result must load as a dataset; a failed
upload leaves nothing behind. A kept dataset is a path like any other user's files, so runs
on it group together and the content hash says when it changed.
"""

from __future__ import annotations

import io
import shutil
import stat
import uuid
import zipfile
from pathlib import Path, PurePosixPath

from .checkpoints import atomic_write_bytes
from .errors import BadData
from .imagefiles import IMAGE_SUFFIXES, load_image_files
from .store import slugify

FOLDER = "datasets"  # under the store's home
UPLOAD_SUFFIXES = (".npz", ".zip")
UPLOAD_MAX_BYTES = 200 * 2**20  # what a browser sends
UNPACKED_MAX_BYTES = 1 * 2**30  # what a zip may unpack to
MAX_FILES = 100_000
_SKIPPED = ("__MACOSX",)  # what macOS's archiver adds beside the images


def datasets_folder(home: str | Path) -> Path:
    """Where uploaded datasets are kept: ``<home>/datasets``."""
    return Path(home) / FOLDER


def uploaded_datasets(home: str | Path) -> list[str]:
    """The kept uploads, as the dataset paths runs are stored under, by name."""
    folder = datasets_folder(home)
    if not folder.is_dir():
        return []
    return sorted(str(path.resolve()) for path in folder.iterdir()
                  if not path.name.startswith(".")
                  and (path.is_dir() or path.suffix.lower() == ".npz"))


def save_upload(home: str | Path, filename: str, payload: bytes) -> str:
    """Check an uploaded ``.npz`` or ``.zip`` of images, keep it under ``<home>/datasets`` and
    return its dataset path; :class:`BadData` in one line naming the file otherwise."""
    suffix = Path(filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise BadData(f"{filename}: upload an .npz array file or a .zip of images (PNG, JPEG, "
                      "BMP, ...), not a " + (f"{suffix} file" if suffix else "file without "
                                             "a suffix"))
    if len(payload) > UPLOAD_MAX_BYTES:
        raise BadData(f"{filename}: {len(payload) / 2**20:.0f} MB, at most "
                      f"{UPLOAD_MAX_BYTES // 2**20} MB in an upload; give a larger dataset to "
                      "`genzoo train MODEL --dataset PATH` on the machine that has it")
    folder = datasets_folder(home)
    folder.mkdir(parents=True, exist_ok=True)
    name = _free_name(folder, slugify(Path(filename).stem) or "upload", suffix)
    staging = folder / f".{name}.uploading-{uuid.uuid4().hex[:6]}"
    try:
        if suffix == ".npz":
            staging = staging.with_suffix(".npz")
            atomic_write_bytes(staging, payload)
        else:
            _unpack_images(filename, payload, staging)
        load_image_files(staging)  # it must load, or it is not kept
        target = folder / (name + suffix if suffix == ".npz" else name)
        staging.rename(target)
    except BaseException:
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.unlink(missing_ok=True)
        raise
    return str(target.resolve())


def _free_name(folder: Path, stem: str, suffix: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``, ... : an upload never replaces a kept dataset (runs
    trained on it would find other data)."""
    def taken(name: str) -> bool:
        return (folder / name).exists() or (folder / f"{name}{suffix}").exists()

    name, n = stem, 1
    while taken(name):
        n += 1
        name = f"{stem}-{n}"
    return name


def _unpack_images(filename: str, payload: bytes, target: Path) -> None:
    """Unpack a zip's images into ``target`` (one shared top folder dropped), or refuse it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile:
        raise BadData(f"{filename} is not a zip file (or a damaged one)") from None
    with archive:
        entries = [entry for entry in archive.infolist() if _kept(filename, entry)]
        if not entries:
            raise BadData(f"{filename} holds no images (PNG, JPEG, BMP, GIF or TIFF)")
        if len(entries) > MAX_FILES:
            raise BadData(f"{filename} holds {len(entries):,} files, at most {MAX_FILES:,}")
        parts = [PurePosixPath(entry.filename).parts for entry in entries]
        common = parts[0][0] if all(len(p) > 1 and p[0] == parts[0][0] for p in parts) else None
        budget = UNPACKED_MAX_BYTES
        for entry, part in zip(entries, parts):
            relative = Path(*part[1:]) if common else Path(*part)
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(entry) as source, open(destination, "wb") as out:
                while chunk := source.read(2**20):
                    budget -= len(chunk)  # counted as read: a header's sizes can lie
                    if budget < 0:
                        raise BadData(f"{filename} unpacks to more than "
                                      f"{UNPACKED_MAX_BYTES // 2**30} GB")
                    out.write(chunk)


def _kept(filename: str, entry: zipfile.ZipInfo) -> bool:
    """Whether a zip entry is an image to unpack; refuses, naming it, what could land outside
    the folder or is not an image."""
    name = entry.filename
    path = PurePosixPath(name)
    if name.startswith(("/", "\\")) or "\\" in name or ":" in path.parts[0] \
            or ".." in path.parts:
        raise BadData(f"{filename}: entry {name!r} points outside its folder; refused")
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise BadData(f"{filename}: entry {name!r} is a link; refused")
    if entry.is_dir() or path.parts[0] in _SKIPPED or any(p.startswith(".") for p in path.parts):
        return False
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise BadData(f"{filename}: entry {name!r} is not an image (PNG, JPEG, BMP, GIF or "
                      "TIFF); take it out of the zip")
    return True
