"""A user's own image datasets, loaded from files: ``genzoo train MODEL path/to/data``.

The format is decided by the path:

- **A folder of images** (PNG, JPEG, BMP, GIF, TIFF; read with Pillow, a GIF's first frame).
  torchvision's ImageFolder convention: when the folder has subfolders, each is a class (label =
  index of its name among the sorted names) holding images at any depth, and files at the top
  are ignored; otherwise its top-level files are the images, unlabeled. Names starting with "."
  are skipped; any other file that is not an image, and any image that does not decode, is an
  error. Channels: 1 when every image is greyscale (modes 1, L, LA, I, I;16, F, or a palette of
  greys only), else 3; ``channels=1`` converts to Pillow's luminance "L", ``channels=3`` to RGB;
  alpha is dropped, not composited. Values: 256 levels; 2 (values 0/1) when every image is
  bilevel (mode 1). 16-bit images (modes I;16, I) are scaled to 8 bits as ``v // 257``; float
  images (F) are clipped to 0..255 by Pillow. Images must share one size, unless ``size=S``
  resizes each to S x S (Lanczos; nearest for bilevel): the aspect ratio is not kept.
- **A folder of CIFAR-10 binary batches** (cifar-10-batches-bin): data_batch_N.bin are the
  training images, test_batch.bin the test split; a single ``.bin`` file is read the same way.
  CIFAR-10's **python version** (data_batch_1 without suffix, batches.meta) and any
  ``.pkl``/``.pickle`` file are refused unread: a pickle can run code when loaded.
- **MNIST idx files**: ``*-images-idx3-ubyte[.gz]``, or a folder holding them. Labels come
  from the ``labels-idx1`` file beside it; a ``train`` file's ``t10k`` file beside it is the
  test split.
- **.npy / .npz** arrays, loaded without pickles: (N, H, W), (N, H, W, C) with C 1, 3 or 4
  (alpha dropped) or (N, C, H, W) with C 1 or 3 (see :func:`~.imageformats.to_nchw` for the
  ambiguous shapes). An .npz's images are the array named by ``images``, else the first of
  "images", "x", "x_train", "data", "arr_0"; its labels the array named by ``labels``, else the
  first of "labels", "y", "y_train", "targets" (optional). Keras's layout (x_train and x_test,
  with y_train and y_test) gives the test split, unless ``images`` or ``labels`` is named.
  Integers must be >= 0 and have 2 levels when at most 1, 256 when at most 255, else max + 1;
  floats need ``levels=L`` and must lie in [0, 1]: ``min(floor(x * L), L - 1)``.

``levels=L`` (2 <= L <= the source's levels K) quantizes as ``x * L // K`` (levels=2 on 8-bit
data thresholds at 128, like ``mnist-binary``); for integer arrays whose values all lie below
L it instead declares L levels, values unchanged (an 0..16 array with levels=17).

Splits: the format's own test split where it has one; otherwise a seeded 80/20 split
(``train_test_split``, stratified by label when every class has two images or more), as for
``digits``. Labels are kept only where every split has them. The validation split is carved
later by :func:`~.data.with_validation`. Every error is one line naming the offending file.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import imageformats as formats
from .data import ImageData
from .errors import BadConfig, BadData, NotFound

IMAGE_OPTIONS = ("channels", "size", "levels", "images", "labels")  # a path dataset's --set keys
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
DATA_SUFFIXES = (".npy", ".npz", ".bin", ".pkl", ".pickle")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")
SIXTEEN_BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")
TEST_FRACTION = 0.2
FORMAT_TITLES = {"folder": "image folder", "npy": ".npy array", "npz": ".npz archive",
                 "idx": "MNIST idx", "cifar10-bin": "CIFAR-10 binary"}


@dataclass(frozen=True)
class _Options:
    channels: int | None = None
    size: int | None = None
    levels: int | None = None
    images: str | None = None
    labels: str | None = None


def looks_like_image_files(name: str) -> bool:
    """True when ``name`` is a path meant as image data, whether or not it exists: an existing
    directory, a file ending in .npy, .npz, .bin, .pkl or .pickle, an idx file name (with "idx"
    and "ubyte"), or a path with a "/" and no suffix (a folder). A .csv is not (CSV series are
    loaded elsewhere), nor is a registered name such as "digits" or "shapes-32"."""
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return False
    if path.is_dir() or suffix in DATA_SUFFIXES or _is_idx_name(path.name):
        return True
    return ("/" in name or os.sep in name) and suffix == ""


def display_name(path) -> str:
    """The dataset's name: the folder's or file's own name ("mnist.npz", "cifar-10-batches-bin")."""
    return Path(path).expanduser().resolve().name


def load_image_files(path, *, channels: int | None = None, size: int | None = None,
                     levels: int | None = None, images: str | None = None,
                     labels: str | None = None, seed: int = 0) -> ImageData:
    """Load the image dataset at ``path`` (the formats and rules: this module's docstring).

    ``channels`` (1 or 3), ``size`` (folders only) and ``levels`` may be int-like strings.
    ``seed`` fixes the 80/20 split of a format with no test split of its own. Raises
    :class:`NotFound` for a missing path, :class:`BadData` for bad content and
    :class:`BadConfig` for a bad option, each in one line naming the file.
    """
    path = _existing(path)
    fmt = _format_of(path)
    options = _checked_options(path, fmt, channels, size, levels, images, labels)
    decoded = _READERS[fmt](path, options)
    return _image_data(path, fmt, decoded, options, seed)


def dataset_identity(path) -> dict:
    """``{"name", "path", "format", "sha256"}`` of the dataset at ``path``.

    ``sha256`` covers the files the loader reads, in its order: for a folder each file's path
    relative to it, its length and its bytes; for a file path, lengths and bytes. Nothing is
    decoded, so it is much cheaper than loading.
    """
    path = _existing(path)
    fmt = _format_of(path)
    digest = hashlib.sha256()
    for file in _files_read(path, fmt):
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(file.stat().st_size.to_bytes(8, "big"))
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return {"name": display_name(path), "path": str(path), "format": fmt,
            "sha256": digest.hexdigest()}


# -- which format, which files ---------------------------------------------------------------

def _is_idx_name(name: str) -> bool:
    return "idx" in name and "ubyte" in name


def _existing(path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise NotFound(f"image data not found: {path.absolute()} does not exist")
    return path.resolve()


def _format_of(path: Path) -> str:
    """The format of an existing path (see the module docstring); pickled data is refused."""
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
        pickled = [n for n in names if n in formats.CIFAR_PYTHON_NAMES]
        if pickled:
            formats.refuse_pickle(path / pickled[0])
        if any(formats.CIFAR_BATCH.fullmatch(n) for n in names):
            return "cifar10-bin"
        return "idx" if any(formats.is_idx_images_name(n) for n in names) else "folder"
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle") or path.name in formats.CIFAR_PYTHON_NAMES:
        formats.refuse_pickle(path)
    if suffix in (".npy", ".npz"):
        return suffix[1:]
    if suffix == ".bin":
        return "cifar10-bin"
    if formats.is_idx_images_name(path.name):
        return "idx"
    if _is_idx_name(path.name):
        raise BadData(f"{path} is not an idx images file (…-images-idx3-ubyte); give the "
                      "images file, its labels are read from beside it")
    raise BadData(f"{path} is not an image dataset file: give a folder of images (one image "
                  "is not a dataset), a .npy or .npz array, an MNIST idx images file or "
                  "CIFAR-10 .bin batches")


def _image_folder_files(folder: Path) -> tuple[list[Path], np.ndarray | None]:
    """The images of a folder and their labels (None without class subfolders)."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name[0] != ".")
    if not classes:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.name[0] != ".")
        return [_image_file(p, folder) for p in files], None
    files, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(p for p in (folder / name).rglob("*") if p.is_file()
                       and not any(part[0] == "." for part in p.relative_to(folder).parts))
        if not found:
            raise BadData(f"class folder {folder / name} holds no images; add some or remove it")
        files += [_image_file(p, folder) for p in found]
        labels += [label] * len(found)
    return files, np.array(labels, dtype=np.int64)


def _image_file(path: Path, folder: Path) -> Path:
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise BadData(f"{path} is not an image (PNG, JPEG, BMP, GIF or TIFF); move it out of "
                      f"the folder {folder}")
    return path


def _files_read(path: Path, fmt: str) -> list[Path]:
    """Every file the loader reads for ``path``, in the order it reads them."""
    if fmt == "folder":
        return _image_folder_files(path)[0]
    if fmt == "idx":
        images = formats.idx_images_in(path) if path.is_dir() else path
        return [f for f in formats.idx_files(images) if f is not None]
    if fmt == "cifar10-bin":
        train, test = formats.cifar_files(path)
        return [*train, *([test] if test else [])]
    return [path]


# -- options ---------------------------------------------------------------------------------

def _whole_number(path: Path, option: str, value, lowest: int) -> int | None:
    """An option's value as an int (int-like strings accepted), at least ``lowest``."""
    if value is None:
        return None
    number = None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        number = int(value)
    if number is None or number < lowest:
        raise BadConfig(f"option {option}={value!r} for {path}: must be a whole number "
                        f">= {lowest}")
    return number


def _checked_options(path: Path, fmt: str, channels, size, levels, images,
                     labels) -> _Options:
    options = _Options(_whole_number(path, "channels", channels, 0),
                       _whole_number(path, "size", size, 1),
                       _whole_number(path, "levels", levels, 2),
                       None if images is None else str(images),
                       None if labels is None else str(labels))
    if options.channels not in (None, 1, 3):
        raise BadConfig(f"option channels={channels!r} for {path}: must be 1 (greyscale) or "
                        "3 (RGB)")
    if options.size is not None and fmt != "folder":
        raise BadConfig(f"option size applies to folders of images; {path} is a "
                        f"{FORMAT_TITLES[fmt]} with images of fixed size")
    if (options.images, options.labels) != (None, None) and fmt != "npz":
        raise BadConfig(f"options images and labels name arrays of an .npz archive; {path} is "
                        f"a {FORMAT_TITLES[fmt]}")
    return options


# -- a folder of images ----------------------------------------------------------------------

def _header(file: Path):
    """An image's mode, size and whether it is greyscale, from its header alone."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            grey = image.mode in GREY_MODES or _grey_palette(image)
            return image.mode, image.size, grey
    except Exception as exc:  # a decoder's error of any kind: the file is bad
        raise _unreadable_image(file, exc) from None


def _unreadable_image(file: Path, exc: Exception) -> BadData:
    return BadData(f"{file} is not a readable image ({formats.first_line(exc)}); remove or "
                   "replace it")


def _grey_palette(image) -> bool:
    """Whether a palette image's colours are all greys (a greyscale GIF opens as mode P)."""
    palette = image.getpalette() if image.mode in ("P", "PA") else None
    return bool(palette) and all(palette[k] == palette[k + 1] == palette[k + 2]
                                 for k in range(0, len(palette) - 2, 3))


def _pixels(file: Path, channels: int, bilevel: bool, size: int | None) -> np.ndarray:
    """One image decoded to ``(C, H, W)`` uint8: 0/1 when bilevel, else 0..255."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            image.load()  # decode now: a truncated file fails here, not later
            if image.mode in SIXTEEN_BIT_MODES:
                wide = np.asarray(image).astype(np.int64)
                image = Image.fromarray((wide.clip(0, 65535) // 257).astype(np.uint8), "L")
            elif image.mode in ("P", "PA"):
                image = image.convert("RGBA")  # a palette's transparency, without a warning
            if not bilevel:  # bilevel images stay mode 1: values 0/1, nearest resizing
                image = image.convert("L" if channels == 1 else "RGB")
            if size is not None:
                resample = Image.Resampling.NEAREST if bilevel else Image.Resampling.LANCZOS
                image = image.resize((size, size), resample)
            array = np.asarray(image, dtype=np.uint8)
    except Exception as exc:  # a decoder's error of any kind: the file is bad
        raise _unreadable_image(file, exc) from None
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return np.repeat(array, channels, axis=0) if len(array) != channels else array


def _read_folder(folder: Path, options: _Options) -> formats.Decoded:
    files, labels = _image_folder_files(folder)
    if not files:
        raise BadData(f"folder {folder} holds no images (PNG, JPEG, BMP, GIF or TIFF)")
    headers = [_header(file) for file in files]
    if options.size is None:
        first_size = headers[0][1]
        for file, (_, image_size, _) in zip(files, headers):
            if image_size != first_size:
                raise BadData(f"{file} is {image_size[0]}x{image_size[1]} but {files[0]} is "
                              f"{first_size[0]}x{first_size[1]}; give --set size=S to resize "
                              "every image to S x S")
    channels = options.channels or (1 if all(grey for *_, grey in headers) else 3)
    bilevel = all(mode == "1" for mode, *_ in headers)
    images = np.stack([_pixels(file, channels, bilevel, options.size) for file in files])
    return formats.Decoded(images, labels, 2 if bilevel else 256)


_READERS = {
    "folder": _read_folder,
    "npy": lambda path, options: formats.read_npy(path, options.levels),
    "npz": lambda path, options: formats.read_npz(path, options.levels, options.images,
                                                  options.labels),
    "idx": lambda path, options: formats.read_idx(
        formats.idx_images_in(path) if path.is_dir() else path),
    "cifar10-bin": lambda path, options: formats.read_cifar(path),
}


# -- splits and tensors ----------------------------------------------------------------------

def _seeded_split(labels: np.ndarray | None, n: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Train and test indices, 80/20 with ``seed``, and whether they are stratified by label
    (where every class has two images and each split can hold one of every class)."""
    from sklearn.model_selection import train_test_split

    stratify = None
    if labels is not None:
        n_test = math.ceil(n * TEST_FRACTION)
        _, counts = np.unique(labels, return_counts=True)
        if counts.min() >= 2 and min(n_test, n - n_test) >= len(counts):
            stratify = labels
    keep, held = train_test_split(np.arange(n), test_size=TEST_FRACTION, random_state=seed,
                                  stratify=stratify)
    return keep, held, stratify is not None


def _tensor(images: np.ndarray, source_levels: int, levels: int) -> torch.Tensor:
    """int64 images, quantized in place from ``source_levels`` to ``levels`` values."""
    out = images.astype(np.int64)
    if levels != source_levels:
        out *= levels
        out //= source_levels
    return torch.from_numpy(out)


def _labels(labels: np.ndarray | None) -> torch.Tensor | None:
    return None if labels is None else torch.from_numpy(labels.astype(np.int64))


def _image_data(path: Path, fmt: str, decoded: formats.Decoded, options: _Options,
                seed: int) -> ImageData:
    levels = options.levels or decoded.levels
    if levels > decoded.levels:
        raise BadConfig(f"option levels={levels} for {path}: its images have {decoded.levels} "
                        f"levels; give levels between 2 and {decoded.levels}")
    images = formats.set_channels(decoded.images, options.channels)
    labels, test_labels = decoded.labels, decoded.test_labels
    n = len(images) + (0 if decoded.test_images is None else len(decoded.test_images))
    if n < 2:
        raise BadData(f"{path} holds {n} image(s); a dataset needs at least 2 (one to train "
                      "on, one to test)")
    if decoded.test_images is not None:
        train, test = images, formats.set_channels(decoded.test_images, options.channels)
        how = decoded.test_source
        if labels is None or test_labels is None:
            labels = test_labels = None
    else:
        keep, held, stratified = _seeded_split(labels, n, seed)
        train, test = images[keep], images[held]
        if labels is not None:
            labels, test_labels = labels[keep], labels[held]
        how = f"seeded 80/20 split (seed {seed}{', stratified by label' if stratified else ''})"
    shape = "x".join(map(str, train.shape[1:]))
    source = (f"{FORMAT_TITLES[fmt]} {path}: {n:,} images {shape}, {levels} levels, "
              f"{'labelled' if labels is not None else 'unlabelled'}; test split: {how}")
    return ImageData(name=display_name(path), train=_tensor(train, decoded.levels, levels),
                     test=_tensor(test, decoded.levels, levels), levels=levels,
                     train_labels=_labels(labels), test_labels=_labels(test_labels),
                     source=source)
