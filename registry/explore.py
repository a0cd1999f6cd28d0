"""The latent explorer's views, for any :class:`LatentVariableModel` (VAE, VQ-VAE).

Each function takes a trained model and images and returns tensors or tables; the dashboard's
"Latent explorer" page and ``genzoo explore`` draw them. Continuous codes (a VAE's posterior
mean) can be walked along and mixed linearly; discrete codes (a VQ-VAE's grid of codebook
indices) are mixed position by position, and drawn as a grid.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from .errors import BadConfig, BadData
from .latent import LatentVariableModel


def require_latent(model, run_id: str = "") -> LatentVariableModel:
    """The model itself, or a clear error when it has no encoder to explore."""
    if not isinstance(model, LatentVariableModel):
        which = f"run {run_id!r} " if run_id else ""
        raise BadData(f"{which}is a {type(model).__name__}, which has no latent code to explore "
                      "(latent-variable models: vae, gumbel-vae, vqvae, a flow)")
    return model


def _batched(fn, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    return torch.cat([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def encode_all(model: LatentVariableModel, images: torch.Tensor) -> torch.Tensor:
    """Codes of every image, in batches, on the CPU."""
    model.eval()
    return _batched(lambda b: model.encode(b.to(model.device)).cpu(), images)


@torch.no_grad()
def reconstructions(model: LatentVariableModel, images: torch.Tensor) -> torch.Tensor:
    """``decode(encode(x))`` as float images in level units, on the CPU."""
    model.eval()
    return _batched(lambda b: model.reconstruct(b.to(model.device)).cpu(), images)


@torch.no_grad()
def traversal(model: LatentVariableModel, image: torch.Tensor, dims: list[int] | None = None,
              steps: int = 7, span: float = 3.0) -> torch.Tensor:
    """Decode the image's code with one dimension moved from -span to +span (prior standard
    deviations), the others held: (len(dims), steps, C, H, W)."""
    if model.latent_kind != "continuous":
        raise BadData("traversals walk a continuous latent; this model's codes are discrete")
    (latent_dim,) = model.latent_shape
    dims = list(range(latent_dim)) if dims is None else list(dims)
    bad = [d for d in dims if not 0 <= d < latent_dim]
    if bad:
        raise BadConfig(f"latent dimension {bad[0]} does not exist: this model has "
                        f"dimensions 0..{latent_dim - 1}")
    if steps < 2:
        raise BadConfig(f"a traversal needs at least 2 steps, got {steps}")
    model.eval()
    z = model.encode(image[None].to(model.device))[0]
    values = torch.linspace(-span, span, steps, device=z.device)
    rows = []
    for d in dims:
        codes = z.repeat(steps, 1)
        codes[:, d] = values
        rows.append(model.decode(codes).cpu())
    return torch.stack(rows)


@torch.no_grad()
def interpolation(model: LatentVariableModel, first: torch.Tensor, second: torch.Tensor,
                  steps: int = 8) -> torch.Tensor:
    """Decoded codes between two images' codes: (steps, C, H, W), ends included.

    Continuous codes are mixed linearly, z = (1 - t) z_a + t z_b. Discrete codes cannot be
    averaged, so a growing share of positions (in raster order) takes the second image's code.
    """
    if steps < 2:
        raise BadConfig(f"an interpolation needs at least 2 steps, got {steps}")
    model.eval()
    z = model.encode(torch.stack([first, second]).to(model.device))
    t = torch.linspace(0.0, 1.0, steps, device=z.device)
    if model.latent_kind == "continuous":
        codes = (1 - t)[:, None] * z[0] + t[:, None] * z[1]
    else:
        flat = z.flatten(1)  # (2, h*w)
        taken = torch.arange(flat.shape[1], device=z.device)[None] < (t[:, None] * flat.shape[1])
        codes = torch.where(taken, flat[1], flat[0]).view(steps, *z.shape[1:])
    return model.decode(codes).cpu()


@torch.no_grad()
def manifold(model: LatentVariableModel, per_side: int = 12) -> torch.Tensor:
    """Kingma & Welling's figure: decoded images on a grid over a 2-d latent space, placed at
    the standard normal's quantiles so each cell covers equal prior mass:
    (per_side * per_side, C, H, W), rows from high z_2 to low, columns from low z_1 to high."""
    if model.latent_kind != "continuous" or tuple(model.latent_shape) != (2,):
        raise BadData(f"the manifold is drawn for a 2-d continuous latent (train with "
                      f"--set latent_dim=2); this model's code has shape "
                      f"{tuple(model.latent_shape)}")
    model.eval()
    quantiles = torch.linspace(0.5 / per_side, 1 - 0.5 / per_side, per_side)
    values = math.sqrt(2.0) * torch.erfinv(2 * quantiles - 1)  # the N(0, 1) inverse CDF
    z1, z2 = torch.meshgrid(values, values.flip(0), indexing="xy")
    codes = torch.stack([z1.flatten(), z2.flatten()], 1).to(model.device)
    return model.decode(codes).cpu()


def codebook_size(model: LatentVariableModel, codes: torch.Tensor) -> int:
    """K, the number of codebook entries (from the model's config, else the codes seen)."""
    return int(model.codebook_size) if model.codebook_size else int(codes.max()) + 1


def code_features(model: LatentVariableModel, codes: torch.Tensor) -> np.ndarray:
    """One feature row per image: the continuous code itself, or the one-hot code grid."""
    if model.latent_kind == "continuous":
        return codes.double().numpy()
    size = codebook_size(model, codes)
    return torch.nn.functional.one_hot(codes.flatten(1), size).flatten(1).double().numpy()


def codes_2d(model: LatentVariableModel, codes: torch.Tensor, method: str = "pca",
             seed: int = 0) -> tuple[np.ndarray, str]:
    """The codes in two dimensions, and how they got there: the codes themselves when they are
    2-d, else PCA or t-SNE (scikit-learn) on the code features."""
    features = code_features(model, codes)
    if features.shape[1] == 2 and model.latent_kind == "continuous":
        return features, "the 2-d latent itself"
    if len(features) < 3 or np.ptp(features, axis=0).max() == 0:
        # nothing to spread out (and t-SNE's PCA start would divide by zero)
        return np.zeros((len(features), 2)), "none: every image has the same code"
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(features)
        share = float(pca.explained_variance_ratio_.sum())
        return pca.transform(features), f"PCA of the codes ({share:.0%} of their variance)"
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(2.0, (len(features) - 1) / 3))
        embedded = TSNE(n_components=2, perplexity=perplexity, init="pca",
                        random_state=seed).fit_transform(features)
        return embedded, f"t-SNE of the codes (perplexity {perplexity:g})"
    raise BadConfig(f"method must be 'pca' or 'tsne', got {method!r}")


def factor_correlations(features: np.ndarray, factors: dict[str, torch.Tensor],
                        names: list[str] | None = None) -> pd.DataFrame:
    """|Pearson correlation| between each latent dimension (rows) and each known factor of
    variation (columns); a constant dimension or factor correlates 0 with everything."""
    columns = {}
    for factor, values in factors.items():
        y = np.asarray(values, dtype=float)
        out = []
        for j in range(features.shape[1]):
            x = features[:, j]
            spread = x.std() * y.std()
            out.append(0.0 if spread == 0 else abs(float(np.mean((x - x.mean()) * (y - y.mean()))
                                                         / spread)))
        columns[factor] = out
    index = names or [f"z{j}" for j in range(features.shape[1])]
    return pd.DataFrame(columns, index=index)


@torch.no_grad()
def codebook_usage(model: LatentVariableModel, codes: torch.Tensor) -> tuple[np.ndarray, float]:
    """How often each codebook entry is used over ``codes``, and the perplexity exp(H) of that
    distribution (K when all K codes are used equally, 1 when one code does everything)."""
    if model.latent_kind != "discrete":
        raise BadData("codebook usage applies to discrete latents (a VQ-VAE)")
    size = codebook_size(model, codes)
    counts = torch.bincount(codes.flatten(), minlength=size).double()
    p = counts / counts.sum()
    entropy = -float((p[p > 0] * p[p > 0].log()).sum())
    return counts.numpy(), math.exp(entropy)


def factor_table(model: LatentVariableModel, codes: torch.Tensor,
                 factors: dict[str, torch.Tensor], components: int = 8) -> pd.DataFrame:
    """The factor correlation table for a model's codes: one row per latent dimension, or for
    discrete codes (a one-hot grid too wide to read) per principal component of that grid."""
    features, names = code_features(model, codes), None
    if model.latent_kind == "discrete":
        from sklearn.decomposition import PCA

        features = PCA(n_components=min(components, *features.shape),
                       random_state=0).fit_transform(features)
        names = [f"PC{j + 1}" for j in range(features.shape[1])]
    return factor_correlations(features, {k: v[:len(codes)] for k, v in factors.items()}, names)
