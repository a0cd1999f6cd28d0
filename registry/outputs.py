"""Writing samples to files and drawing image grids (shared by the CLI and the dashboard)."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import torch

from .checkpoints import atomic_write_bytes
from .errors import GenzooError

IMAGE_SUFFIXES = (".png", ".npy")
# folders of devices and kernel state, never of a user's files (`-o /dev/full.png` made a file)
DEVICE_FOLDERS = tuple(Path(p) for p in ("/dev", "/proc", "/sys"))
SERIES_SUFFIXES = (".csv", ".npy")


def check_samples(model: str, samples, n: int, info) -> torch.Tensor:
    """``samples`` if they keep the model contract where they are used (a file, a page): ``n``
    items (images of the data's shape, series of a horizon); images as integer levels in
    ``[0, info.levels)``, series as finite numbers. A plugin's ``sample()`` that returns floats
    otherwise wrote a grey PNG with exit 0 and drew a black grid on the Samples page."""
    fix = "see the model contract in docs/plugins.md (`genzoo check-plugin` tests it)"
    if not torch.is_tensor(samples):
        raise GenzooError(f"model {model!r}: sample() returned {type(samples).__name__}, not a "
                          f"tensor; {fix}")
    if info.kind == "image" and tuple(samples.shape) != (n, *info.shape):
        raise GenzooError(f"model {model!r}: sample({n}) returned shape "
                          f"{tuple(samples.shape)}, expected {(n, *info.shape)}; {fix}")
    if info.kind != "image" and (samples.dim() != 2 or samples.shape[0] != n):
        raise GenzooError(f"model {model!r}: sample({n}) returned shape "
                          f"{tuple(samples.shape)}, expected ({n}, horizon); {fix}")
    if info.kind == "image":
        if samples.dtype.is_floating_point or samples.dtype.is_complex or (
                samples.dtype == torch.bool):
            raise GenzooError(f"model {model!r}: sample() returned {samples.dtype} images; "
                              f"images are integer levels 0..{info.levels - 1}; {fix}")
        low, high = int(samples.min()), int(samples.max())
        if low < 0 or high >= info.levels:
            raise GenzooError(f"model {model!r}: sample() returned levels {low}..{high}, outside "
                              f"0..{info.levels - 1}; {fix}")
    elif not bool(torch.isfinite(samples.double()).all()):
        raise GenzooError(f"model {model!r}: sample() returned values that are not finite; {fix}")
    return samples


def image_grid(images: torch.Tensor, levels: int, *, columns: int | None = None,
               scale: int = 4, pad: int = 1) -> np.ndarray:
    """Tile ``(N, C, H, W)`` integer images into one uint8 array (grey or RGB), levels -> 0..255."""
    images = images.detach().cpu()
    n, channels, height, width = images.shape
    columns = columns or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / columns)
    pixels = (images.float() * (255.0 / max(levels - 1, 1))).round().clamp(0, 255).to(torch.uint8)
    pixels = pixels.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    cell_h, cell_w = height * scale + pad, width * scale + pad
    grid = torch.full((channels, rows * cell_h + pad, columns * cell_w + pad), 128,
                      dtype=torch.uint8)  # grey between cells
    for i in range(n):
        r, c = divmod(i, columns)
        grid[:, pad + r * cell_h: pad + r * cell_h + height * scale,
             pad + c * cell_w: pad + c * cell_w + width * scale] = pixels[i]
    array = grid.permute(1, 2, 0).numpy()
    return array[..., 0] if channels == 1 else array


def grid_scale(height: int, width: int, *, columns: int = 1, target_px: int = 64,
               least: int = 1) -> int:
    """How many screen pixels each image pixel takes, so that a row of ``columns`` images of
    ``height`` x ``width`` is about ``target_px`` wide (small images drawn larger), and at
    least ``least``."""
    return max(least, target_px // (max(1, columns) * max(height, width)))


def npy_bytes(array) -> bytes:
    """A tensor or an array as the bytes of a ``.npy`` file."""
    if torch.is_tensor(array):
        array = array.detach().cpu().numpy()
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 image array as PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame):
    """A copy of a pandas frame whose text cells a spreadsheet will not run as formulas: a
    cell that starts with ``= + - @`` (a plugin's model called ``=HYPERLINK(...)``), a tab or a
    carriage return, and is not a number, gets a leading ``'`` (OWASP's advice for CSV)."""
    def safe(cell):
        if not isinstance(cell, str) or not cell.startswith(_FORMULA_STARTS):
            return cell
        try:
            float(cell)
            return cell  # a negative number written as text stays a number
        except ValueError:
            return "'" + cell

    from pandas.api.types import is_object_dtype, is_string_dtype

    out = frame.copy()
    for column in out.columns:
        if is_object_dtype(out[column]) or is_string_dtype(out[column]):
            out[column] = out[column].map(safe)
    out.columns = [safe(str(c)) if isinstance(c, str) else c for c in out.columns]
    return out


def check_output_file(path: str | Path) -> Path:
    """``path`` if a file a user asked for may be written there: not into a folder of devices,
    not over something that is not a regular file (a link is replaced, never followed)."""
    path = Path(path)
    parent = path.parent.resolve()
    if any(parent == folder or folder in parent.parents for folder in DEVICE_FOLDERS):
        raise GenzooError(f"cannot write {path}: {parent} holds devices, not files; choose a "
                          "file in a folder of your own")
    try:
        if path.exists() and not path.is_symlink() and not path.is_file():
            raise GenzooError(f"cannot write {path}: it exists and is not a regular file")
    except OSError as exc:  # a name too long for the file system, a folder not to be read
        raise GenzooError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def check_output_path(path: str | Path, suffixes: tuple[str, ...], what: str) -> Path:
    """``path`` if a file of ``what`` may be written there: its suffix one of ``suffixes``, its
    folder there, and the checks of :func:`check_output_file`; else one :class:`GenzooError`
    that says what to give. Called before the work whose result goes there."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise GenzooError(f"cannot write {what} to {path}: use a file ending in "
                          f"{' or '.join(suffixes)}")
    if not path.parent.exists():
        raise GenzooError(f"cannot write {path}: folder {path.parent} does not exist")
    return check_output_file(path)


def write_output(path: str | Path, payload: bytes) -> bool:
    """Write a file the user asked for, atomically, with the mode their umask gives a new file
    (not the private 0600 of checkpoints); True if it replaced an existing file (the command
    says so). What the OS refuses (no permission, a name too long, a full disk) is one
    :class:`GenzooError` naming the file."""
    path = check_output_file(path)
    replaced = path.exists() or path.is_symlink()
    try:
        atomic_write_bytes(path, payload, mode=0o666 & ~_umask())
    except OSError as exc:
        raise GenzooError(f"cannot write {path}: {exc.strerror or exc}") from None
    return replaced


def write_pictures(path: str | Path, *, array, picture) -> bool:
    """Write ``array()`` (a tensor or array) to a ``.npy`` file, or ``picture()`` (a uint8
    image) to a ``.png``, as ``path``'s suffix says; True if an existing file was replaced.
    Both are callables, so only the one written is built."""
    suffix = Path(path).suffix.lower()
    payload = npy_bytes(array()) if suffix == ".npy" else png_bytes(picture())
    return write_output(path, payload)


def _umask() -> int:
    current = os.umask(0o022)  # the only way to read it is to set it: put it straight back
    os.umask(current)
    return current


def write_samples(samples: torch.Tensor, path: str | Path, *, kind: str,
                  levels: int | None = None) -> bool:
    """Write samples atomically: images to a ``.png`` grid or ``.npy``; series to ``.csv``/``.npy``.
    True if an existing file was replaced."""
    path = check_output_path(path, IMAGE_SUFFIXES if kind == "image" else SERIES_SUFFIXES,
                             f"{kind} samples")
    array = samples.detach().cpu().numpy()
    suffix = path.suffix.lower()
    if suffix in (".npy", ".png"):
        return write_pictures(path, array=lambda: array,
                              picture=lambda: image_grid(samples, levels or 2))
    header = ",".join(f"sample_{i}" for i in range(array.shape[0]))  # one series per column
    lines = [header] + [",".join(f"{v:.10g}" for v in row) for row in array.T]
    return write_output(path, ("\n".join(lines) + "\n").encode())


def check_output_folder(path: str | Path, option: str = "--out") -> Path:
    """Fail now, in one :class:`GenzooError` naming the option, if ``path`` could not be made
    into a folder later (a file in the way, an ancestor that cannot be written); makes nothing,
    so a command that fails afterwards on other input leaves no trace. Called before the work
    whose results go there, so a long run never fails at its last step."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise GenzooError(f"{option} {path}: {part} is a file, not a folder; give a folder")
    existing = next(part for part in (path, *path.parents) if part.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise GenzooError(f"{option} {path}: {existing} cannot be written; give another folder")
    return path


def output_folder(path: str | Path, option: str = "--out") -> Path:
    """``path`` made as a folder (with its parents), or a one-line :class:`GenzooError` that
    names the option and what is in the way (a file, a folder that cannot be written)."""
    path = check_output_folder(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenzooError(f"{option} {path}: cannot make the folder ({exc.strerror})") from None
    return path
