"""Degradations of integer-level images: what a restoration model is given to restore.

Each degradation maps images ``(N, C, H, W)`` of int64 levels in ``[0, L)`` to images of the
same shape, dtype and range, with one strength per call or one per image:

* ``mask:P`` hides a random fraction P of the pixels, exactly ``round(P * H * W)`` per image
  (all channels of a pixel together), chosen independently per image, and sets them to level 0
  (the background of digits, mnist and shapes: ink is erased, holes are punched). The model is
  not told which pixels were hidden: restoration is *blind*, as in CodeFormer.
* ``noise:S`` adds Gaussian noise of standard deviation S levels, then rounds to the nearest
  level and clips to ``[0, L - 1]``.
* ``blur:S`` convolves with a Gaussian of standard deviation S pixels (separable, radius
  ``ceil(3 S)``, edges replicated), then rounds.
* ``down:F`` averages over F x F blocks (area downsampling to ``ceil(H / F) x ceil(W / F)``),
  upsamples back bilinearly and rounds: detail finer than F pixels is gone.

A spec is ``name:strength`` (:func:`parse_degradation`); a training range is
``name:low-high`` (:func:`parse_ranges`). Randomness comes from the ``generator`` passed in
(or torch's global one), so a seed gives the same degraded images.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import BadConfig


def _mask(x: torch.Tensor, p: torch.Tensor, levels: int, generator) -> torch.Tensor:
    n, _, height, width = x.shape
    hidden = (p * height * width).round().long()  # (N,) pixels to hide per image
    rank = torch.rand(n, height * width, generator=generator, device=x.device).argsort(1)
    rank = rank.argsort(1)  # each pixel's place in a random order, per image
    return x.masked_fill((rank < hidden[:, None]).view(n, 1, height, width), 0)


def _noise(x: torch.Tensor, s: torch.Tensor, levels: int, generator) -> torch.Tensor:
    eps = torch.randn(x.shape, generator=generator, device=x.device)
    return (x + s.view(-1, 1, 1, 1) * eps).round().clamp(0, levels - 1).long()


def _blur(x: torch.Tensor, s: torch.Tensor, levels: int, generator) -> torch.Tensor:
    radius = math.ceil(3 * float(s.max())) if len(s) else 0
    if radius == 0:
        return x.clone()
    n, c, height, width = x.shape
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float32)
    sigma = s.clamp_min(1e-6).view(-1, 1)  # sigma 0: every weight but the centre's is 0
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))  # (N, 2r + 1)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (N*C, 2r + 1)
    flat = x.float().reshape(1, n * c, height, width)  # one group per image and channel
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"),
                    kernel.view(n * c, 1, 1, -1), groups=n * c)  # along rows
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"),
                    kernel.view(n * c, 1, -1, 1), groups=n * c)  # along columns
    return flat.view(n, c, height, width).round().clamp(0, levels - 1).long()


def _down(x: torch.Tensor, f: torch.Tensor, levels: int, generator) -> torch.Tensor:
    out = x.clone()
    height, width = x.shape[-2:]
    for factor in f.long().unique().tolist():
        if factor <= 1:
            continue
        chosen = f.long() == factor
        small = F.interpolate(x[chosen].float(), mode="area",
                              size=(math.ceil(height / factor), math.ceil(width / factor)))
        back = F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
        out[chosen] = back.round().clamp(0, levels - 1).long()
    return out


@dataclass(frozen=True)
class Kind:
    """A degradation: its name, its strength's symbol and valid range, and what it does."""

    name: str
    symbol: str
    low: float
    high: float
    integer: bool
    what: str
    example: str
    apply: Callable

    @property
    def range_text(self) -> str:
        ends = f"{self.low:g}..{self.high:g}" if self.integer else f"[{self.low:g}, {self.high:g}]"
        return f"{self.symbol} in {ends}" + (" (a whole number)" if self.integer else "")

    def describe(self) -> str:
        return f"{self.name}:{self.symbol} ({self.what}; {self.range_text})"


KINDS = {kind.name: kind for kind in (
    Kind("mask", "P", 0.0, 1.0, False, "hide a random fraction P of the pixels, set to level 0",
         "mask:0.5", _mask),
    Kind("noise", "S", 0.0, 255.0, False, "add Gaussian noise of std S levels, rounded, clipped",
         "noise:3", _noise),
    Kind("blur", "S", 0.0, 4.0, False, "Gaussian blur of std S pixels", "blur:1", _blur),
    Kind("down", "F", 1.0, 8.0, True, "downsample by F, upsample back", "down:2", _down),
)}


def known_degradations() -> str:
    """Every degradation with its strength and range, for messages and help texts."""
    return ", ".join(kind.describe() for kind in KINDS.values())


@dataclass(frozen=True)
class Degradation:
    """One degradation at one strength: ``Degradation(KINDS["mask"], 0.5)`` is ``mask:0.5``."""

    kind: Kind
    strength: float

    def __str__(self) -> str:
        return f"{self.kind.name}:{self.strength:g}"

    def apply(self, images: torch.Tensor, levels: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """The degraded images: int64 levels of the same shape."""
        strength = torch.full((len(images),), float(self.strength), device=images.device)
        return self.kind.apply(images.long(), strength, levels, generator)


def _kind(spec: str, name: str) -> Kind:
    if name not in KINDS:
        raise BadConfig(f"unknown degradation {spec!r}; known: {known_degradations()}")
    return KINDS[name]


def _number(spec: str, kind: Kind, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadConfig(f"degradation {spec!r}: the strength after '{kind.name}:' must be a "
                        f"number, {kind.range_text}, e.g. {kind.example}") from None
    if not kind.low <= value <= kind.high:  # also refuses nan
        raise BadConfig(f"degradation {spec!r}: strength out of range: {kind.range_text}, "
                        f"got {value:g}")
    if kind.integer and value != int(value):
        raise BadConfig(f"degradation {spec!r}: {kind.symbol} must be a whole number "
                        f"({kind.range_text}), got {value:g}")
    return value


def parse_degradation(spec: str) -> Degradation:
    """``"mask:0.5"`` -> ``Degradation(mask, 0.5)``; a clear error for an unknown name (listing
    the known ones), a missing or non-numeric strength, or one out of range (naming it)."""
    text = str(spec).strip().lower()
    name, sep, value = text.partition(":")
    kind = _kind(spec, name)
    if not sep or not value.strip():
        raise BadConfig(f"degradation {spec!r} needs a strength: {kind.name}:{kind.symbol} with "
                        f"{kind.range_text}, e.g. {kind.example}")
    return Degradation(kind, _number(spec, kind, value.strip()))


def parse_ranges(text: str) -> list[tuple[Kind, float, float]]:
    """``"mask:0-0.8,noise:1-4,down:2"`` -> ``[(mask, 0, 0.8), (noise, 1, 4), (down, 2, 2)]``:
    the degradations a restoration model trains on and their strength ranges."""
    ranges = []
    for part in filter(None, (p.strip().lower() for p in str(text).split(","))):
        name, sep, values = part.partition(":")
        kind = _kind(part, name)
        if not sep or not values:
            raise BadConfig(f"training degradation {part!r}: give {kind.name}:LOW-HIGH or "
                            f"{kind.name}:VALUE with {kind.range_text}, e.g. {kind.example}")
        low, _, high = values.partition("-")
        low = _number(part, kind, low)
        high = _number(part, kind, high) if high else low
        if high < low:
            raise BadConfig(f"training degradation {part!r}: the range must run from low to "
                            f"high, got {low:g} > {high:g}")
        ranges.append((kind, low, high))
    if not ranges:
        raise BadConfig(f"no training degradations in {text!r}: give a comma list like "
                        "mask:0-0.8,noise:1-4")
    return ranges


def random_degradation(images: torch.Tensor, ranges: list[tuple[Kind, float, float]],
                       levels: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image degraded by one of ``ranges`` chosen uniformly, at a strength drawn uniformly
    from its range (whole numbers for ``down``): a batch of training inputs."""
    n, device = len(images), images.device
    images = images.long()
    which = torch.randint(len(ranges), (n,), generator=generator, device=device)
    u = torch.rand(n, generator=generator, device=device)
    out = images.clone()
    for index, (kind, low, high) in enumerate(ranges):
        chosen = which == index
        if not bool(chosen.any()):
            continue
        strength = low + (high - low) * u[chosen]
        if kind.integer:  # each whole number in [low, high] equally often
            strength = (low + ((high - low + 1) * u[chosen]).floor()).clamp(max=high)
        out[chosen] = kind.apply(images[chosen], strength, levels, generator)
    return out
