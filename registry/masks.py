"""Completion: named masks that hide part of an image, and the picture of a completion.

An autoregressive image model fills the hidden pixels in raster order, each drawn from
p(x_i | x_<i) (:meth:`AutoregressiveImageModel.complete`). A mask is a bool tensor (H, W),
**True where the pixel is known** (kept), False where the model fills it.

The half masks name the half that is *kept* (``top-half``: the top half is given and the model
draws the bottom, as in the PixelRNN paper's completions: the known pixels all come before the
hidden ones in raster order, so each drawn pixel is an exact sample of p(x_i | x_<i)).
``center`` and ``random:P`` name what is *hidden*; a raster-order model cannot look at the
known pixels after a hidden one, so there its completion ignores them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .autoregressive import AutoregressiveImageModel
from .errors import BadData, GenzooError
from .outputs import image_grid

MASKS = {
    "top-half": "keep the top half, complete the bottom half",
    "bottom-half": "keep the bottom half, complete the top half",
    "left-half": "keep the left half, complete the right half",
    "right-half": "keep the right half, complete the left half",
    "center": "hide a centred square half the image's side, complete it",
    "random:P": "hide a random fraction P of the pixels (0 < P < 1, seeded), e.g. random:0.5",
    "FILE.npy": "any mask: an H x W array, true (or 1) where the pixel is known",
}
MASK_NAMES = ("top-half", "bottom-half", "left-half", "right-half", "center", "random:0.5")
HIDDEN_RGB = (228, 87, 86)  # hidden pixels in the "masked" picture: a colour no grey level has


def known_names() -> str:
    """The mask names a user may give, for error messages and help texts."""
    return ", ".join(MASKS)


def make_mask(name: str, height: int, width: int, *, seed: int = 0) -> torch.Tensor:
    """The mask ``name`` for an ``height`` x ``width`` image: bool (H, W), True = known pixel.

    Raises :class:`BadData` naming the value for an unknown name, a bad fraction, or a mask that
    on this image size would hide nothing or everything (nothing to complete, or nothing given).
    """
    text = str(name).strip().lower()
    known = torch.ones(height, width, dtype=torch.bool)
    if text == "top-half":
        known[height // 2:] = False
    elif text == "bottom-half":
        known[:height - height // 2] = False
    elif text == "left-half":
        known[:, width // 2:] = False
    elif text == "right-half":
        known[:, :width - width // 2] = False
    elif text == "center":
        side = max(1, round(min(height, width) / 2))
        top, left = (height - side) // 2, (width - side) // 2
        known[top:top + side, left:left + side] = False
    elif text == "random" or text.startswith("random:"):
        fraction = _fraction(name, text.partition(":")[2] or "0.5")
        hidden = round(fraction * height * width)
        order = torch.randperm(height * width, generator=torch.Generator().manual_seed(seed))
        known.view(-1)[order[:hidden]] = False
    elif text.endswith(".npy"):
        known = _mask_file(str(name).strip(), height, width)
    else:
        raise BadData(f"unknown mask {name!r}; known masks: {known_names()}")
    if bool(known.all()):
        raise BadData(f"mask {name!r} hides no pixel of a {height}x{width} image: "
                      "nothing to complete")
    if not bool(known.any()):
        raise BadData(f"mask {name!r} hides every pixel of a {height}x{width} image: "
                      "use `genzoo sample` to draw images from nothing")
    return known


def _mask_file(path: str, height: int, width: int) -> torch.Tensor:
    """A mask of any shape from a ``.npy`` file: an (H, W) array of bools, or of 0/1, true where
    the pixel is known. Read without pickle; a clear error for anything else."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise BadData(f"mask file {path!r} does not exist") from None
    except (OSError, ValueError) as exc:
        raise BadData(f"mask file {path!r} is not a .npy array of known pixels: "
                      f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if array.shape != (height, width):
        raise BadData(f"mask file {path!r} has shape {array.shape}; the images are "
                      f"{height}x{width}, so it must be ({height}, {width})")
    if array.dtype != bool and not (np.issubdtype(array.dtype, np.number)
                                    and np.isin(array, (0, 1)).all()):
        raise BadData(f"mask file {path!r} must hold booleans or 0/1 (1 = known pixel), got "
                      f"dtype {array.dtype}")
    return torch.from_numpy(array.astype(bool))


def _fraction(name: str, text: str) -> float:
    try:
        fraction = float(text)
    except ValueError:
        raise BadData(f"mask {name!r}: the fraction after 'random:' must be a number between 0 "
                      f"and 1, like random:0.5; known masks: {known_names()}") from None
    if not 0.0 < fraction < 1.0:
        raise BadData(f"mask {name!r}: the hidden fraction must be strictly between 0 and 1, "
                      f"got {fraction:g}")
    return fraction


def masked_view(images: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """The images as the model is given them: hidden pixels set to -1 (for ``.npy`` files)."""
    known = known.to(images.device).expand(len(images), *images.shape[-2:])  # (N, H, W)
    return torch.where(known[:, None], images, torch.full_like(images, -1))


def masked_picture(images: torch.Tensor, known: torch.Tensor, levels: int, *,
                   columns: int | None = None, scale: int = 4, pad: int = 1) -> np.ndarray:
    """A grid of the images as given to the model, RGB uint8: hidden pixels in
    :data:`HIDDEN_RGB`. ``known`` is (H, W) or (N, H, W); images (N, C, H, W), 1 or 3 channels.
    """
    images = images.cpu()
    known = known.cpu().expand(len(images), *images.shape[-2:])  # (N, H, W)
    grid = _rgb(image_grid(torch.where(known[:, None], images, 0), levels, columns=columns,
                           scale=scale, pad=pad))
    # the same tiling of the hidden flags finds the hidden pixels (255 there, 128 between)
    hidden = image_grid((~known[:, None]).long(), 2, columns=columns, scale=scale, pad=pad)
    grid[hidden == 255] = HIDDEN_RGB
    return grid


def _rgb(grid: np.ndarray) -> np.ndarray:
    return grid.copy() if grid.ndim == 3 else np.repeat(grid[..., None], 3, axis=2)


def completion_grid(original: torch.Tensor, completed: torch.Tensor, known: torch.Tensor,
                    levels: int, *, scale: int = 4, pad: int = 1) -> np.ndarray:
    """Three rows of ``N`` images as one RGB uint8 array: masked input, completion, original."""
    n = len(original)
    rows = [masked_picture(original, known, levels, columns=n, scale=scale, pad=pad)]
    rows += [_rgb(image_grid(images.cpu(), levels, columns=n, scale=scale, pad=pad))
             for images in (completed, original)]
    separator = np.full((pad * 2, rows[0].shape[1], 3), 255, dtype=np.uint8)  # white between
    return np.concatenate([rows[0], separator, rows[1], separator, rows[2]], axis=0)


# -- a completion, for ``genzoo complete`` and the dashboard's Completion page ------------------


def can_complete(spec) -> bool:
    """Whether a registered model can complete images: an autoregressive image model."""
    return spec.data == "image" and issubclass(spec.model_class, AutoregressiveImageModel)


def completing_models(registry) -> list[str]:
    """Every registered model that can complete images, in registry order."""
    return [name for name, spec in registry.models.items() if can_complete(spec)]


def require_completer(loaded, registry) -> AutoregressiveImageModel:
    """A loaded run's model if it can complete images; else one error naming the models that
    can."""
    if not isinstance(loaded.model, AutoregressiveImageModel):
        able = completing_models(registry)
        raise GenzooError(f"run {loaded.record.run_id} (model {loaded.spec.name!r}, "
                          f"{loaded.spec.family}) cannot complete images; completion needs an "
                          f"autoregressive image model: {', '.join(able) or 'none is registered'}")
    return loaded.model


@dataclass(frozen=True)
class Completion:
    """Images with the pixels a mask hides drawn by the model: ``original`` and ``completed``
    (N, C, H, W) levels, ``known`` (H, W), True where a pixel was given, and the ``seconds``
    the drawing took."""

    original: torch.Tensor
    completed: torch.Tensor
    known: torch.Tensor
    seconds: float

    @property
    def masked(self) -> torch.Tensor:
        """The images as the model was given them: hidden pixels -1."""
        return masked_view(self.original, self.known)

    @property
    def hidden(self) -> int:
        """How many pixels of each image the model drew."""
        return int((~self.known).sum())

    def grid(self, levels: int, *, scale: int) -> np.ndarray:
        """Masked, completed and original rows as one RGB picture."""
        return completion_grid(self.original, self.completed, self.known, levels, scale=scale)


@torch.no_grad()
def complete_images(model: AutoregressiveImageModel, images: torch.Tensor, mask: str, *,
                    seed: int = 0, labels=None) -> Completion:
    """Hide what ``mask`` (a name of :data:`MASKS`) hides of each image (N, C, H, W) and let
    ``model`` draw it, seeded by ``seed`` (which also places a ``random:P`` mask). A
    conditional model is given ``labels`` (a class, or one per image) where there are any."""
    known = make_mask(mask, *images.shape[-2:], seed=seed)
    context = {"labels": labels} if model.conditional and labels is not None else {}
    generator = torch.Generator(device=model.device).manual_seed(seed)
    started = time.perf_counter()
    completed = model.complete(images, known, generator=generator, **context).cpu()
    return Completion(original=images.cpu(), completed=completed, known=known,
                      seconds=time.perf_counter() - started)
