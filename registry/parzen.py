"""The Parzen-window log-likelihood estimate: a number in bits/dim for a model that only samples.

Goodfellow et al. 2014 (sec. 5) scored their GAN by fitting a Gaussian Parzen window (a kernel
density estimate) to samples of the model and reporting its log-likelihood of the test set, as
Breuleux, Bengio & Vincent 2011 proposed; the kernel width sigma is chosen on a validation set.
Theis, van den Oord & Bethge 2016 ("A note on the evaluation of generative models") show that
this estimate is biased and unreliable in high dimensions: it can rank a model below one that
just copies training images, and needs far more samples than anyone draws. So genzoo reports it
only as a labelled estimate, never next to exact numbers or bounds as if it were one of them.

To put it in genzoo's common unit (bits per dimension of the same discrete data), the kernel is
integrated over each level's bin, so the KDE is an exact distribution over discrete images. With
n samples s_1..s_n of D dimensions each, sigma in level units and Phi the standard normal CDF,

    p(x) = 1/n sum_j prod_d P(x_d | s_jd),
    P(k | s) = Phi((k + 1/2 - s) / sigma) - Phi((k - 1/2 - s) / sigma)

with the first bin's lower edge at -inf and the last bin's upper edge at +inf, so P(. | s) sums
to exactly 1 over the levels 0..L-1 and p(x) to exactly 1 over all L^D images. log p(x) is a
log-mean-exp over samples of sums over dimensions. Because samples are levels too, P(k | s)
is an L x L table, looked up rather than recomputed.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .errors import BadConfig, BadData
from .model import GenerativeModel

NOTE = ("Parzen-window estimate from model samples (Goodfellow et al. 2014): biased and "
        "unreliable in high dimensions (Theis, van den Oord & Bethge 2016), never comparable "
        "to exact likelihoods or bounds.")
# sigma grid in units of the data's range (levels - 1), as the paper's grid on pixels in [0, 1].
DEFAULT_SIGMAS = tuple(float(s) for s in np.geomspace(0.02, 1.0, 16))
CHUNK_ELEMENTS = 2 ** 23  # float64 elements per operand of one pass: 64 MB
MATMUL_MAX_LEVELS = 32  # up to this many levels, sum over dimensions by a matrix product


def _check_sigma(sigma) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0 \
            or not math.isfinite(sigma):
        raise BadConfig(f"the Parzen window's sigma must be a positive number, got {sigma!r}")
    return float(sigma)


def _check_levels(images: torch.Tensor, levels: int, what: str) -> torch.Tensor:
    if not torch.is_tensor(images) or images.is_floating_point() or images.dim() < 2:
        raise BadData(f"{what} must be an integer tensor (N, ...) of levels, got "
                      f"{getattr(images, 'dtype', type(images).__name__)} of shape "
                      f"{tuple(getattr(images, 'shape', ()))}")
    if len(images) and (int(images.min()) < 0 or int(images.max()) >= levels):
        raise BadData(f"{what} must lie in [0, {levels}), got values in "
                      f"[{int(images.min())}, {int(images.max())}]")
    return images.flatten(1).long()


def bin_log_probs(sigma: float, levels: int) -> torch.Tensor:
    """``T[k, j] = log P(level k | sample at level j)``: (L, L) float64, each column sums to 1.

    log(Phi(b) - Phi(a)) is computed from log-CDFs (on the side of 0 where they do not round to
    1), so the far tails stay finite for small sigma.
    """
    k = torch.arange(levels, dtype=torch.float64)
    diff = k[:, None] - k[None, :]  # (L, L): level minus sample
    lo = torch.where(k[:, None] == 0, -math.inf, (diff - 0.5) / sigma)
    hi = torch.where(k[:, None] == levels - 1, math.inf, (diff + 0.5) / sigma)
    # Phi(hi) - Phi(lo) = Phi(-lo) - Phi(-hi): use the side where both are left of the mode.
    flip = lo > 0
    a, b = torch.where(flip, -hi, lo), torch.where(flip, -lo, hi)
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    return log_b + torch.log(-torch.expm1(log_a - log_b))


def parzen_log_prob(samples: torch.Tensor, x: torch.Tensor, sigma: float,
                    levels: int) -> torch.Tensor:
    """log p(x) in nats under the bin-integrated Gaussian Parzen window on ``samples``: (N,).

    ``samples`` (S, ...) and ``x`` (N, ...) are integer levels in [0, levels) of the same
    shape per item; ``sigma`` is in level units. Computed in chunks of images and samples, with
    a running log-sum-exp over sample chunks, so thousands of 784-dimensional samples fit.
    """
    sigma = _check_sigma(sigma)
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise BadData(f"levels must be an integer of at least 2, got {levels!r}")
    s = _check_levels(samples, levels, "samples")  # (S, D)
    xs = _check_levels(x, levels, "images")  # (N, D)
    if len(s) < 1:
        raise BadConfig("the Parzen window needs at least 1 sample, got 0")
    if s.shape[1] != xs.shape[1]:
        raise BadData(f"samples have {s.shape[1]} dimensions per item, the images "
                      f"{xs.shape[1]}")
    table = bin_log_probs(sigma, levels)  # (L, L)
    n_s, dims = s.shape
    # Few levels: sum_d T[x_d, s_d] = <T[x] one-hot-flattened, one_hot(s)>, a matrix product
    # over D*L; many levels: gather table entries directly (D per pair instead of D*L).
    by_matmul = levels <= MATMUL_MAX_LEVELS
    if by_matmul:  # operands (n, D*L) and (m, D*L) of up to CHUNK_ELEMENTS each
        s_chunk = x_chunk = max(1, CHUNK_ELEMENTS // (dims * levels))
    else:  # T[x] as (D, L, n) and an (m, n) running sum
        x_chunk = max(1, CHUNK_ELEMENTS // (dims * levels))
        s_chunk = max(1, CHUNK_ELEMENTS // x_chunk)
    out = []
    for i in range(0, len(xs), x_chunk):
        xb = xs[i:i + x_chunk]  # (n, D)
        rows = table[xb]  # (n, D, L): T[x_d, :]
        rows = rows.flatten(1) if by_matmul else rows.permute(1, 2, 0).contiguous()
        total = torch.full((len(xb),), -math.inf, dtype=torch.float64)
        for j in range(0, n_s, s_chunk):
            sb = s[j:j + s_chunk]  # (m, D)
            if by_matmul:
                onehot = torch.nn.functional.one_hot(sb, levels).to(torch.float64).flatten(1)
                logp = rows @ onehot.T  # (n, m)
            else:  # one row lookup per dimension: T[x_d, s_d] for all pairs, (m, n)
                acc = torch.zeros(len(sb), len(xb), dtype=torch.float64)
                for d in range(dims):
                    acc += rows[d].index_select(0, sb[:, d])
                logp = acc.T
            total = torch.logaddexp(total, torch.logsumexp(logp, 1))
        out.append(total - math.log(n_s))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def _draw(model: GenerativeModel, n: int, seed: int, batch: int = 1000) -> torch.Tensor:
    generator = torch.Generator(device=model.device).manual_seed(seed)
    with torch.no_grad():
        parts = [model.sample(min(batch, n - i), generator=generator).cpu()
                 for i in range(0, n, batch)]
    return torch.cat(parts)


def parzen_estimate(model: GenerativeModel, data, n_samples: int = 10_000,
                    sigmas=None, seed: int = 0, n_valid: int = 500) -> dict:
    """The Parzen-window estimate of ``model`` on ``data``'s test split, in bits/dim.

    Draws ``n_samples`` images from the model (seeded by ``seed``), picks sigma from
    ``sigmas`` (level units; default: 2% to 100% of the range levels - 1, geometric) by the
    estimate on the validation split (a fixed random slice of ``n_valid`` of it, when it is
    larger), as Goodfellow et al. did, and scores the test split with it. Choosing on training
    images instead would reward a model that returns training images with a narrow window.
    Returns ``parzen_bits_per_dim``, ``sigma``, ``n_samples``, ``note`` and the validation curve
    (``sigmas``, ``valid_bits_per_dim``).
    """
    if getattr(data, "kind", None) != "image" or getattr(data, "levels", None) is None:
        raise BadData("the Parzen estimate needs an image dataset with discrete levels, got "
                      f"{getattr(data, 'kind', type(data).__name__)!r} data")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise BadConfig(f"n_samples must be an integer of at least 1, got {n_samples!r}")
    if isinstance(n_valid, bool) or not isinstance(n_valid, int) or n_valid < 1:
        raise BadConfig(f"n_valid must be an integer of at least 1, got {n_valid!r}")
    levels = int(data.levels)
    grid = [s * (levels - 1) for s in DEFAULT_SIGMAS] if sigmas is None else list(sigmas)
    if not grid:
        raise BadConfig("the Parzen window needs at least one sigma to try, got none")
    grid = [_check_sigma(s) for s in grid]
    if tuple(model.data.shape) != tuple(data.train.shape[1:]):
        raise BadData(f"the model samples images of shape {tuple(model.data.shape)}, the data "
                      f"has {tuple(data.train.shape[1:])}")
    samples = _draw(model, n_samples, seed)
    _check_levels(samples, levels, "model samples")
    held_out, _ = data.split("val")
    if len(held_out) == 0:
        raise BadData(f"dataset {data.name!r} has an empty validation split: the Parzen "
                      "window's sigma is chosen on it")
    pick = torch.randperm(len(held_out), generator=torch.Generator().manual_seed(seed))
    valid = held_out[pick[:n_valid]]
    dims = samples[0].numel()
    scale = dims * math.log(2)
    valid_bits = [-float(parzen_log_prob(samples, valid, s, levels).mean()) / scale
                  for s in grid]
    best = int(np.argmin(valid_bits))
    test = parzen_log_prob(samples, data.test, grid[best], levels)
    return {"parzen_bits_per_dim": -float(test.mean()) / scale, "sigma": grid[best],
            "n_samples": n_samples, "note": NOTE, "sigmas": grid,
            "valid_bits_per_dim": valid_bits, "n_valid": len(valid), "n_test": len(data.test)}
