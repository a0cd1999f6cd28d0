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
SERIES_SUFFIXES = (".csv", ".npy")


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


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 image array as PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def write_samples(samples: torch.Tensor, path: str | Path, *, kind: str,
                  levels: int | None = None) -> Path:
    """Write samples atomically: images to a ``.png`` grid or ``.npy``; series to ``.csv``/``.npy``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    allowed = IMAGE_SUFFIXES if kind == "image" else SERIES_SUFFIXES
    if suffix not in allowed:
        raise GenzooError(f"cannot write {kind} samples to {path}: use a file ending in "
                          f"{' or '.join(allowed)}")
    if not path.parent.exists():
        raise GenzooError(f"cannot write {path}: folder {path.parent} does not exist")
    array = samples.detach().cpu().numpy()
    if suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, array)
        payload = buffer.getvalue()
    elif suffix == ".png":
        payload = png_bytes(image_grid(samples, levels or 2))
    else:  # one sampled series per column
        header = ",".join(f"sample_{i}" for i in range(array.shape[0]))
        lines = [header] + [",".join(f"{v:.10g}" for v in row) for row in array.T]
        payload = ("\n".join(lines) + "\n").encode()
    atomic_write_bytes(path, payload)
    return path


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
