"""Readers for the binary and array image formats: MNIST idx, CIFAR-10 binary, .npy / .npz.

Each reader returns a :class:`Decoded`: images ``(N, C, H, W)`` with integer values in
``[0, levels)`` and their labels, plus the format's own test split where it has one. Options,
splits and tensors are :mod:`genzoo.registry.imagefiles`'s job; the rules are in its docstring.
Every failure is a one-line :class:`BadData` naming the offending file: numpy's and gzip's
exceptions are translated, never shown.
"""

from __future__ import annotations

import gzip
import math
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import BadConfig, BadData

IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions: count, rows, cols
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension: count
CIFAR_SIDE = 32
CIFAR_RECORD = 1 + 3 * CIFAR_SIDE * CIFAR_SIDE  # a label byte, then R, G and B planes
CIFAR_BATCH = re.compile(r"(data_batch_(\d+)|test_batch)\.bin")
CIFAR_PYTHON_NAMES = ("data_batch_1", "test_batch", "batches.meta")  # pickled, never read
IMAGE_KEYS = ("images", "x", "x_train", "data", "arr_0")  # an .npz's images, first present
LABEL_KEYS = ("labels", "y", "y_train", "targets")  # an .npz's labels, first present (optional)
NPY_MAGICS, NPZ_MAGICS = (b"\x93NUMPY",), (b"PK\x03\x04", b"PK\x05\x06")  # .npz: a zip
# 0.299 R + 0.587 G + 0.114 B in Pillow's fixed point (x 2^16), so that arrays and image
# folders give the same grey values bit for bit (ITU-R 601-2 luma, as Pillow's "L").
LUMINANCE = np.array([19595, 38470, 7471], dtype=np.int64)


@dataclass
class Decoded:
    """Images as a format stores them, before the options' levels and the seeded split."""

    images: np.ndarray  # (N, C, H, W), integers in [0, levels)
    labels: np.ndarray | None  # (N,) integers, or None
    levels: int
    test_images: np.ndarray | None = None  # the format's own test split, where it has one
    test_labels: np.ndarray | None = None
    test_source: str = ""  # where that test split comes from, for the dataset's source line


def refuse_pickle(path: Path) -> None:
    """Raise for a pickled data file, which is never opened: unpickling can run any code."""
    raise BadData(f"{path} is pickled (Python's pickle format); genzoo never unpickles data "
                  "files because a pickle can run code: for CIFAR-10 download its binary "
                  "version (cifar-10-binary.tar.gz, folder cifar-10-batches-bin) instead, for "
                  "other data save the images with numpy (np.save or np.savez)")


def set_channels(images: np.ndarray, channels: int | None) -> np.ndarray:
    """``images`` with ``channels`` channels: grey repeated into RGB, or RGB to luminance."""
    if channels is None or channels == images.shape[1]:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=1)
    grey = np.empty((len(images), 1, *images.shape[2:]), dtype=images.dtype)
    for start in range(0, len(images), 4096):  # in blocks: int64 temporaries of a block only
        block = images[start:start + 4096].astype(np.int64)
        grey[start:start + 4096, 0] = (np.einsum("nchw,c->nhw", block, LUMINANCE) + 2**15) >> 16
    return grey


# -- MNIST idx -------------------------------------------------------------------------------

def is_idx_images_name(name: str) -> bool:
    """Whether a file name is an idx images file (train-images-idx3-ubyte, ….gz)."""
    return "images-idx3-ubyte" in name


def _existing_variant(folder: Path, name: str) -> Path | None:
    """``folder / name``, or the same name with ``.gz`` added or removed, whichever exists."""
    other = name[:-3] if name.endswith(".gz") else name + ".gz"
    return next((folder / n for n in (name, other) if (folder / n).is_file()), None)


def idx_files(images_file: Path) -> tuple[Path | None, ...]:
    """``(train images, train labels, test images, test labels)`` of an idx images file.

    Labels are the file beside it named ``labels-idx1`` for ``images-idx3``; the test split is
    the ``t10k`` (or ``test``) file beside a ``train`` file. Missing ones are None.
    """
    folder, name = images_file.parent, images_file.name
    labels = _existing_variant(folder, name.replace("images-idx3", "labels-idx1"))
    test = None
    if "train" in name:
        test = next(filter(None, (_existing_variant(folder, name.replace("train", other, 1))
                                  for other in ("t10k", "test"))), None)
    test_labels = test and _existing_variant(folder, test.name.replace("images-idx3",
                                                                       "labels-idx1"))
    return images_file, labels, test, test_labels


def idx_images_in(folder: Path) -> Path:
    """The idx images file a folder is read from: its train file, else its only test file."""
    found = sorted(p for p in folder.iterdir() if is_idx_images_name(p.name)
                   and not p.name.startswith("."))
    distinct = {}  # one per name without .gz; the uncompressed one is faster to read
    for path in sorted(found, key=lambda p: p.name.endswith(".gz")):
        distinct.setdefault(path.name.removesuffix(".gz"), path)
    train = [p for n, p in distinct.items() if "t10k" not in n and "test" not in n]
    candidates = train or list(distinct.values())
    if len(candidates) > 1:
        raise BadData(f"{folder} holds several idx image files "
                      f"({', '.join(p.name for p in candidates)}); give the path of one")
    return candidates[0]


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when its name ends in .gz (decompressed once, in memory)."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.name.endswith(".gz") else raw
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise BadData(f"{path} could not be read: {exc}") from None


def _idx_payload(path: Path, magic: int, header_ints: int) -> tuple[bytes, list[int]]:
    """The file's bytes and the header's dimensions, after checking its magic number."""
    data = _read_bytes(path)
    header = 4 + 4 * header_ints
    if len(data) < header:
        raise BadData(f"{path} is truncated: {len(data)} bytes, shorter than an idx header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kind = "images (idx3)" if magic == IDX_IMAGES_MAGIC else "labels (idx1)"
        hint = "; it is gzip-compressed: name it .gz" if data[:2] == b"\x1f\x8b" else ""
        raise BadData(f"{path} is not an idx {kind} file: magic number 0x{found:08x}, "
                      f"expected 0x{magic:08x}{hint}")
    dims = [int(v) for v in np.frombuffer(data, ">i4", count=header_ints, offset=4)]
    expected = header + math.prod(dims)  # Python ints: a corrupt header cannot overflow
    if len(data) != expected:
        problem = "is truncated" if len(data) < expected else "has trailing bytes"
        raise BadData(f"{path} {problem}: its header ({' x '.join(map(str, dims))}) needs "
                      f"{expected:,} bytes, the file has {len(data):,}")
    return data, dims


def read_idx_images(path: Path) -> np.ndarray:
    """An idx3 images file as a read-only ``(N, 1, rows, cols)`` uint8 view of its bytes."""
    data, (count, rows, cols) = _idx_payload(path, IDX_IMAGES_MAGIC, 3)
    if 0 in (count, rows, cols):
        raise BadData(f"{path} holds no images: its header says {count} x {rows} x {cols}")
    return np.frombuffer(data, np.uint8, offset=16).reshape(count, 1, rows, cols)


def read_idx_labels(path: Path, n_images: int, images_file: Path) -> np.ndarray:
    """An idx1 labels file as uint8 ``(N,)``, checked against its images' count."""
    data, (count,) = _idx_payload(path, IDX_LABELS_MAGIC, 1)
    if count != n_images:
        raise BadData(f"{path} has {count:,} labels but {images_file} has {n_images:,} images")
    return np.frombuffer(data, np.uint8, offset=8)


def read_idx(images_file: Path) -> Decoded:
    """An idx images file with its labels and its t10k test split, where they are beside it."""
    train_file, labels_file, test_file, test_labels_file = idx_files(images_file)

    def labelled(file, labels_file):
        images = read_idx_images(file)
        labels = None if labels_file is None else read_idx_labels(labels_file, len(images), file)
        return images, labels

    images, labels = labelled(train_file, labels_file)
    if test_file is None:
        return Decoded(images, labels, 256)
    test_images, test_labels = labelled(test_file, test_labels_file)
    if test_images.shape[1:] != images.shape[1:]:
        raise BadData(f"{test_file} holds {test_images.shape[2]}x{test_images.shape[3]} "
                      f"images but {train_file} holds {images.shape[2]}x{images.shape[3]}")
    return Decoded(images, labels, 256, test_images, test_labels, f"the file {test_file.name}")


# -- CIFAR-10 binary -------------------------------------------------------------------------

def cifar_files(path: Path) -> tuple[list[Path], Path | None]:
    """``(training batches, test batch or None)``: a folder's data_batch_N.bin in order of N and
    its test_batch.bin, or a single .bin file as the training batch."""
    if not path.is_dir():
        return [path], None
    batches = {}
    for file in path.iterdir():
        match = CIFAR_BATCH.fullmatch(file.name)
        if match and match.group(2):
            batches[int(match.group(2))] = file
    test = path / "test_batch.bin"
    return [batches[k] for k in sorted(batches)], test if test.is_file() else None


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` uint8."""
    data = _read_bytes(path)
    if not data or len(data) % CIFAR_RECORD:
        raise BadData(f"{path} is {len(data):,} bytes, not a whole number of {CIFAR_RECORD:,}-"
                      "byte CIFAR-10 records (a label byte, then 3x32x32 pixels): a truncated "
                      "download, or another format (CIFAR-100 records have 2 label bytes)")
    records = np.frombuffer(data, np.uint8).reshape(-1, CIFAR_RECORD)
    return records[:, 1:].reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE), records[:, 0]


def read_cifar(path: Path) -> Decoded:
    """CIFAR-10 binary batches: the data batches as training data, test_batch.bin as test."""
    train_files, test_file = cifar_files(path)
    if not train_files:  # the test batch alone: the seeded split makes both
        train_files, test_file = [test_file], None
    parts = [read_cifar_batch(file) for file in train_files]
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    if test_file is None:
        return Decoded(images, labels, 256)
    test_images, test_labels = read_cifar_batch(test_file)
    return Decoded(images, labels, 256, test_images, test_labels, "the file test_batch.bin")


# -- .npy / .npz -----------------------------------------------------------------------------

def _open_array_file(path: Path):
    """``np.load`` without pickles, after checking the file is what its suffix says."""
    magics = NPY_MAGICS if path.suffix.lower() == ".npy" else NPZ_MAGICS
    try:
        with path.open("rb") as handle:
            start = handle.read(6)
        if not start.startswith(magics):
            raise BadData(f"{path} is not a {path.suffix} file (it does not start like one); "
                          "write it with np.save (.npy) or np.savez (.npz)")
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _unreadable(path, "the array", exc) from None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _unreadable(path: Path, what: str, exc: BaseException) -> BadData:
    """numpy's error on reading an array, as one line; an object array's says it is pickled."""
    if "pickle" in str(exc):
        return BadData(f"{path}: {what} is an object array, stored pickled; genzoo never "
                       "unpickles data files (a pickle can run code): save numeric arrays, "
                       "e.g. np.asarray(x, dtype=np.uint8)")
    return BadData(f"{path}: {what} could not be read: {first_line(exc)}")


def _member(path: Path, archive, key: str) -> np.ndarray:
    """One array of an open .npz, its errors translated."""
    try:
        return archive[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise _unreadable(path, f"array {key!r}", exc) from None


def to_nchw(path: Path, what: str, array: np.ndarray) -> np.ndarray:
    """An images array as ``(N, C, H, W)``, C 1 or 3 (an alpha channel dropped).

    Channels are axis 3 when only it is 1, 3 or 4, axis 1 when only it is 1 or 3; when both
    could be, the layout whose images are square wins; when that does not decide, it is an error.
    """
    shape = tuple(array.shape)
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4:
        first, last = shape[1] in (1, 3), shape[3] in (1, 3, 4)
        if first and last and (shape[2] == shape[3]) != (shape[1] == shape[2]):
            first, last = shape[2] == shape[3], shape[1] == shape[2]  # the square images
        if first == last:
            reason = ("axis 1 (N, C, H, W) and axis 3 (N, H, W, C) could both be its channels"
                      if first else "neither axis 1 (N, C, H, W; 1 or 3) nor axis 3 (N, H, W, C; "
                      "1, 3 or 4) can be its channels")
            raise BadData(f"{path}: {what} has shape {shape}: {reason}; save greyscale images "
                          "as (N, H, W), or move the channels to the other end (np.moveaxis)")
        array = np.moveaxis(array, 3, 1)[:, :3] if last else array
    else:
        raise BadData(f"{path}: {what} has shape {shape}; images must be (N, H, W), "
                      "(N, H, W, C) or (N, C, H, W)")
    if 0 in array.shape:
        raise BadData(f"{path}: {what} has shape {shape}, which holds no images")
    return array


def to_levels(path: Path, what: str, arrays: list[np.ndarray],
              levels: int | None) -> tuple[list[np.ndarray], int]:
    """Integer arrays and their number of levels (the rules are imagefiles' docstring's)."""
    kind = arrays[0].dtype.kind
    if kind == "b":
        return [a.astype(np.uint8) for a in arrays], levels or 2
    if kind == "f":
        return _quantized_floats(path, what, arrays, levels), levels
    if kind not in "iu":
        raise BadData(f"{path}: {what} has dtype {arrays[0].dtype}; images must be integers "
                      "or floats")
    low, high = min(int(a.min()) for a in arrays), max(int(a.max()) for a in arrays)
    if low < 0:
        raise BadData(f"{path}: {what} has negative values (the least is {low}); pixel "
                      "values must be 0 or more")
    if levels is not None and high < levels:
        return arrays, levels  # the values fit: levels declares their number, as given
    return arrays, 2 if high <= 1 else 256 if high <= 255 else high + 1


def _quantized_floats(path: Path, what: str, arrays: list[np.ndarray],
                      levels: int | None) -> list[np.ndarray]:
    if levels is None:
        raise BadData(f"{path}: {what} holds floats ({arrays[0].dtype}); give --set "
                      "levels=L to quantize values in [0, 1] to L levels")
    for array in arrays:
        low, high = float(array.min()), float(array.max())
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 1:
            raise BadData(f"{path}: {what} has values in [{low:.4g}, {high:.4g}], not in "
                          "[0, 1]; scale them first (8-bit values: divide by 255)")
    return [np.minimum(np.floor(a * levels), levels - 1).astype(np.int64) for a in arrays]


def _checked_labels(path: Path, key: str, labels: np.ndarray, n_images: int,
                    images_key: str) -> np.ndarray:
    if labels.dtype.kind not in "iu":
        raise BadData(f"{path}: labels {key!r} have dtype {labels.dtype}; labels must be "
                      "integers (class indices)")
    if labels.ndim != 1:
        raise BadData(f"{path}: labels {key!r} have shape {labels.shape}; labels must be 1-d "
                      "(N,) class indices (one-hot labels: save y.argmax(1))")
    if len(labels) != n_images:
        raise BadData(f"{path}: {len(labels):,} labels in {key!r} but {n_images:,} images in "
                      f"{images_key!r}; there must be one label per image")
    if len(labels) and labels.min() < 0:
        raise BadData(f"{path}: labels {key!r} have negative values; labels must be 0 or more")
    return labels


def read_npy(path: Path, levels: int | None) -> Decoded:
    """A .npy images array (no labels)."""
    images = to_nchw(path, "the array", _open_array_file(path))
    (images,), source_levels = to_levels(path, "the array", [images], levels)
    return Decoded(images, None, source_levels)


def _key(path: Path, keys: list[str], option: str, named: str | None,
         defaults: tuple[str, ...]) -> str | None:
    """The archive key to read: the one named by the option, else the first default present."""
    if named is not None:
        if named not in keys:
            raise BadConfig(f"option {option}={named!r}: {path} has no array {named!r}; its "
                            f"arrays: {', '.join(keys) or 'none'}")
        return named
    return next((k for k in defaults if k in keys), None)


def read_npz(path: Path, levels: int | None, images_key: str | None = None,
             labels_key: str | None = None) -> Decoded:
    """An .npz archive's images and labels; Keras's x_train/x_test layout gives the test split."""
    with _open_array_file(path) as archive:
        keys = list(archive.files)
        if images_key is None and labels_key is None and {"x_train", "x_test"} <= set(keys):
            return _keras_layout(path, archive, keys, levels)
        image_key = _key(path, keys, "images", images_key, IMAGE_KEYS)
        if image_key is None:
            raise BadData(f"{path} has none of the arrays {', '.join(IMAGE_KEYS)} (its arrays: "
                          f"{', '.join(keys) or 'none'}); name one with --set images=KEY")
        what = f"array {image_key!r}"
        images = to_nchw(path, what, _member(path, archive, image_key))
        label_key = _key(path, keys, "labels", labels_key, LABEL_KEYS)
        labels = label_key and _checked_labels(path, label_key, _member(path, archive, label_key),
                                               len(images), image_key)
    (images,), source_levels = to_levels(path, what, [images], levels)
    return Decoded(images, labels, source_levels)


def _keras_layout(path: Path, archive, keys: list[str], levels: int | None) -> Decoded:
    """x_train, x_test and, where present, y_train and y_test (keras.datasets' mnist.npz)."""
    train = to_nchw(path, "array 'x_train'", _member(path, archive, "x_train"))
    test = to_nchw(path, "array 'x_test'", _member(path, archive, "x_test"))
    if train.shape[1:] != test.shape[1:]:
        raise BadData(f"{path}: x_train holds images of shape {train.shape[1:]} but x_test of "
                      f"shape {test.shape[1:]}")
    labels = {}
    for split, images in (("train", train), ("test", test)):
        if f"y_{split}" in keys:
            labels[split] = _checked_labels(path, f"y_{split}", _member(path, archive,
                                            f"y_{split}"), len(images), f"x_{split}")
    (train, test), source_levels = to_levels(path, "arrays 'x_train' and 'x_test'",
                                             [train, test], levels)
    return Decoded(train, labels.get("train"), source_levels, test, labels.get("test"),
                   "the arrays x_test, y_test")
