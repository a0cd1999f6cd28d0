"""Lecture mode's formulas, warm-up computations, live views of runs and figures.

The page (``views/lecture.py``) walks through lecture 2 in its order and only draws what this
module computes: the unsupervised warm-up on the digits (k-means, PCA, 1-d and 2-d density
estimation with scikit-learn), then each family's formulas next to a number or a picture from
the newest run of a model that obeys it.

Formulas are written in the lecture's notation (``p_\\theta``, ``q_\\phi``, ``x^{(i)}``,
``\\mu_{z|x}``); the VQ-VAE loss and the GAN objective, which this part of the lecture does not
write out, follow their papers. Warm-up results are cached by their simple arguments
(``st.cache_data``); views of a run are cached by the store's home, the run id and its
``updated_at``, like the other pages' (a retrained run is recomputed).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from genzoo.dashboard import data, density2d_data
from genzoo.registry.autoregressive import AutoregressiveImageModel
from genzoo.registry.chains import MarkovChainSampler, check_chain
from genzoo.registry.errors import BadData, GenzooError
from genzoo.registry.latent import GaussianLatentModel
from genzoo.registry.outputs import grid_scale, image_grid
from genzoo.registry.plugins import Registry
from genzoo.registry.store import RunRecord

# The lecture's contents, in its order: (anchor, tab label, section title).
PARTS = (("warm-up", "1 · Unsupervised warm-up", "Supervised vs unsupervised learning"),
         ("density", "2 · Density estimation", "Density estimation"),
         ("generative", "3 · Generative models", "Generative models"),
         ("autoregressive", "4 · PixelRNN/PixelCNN", "Autoregressive models (PixelRNN/PixelCNN)"),
         ("vae", "5 · VAE", "Variational autoencoders (VAE)"),
         ("vqvae", "6 · VQ-VAE", "VQ-VAE"),
         ("gan", "7 · GAN", "Generative adversarial networks (GAN)"),
         ("beyond", "8 · Flows and diffusion", "Beyond this lecture: flows and diffusion"),
         ("research", "9 · Active areas", "Active areas of research, and the last leaf"))

# The VAE slide's last lines, word for word, each with the models that answer it (those
# registered are shown) and the command that trains one.
RESEARCH_LINES = (
    ("More flexible approximations, e.g. richer approximate posterior instead of diagonal "
     "Gaussian", ("vae-iaf",), "genzoo train vae-iaf --dataset digits --seconds 120",
     "An inverse autoregressive flow (Kingma et al. 2016) bends q(z|x) away from a diagonal "
     "Gaussian; its log-density stays exact, so the ELBO is still a bound, with the KL now "
     "estimated by sampling."),
    ("e.g., Gaussian Mixture Models (GMMs)", ("vae-vamp",),
     "genzoo train vae-vamp --dataset digits --seconds 120",
     "A mixture prior: the VampPrior (Tomczak & Welling 2018) is a mixture of the encoder's "
     "posteriors at learned pseudo-inputs; `--set prior=mog` is a plain mixture of Gaussians."),
    ("Categorical Distributions", ("gumbel-vae", "vqvae-prior"),
     "genzoo train gumbel-vae --dataset digits --seconds 120",
     "Discrete latents trained through the Gumbel-softmax relaxation (Jang et al. 2017; "
     "Maddison et al. 2017), its bound with the discrete KL, beside the VQ-VAE's."),
)


# Pros and cons as the lecture's slides list them (GANs: the gan plugin's, see gan_claims).
LECTURE_CLAIMS = {
    "autoregressive": {
        "pros": ("Can explicitly compute likelihood p(x)", "Easy to optimize", "Good samples"),
        "cons": ("Sequential generation => slow",)},
    "vae": {
        "pros": ("Principled approach to generative models", "Interpretable latent space",
                 "Allows inference of q(z|x), can be useful feature representation for other "
                 "tasks"),
        "cons": ("Maximizes lower bound of likelihood: okay, but not as good evaluation as "
                 "PixelRNN/PixelCNN",
                 "Samples blurrier and lower quality compared to state-of-the-art (GANs)")},
}
# The VQ-VAE slides compare the two latent spaces instead; CodeFormer's slides add the limit.
GAUSSIAN_VS_VQ = {"Gaussian distribution": ("Continuous latent space",
                                            "Blurred images and lower quality"),
                  "Vector quantized": ("Discrete latent space, alleviate posterior collapse",
                                       "Easier to interpret latent variables")}
VQ_LIMIT = "CodeBook lookup with KNN becomes unreliable at low resolutions"

# What to run when the store has no run for a section (the README's commands).
TRAIN_COMMANDS = {
    "ar": "genzoo train ar --dataset sunspots --set p=9",
    "autoregressive": "genzoo train pixelcnn --dataset digits --seconds 120",
    "vae": "genzoo train vae --dataset digits --seconds 120",
    "vqvae": "genzoo train vqvae --dataset digits --seconds 90",
    "gan": "genzoo train gan --dataset digits --seconds 120",
    "flow": "genzoo train realnvp --dataset digits --seconds 120",
    "diffusion": "genzoo train ddpm --dataset digits --seconds 120",
    "rbm": "genzoo train rbm --dataset mnist-binary --seconds 120",
    "beta": "genzoo train vae --dataset shapes --set beta=4 --seconds 120",
}
SAMPLING_MODELS = ("pixelcnn", "vae", "vqvae-prior", "gan")  # one per family, for the speed table

WARMUP_DATASET = "digits"
WARMUP_SEED = 0
TOY_DEFAULT = "8-gaussians"
LN2 = math.log(2.0)


# -- the warm-up: unsupervised learning on the digits --------------------------------------------


def _digits(split: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Digits of one split as rows of 64 level values (floats), their labels, and the levels."""
    dataset = data.dataset(WARMUP_DATASET)
    images, labels = dataset.split(split)
    return (images.reshape(len(images), -1).double().numpy(), labels.numpy(), dataset.levels)


def _shape() -> tuple[int, int, int]:
    return tuple(data.dataset(WARMUP_DATASET).train.shape[1:])


def _picture(rows: np.ndarray, levels: int, columns: int, target_px: int = 480) -> np.ndarray:
    """Rows of pixel values (in levels, may be fractional) as one tiled picture."""
    channels, height, width = _shape()
    images = torch.from_numpy(np.clip(rows, 0, levels - 1)).reshape(-1, channels, height, width)
    scale = grid_scale(height, width, columns=columns, target_px=target_px)
    return image_grid(images, levels, columns=columns, scale=scale)


@st.cache_data(show_spinner="Clustering the digits…", max_entries=16)
def kmeans_digits(k: int = 10, seed: int = WARMUP_SEED) -> dict:
    """k-means on the digits' training images (no labels used), compared with the labels after.

    Returns ``picture`` (the k centres as images, ordered by the digit most of their members
    are), ``majority`` (that digit per centre), ``sizes``, ``purity`` (share of images whose
    cluster's majority digit is their own), ``ari`` (adjusted Rand index: 0 for a random
    clustering, 1 for the labels themselves), ``nmi`` and ``inertia`` (the objective, in
    levels²).
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    x, labels, levels = _digits("train")
    model = KMeans(n_clusters=int(k), n_init=10, random_state=int(seed)).fit(x)
    assigned = model.labels_
    majority = np.array([np.bincount(labels[assigned == j], minlength=10).argmax()
                         if (assigned == j).any() else -1 for j in range(k)])
    order = np.argsort(majority, kind="stable")  # centres read 0..9 when the clusters are digits
    purity = float(np.mean(majority[assigned] == labels))
    return {"picture": _picture(model.cluster_centers_[order], levels, columns=int(k)),
            "majority": majority[order].tolist(),
            "sizes": np.bincount(assigned, minlength=k)[order].tolist(),
            "purity": purity, "ari": float(adjusted_rand_score(labels, assigned)),
            "nmi": float(normalized_mutual_info_score(labels, assigned)),
            "inertia": float(model.inertia_), "n": len(x)}


@st.cache_resource(show_spinner=False, max_entries=4)
def _pca(seed: int = WARMUP_SEED):
    """All principal components of the digits' training images (shared, not copied)."""
    from sklearn.decomposition import PCA

    x, _, _ = _digits("train")
    return PCA(random_state=seed).fit(x)


@st.cache_data(show_spinner=False, max_entries=4)
def pca_digits() -> dict:
    """PCA on the training digits: ``ratio`` (each component's share of the variance),
    ``cumulative`` share, and ``frame``, the test images in the first two components (levels)
    with their labels, for a scatter coloured by digit."""
    pca = _pca()
    x_test, labels, _ = _digits("test")
    points = pca.transform(x_test)[:, :2]
    frame = pd.DataFrame({"PC 1": points[:, 0], "PC 2": points[:, 1],
                          "label": labels.astype(str)})
    ratio = pca.explained_variance_ratio_
    return {"ratio": ratio, "cumulative": np.cumsum(ratio), "frame": frame}


@st.cache_data(show_spinner=False, max_entries=64)
def pca_reconstructions(k: int, n: int = 10) -> dict:
    """The first ``n`` test digits above their reconstructions from ``k`` components
    (``picture``), the mean squared error per pixel over the whole test split (levels²) and the
    share of the training variance the ``k`` components keep."""
    pca = _pca()
    x_test, _, levels = _digits("test")
    k = int(min(max(k, 0), pca.n_components_))
    weights = pca.components_[:k]  # (k, D)
    recon = pca.mean_ + (x_test - pca.mean_) @ weights.T @ weights  # x̂ = x̄ + W Wᵀ (x - x̄)
    both = np.concatenate([x_test[:n], recon[:n]])
    return {"picture": _picture(both, levels, columns=n), "k": k,
            "mse": float(np.mean((recon - x_test) ** 2)),
            "kept": float(pca.explained_variance_ratio_[:k].sum())}


def gaussian_kde_log_density(train: np.ndarray, points: np.ndarray, bandwidths) -> np.ndarray:
    """log p̂_h(x) of a 1-d Gaussian kernel density estimate at ``points``, exactly (numpy):
    shape (M,) for one bandwidth h, (len(bandwidths), M) for several.

    The same estimator as scikit-learn's ``KernelDensity(kernel="gaussian")``, without its
    tree: the squared distances are computed once, so a whole range of bandwidths is cheap.
    """
    hs = np.atleast_1d(np.asarray(bandwidths, float))
    if (hs <= 0).any():
        raise BadData(f"every bandwidth must be positive, got {bandwidths}")
    squared = (np.asarray(points, float)[:, None] - np.asarray(train, float)[None, :]) ** 2
    nearest = squared.min(axis=1)  # log-sum-exp around the largest term: stable for a tiny h
    out = np.empty((len(hs), len(squared)))
    for row, h in enumerate(hs):
        scale = -0.5 / h ** 2
        out[row] = (np.log(np.exp(scale * (squared - nearest[:, None])).sum(axis=1))
                    + scale * nearest - math.log(len(train) * h) - 0.5 * math.log(2 * math.pi))
    return out[0] if np.ndim(bandwidths) == 0 else out


def _first_component() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The digits' first principal component (levels) on the train, validation, test splits."""
    pca = _pca()
    return tuple(pca.transform(_digits(split)[0])[:, 0] for split in ("train", "val", "test"))


@st.cache_data(show_spinner=False, max_entries=128)
def density_1d(bandwidth: float, bins: int = 40) -> dict:
    """1-d density estimation of the digits' first principal component (in levels).

    A histogram of the training values and scikit-learn's Gaussian ``KernelDensity`` with
    ``bandwidth``, both as densities on ``x``; ``validation`` is the KDE's mean log-likelihood
    of the validation values (nats per image: what a bandwidth is chosen on), ``silverman`` the
    rule-of-thumb bandwidth.
    """
    from sklearn.neighbors import KernelDensity

    train, val, _ = _first_component()
    kde = KernelDensity(kernel="gaussian", bandwidth=float(bandwidth)).fit(train[:, None])
    span = train.max() - train.min()
    x = np.linspace(train.min() - 0.1 * span, train.max() + 0.1 * span, 300)
    counts, edges = np.histogram(train, bins=bins, density=True)
    iqr = np.subtract(*np.percentile(train, [75, 25]))
    silverman = 0.9 * min(train.std(), iqr / 1.34) * len(train) ** -0.2
    return {"x": x, "density": np.exp(kde.score_samples(x[:, None])), "hist": counts,
            "edges": edges, "train": train,
            "validation": float(kde.score_samples(val[:, None]).mean()),
            "silverman": float(silverman), "bandwidth": float(bandwidth)}


@st.cache_data(show_spinner=False, max_entries=4)
def bandwidth_curve(low: float = 0.2, high: float = 20.0, n: int = 25) -> pd.DataFrame:
    """Mean log-likelihood (nats per image) of the 1-d KDE against its bandwidth, on the
    validation split (what h is chosen on) and the test split (only reported): too narrow
    memorizes the training values, too wide blurs the modes away."""
    train, val, test = _first_component()
    bandwidths = np.geomspace(low, high, n)
    return pd.DataFrame({
        "bandwidth": bandwidths,
        "validation": gaussian_kde_log_density(train, val, bandwidths).mean(axis=1),
        "test": gaussian_kde_log_density(train, test, bandwidths).mean(axis=1)})


def toy_names(reg: Registry) -> list[str]:
    """The registered 2-d toy datasets (grid-valued points), the default first."""
    names = [name for name, spec in reg.datasets.items() if spec.points]
    return sorted(names, key=lambda name: name != TOY_DEFAULT)


def _toy_points(name: str) -> tuple[np.ndarray, np.ndarray, int]:
    toy = data.dataset(name)
    return (toy.train.reshape(-1, 2).double().numpy(), toy.test.reshape(-1, 2).numpy(),
            int(toy.levels))


def _grid_density(log_density: np.ndarray, test: np.ndarray, grid: int) -> dict:
    """A log-density at every cell centre turned into a probability per cell (normalised over
    the grid), with the held-out bits/dim of the test cells: the unit every model on this toy
    reports, so the two are comparable."""
    log_p = log_density - np.logaddexp.reduce(log_density)  # (G*G,), sums to 1
    prob = np.exp(log_p).reshape(grid, grid)  # [x, y]
    bits = -log_p.reshape(grid, grid)[test[:, 0], test[:, 1]].mean() / (2 * LN2)
    return {"density": prob, "bits_per_dim": float(bits)}


def _cells(grid: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], 1).astype(float)  # [x, y] order, x slowest


@st.cache_data(show_spinner="Estimating the 2-d density…", max_entries=64)
def kde_2d(name: str, bandwidth: float) -> dict:
    """scikit-learn's Gaussian ``KernelDensity`` (``bandwidth`` in grid cells) fitted to a toy's
    training points: ``density`` (probability per cell, [x, y]) and held-out ``bits_per_dim``."""
    from sklearn.neighbors import KernelDensity

    train, test, grid = _toy_points(name)
    # rtol: a 0.1% tolerance on each density value, 10x faster than exact and invisible
    kde = KernelDensity(kernel="gaussian", bandwidth=float(bandwidth), rtol=1e-3).fit(train)
    return _grid_density(kde.score_samples(_cells(grid)), test, grid)


@st.cache_data(show_spinner="Fitting the mixture…", max_entries=64)
def gmm_2d(name: str, components: int, seed: int = WARMUP_SEED) -> dict:
    """scikit-learn's ``GaussianMixture`` with ``components`` full-covariance Gaussians (EM)
    fitted to a toy's training points: ``density`` per cell, held-out ``bits_per_dim`` and the
    fitted ``means`` (cells)."""
    from sklearn.mixture import GaussianMixture

    train, test, grid = _toy_points(name)
    gmm = GaussianMixture(int(components), covariance_type="full", reg_covar=1e-2,
                          random_state=int(seed)).fit(train)
    return {**_grid_density(gmm.score_samples(_cells(grid)), test, grid), "means": gmm.means_}


# -- live demos of the VAE's formulas (no run needed) -------------------------------------------


@st.cache_data(show_spinner=False, max_entries=256)
def reparameterize(mu: float, sigma: float, n: int = 5000, seed: int = 0) -> dict:
    """The reparameterization trick in one dimension, with autograd.

    ε ~ N(0, 1) is drawn first (an input to the graph), then z = μ + ε σ. Returns the samples
    ``z``, their ``mean`` and ``std`` (they approach μ and σ), and the gradients of mean(z)
    with respect to μ (exactly 1) and σ (mean(ε)) that backpropagation gets through the
    sample.
    """
    generator = torch.Generator().manual_seed(int(seed))
    eps = torch.randn(int(n), generator=generator, dtype=torch.float64)
    mu_t = torch.tensor(float(mu), dtype=torch.float64, requires_grad=True)
    sigma_t = torch.tensor(float(sigma), dtype=torch.float64, requires_grad=True)
    z = mu_t + eps * sigma_t
    z.mean().backward()
    values = z.detach().numpy()
    return {"z": values, "mean": float(values.mean()), "std": float(values.std()),
            "grad_mu": float(mu_t.grad), "grad_sigma": float(sigma_t.grad),
            "mean_eps": float(eps.mean())}


def gaussian_kl(mu, sigma) -> float:
    """KL(N(μ, diag σ²) ‖ N(0, I)) in nats, in closed form: ½ Σ (μ² + σ² − log σ² − 1)."""
    mu, sigma = np.atleast_1d(np.asarray(mu, float)), np.atleast_1d(np.asarray(sigma, float))
    if (sigma <= 0).any():
        raise BadData("every σ must be positive")
    return float(0.5 * np.sum(mu ** 2 + sigma ** 2 - np.log(sigma ** 2) - 1.0))


def monte_carlo_kl(mu, sigma, n: int = 20000, seed: int = 0) -> dict:
    """KL(q ‖ p) estimated as the mean of log q(z) − log p(z) over z ~ q = N(μ, diag σ²),
    p = N(0, I): ``estimate`` (nats) and its standard ``error``. Unbiased; what a model would
    have to do without the closed form."""
    mu, sigma = np.atleast_1d(np.asarray(mu, float)), np.atleast_1d(np.asarray(sigma, float))
    eps = np.random.default_rng(int(seed)).standard_normal((int(n), len(mu)))
    z = mu + eps * sigma
    # log q - log p per dimension; the log 2π terms cancel
    log_ratio = (-0.5 * eps ** 2 - np.log(sigma) + 0.5 * z ** 2).sum(1)
    return {"estimate": float(log_ratio.mean()),
            "error": float(log_ratio.std(ddof=1) / math.sqrt(len(log_ratio)))}


@st.cache_data(show_spinner=False, max_entries=256)
def kl_check(mu: float, sigma: float, n: int = 20000, seed: int = 0) -> dict:
    """The closed form next to the Monte-Carlo estimate, for one μ and σ, and as curves over
    σ (``frame``: sigma, closed, mc, error) to show they agree everywhere."""
    sigmas = np.round(np.linspace(0.2, 3.0, 15), 3)
    rows = []
    for i, s in enumerate(sigmas):
        mc = monte_carlo_kl(mu, s, n, seed + i + 1)  # a fresh draw per σ: independent points
        rows.append({"sigma": s, "closed": gaussian_kl(mu, s), "mc": mc["estimate"],
                     "error": mc["error"]})
    return {"closed": gaussian_kl(mu, sigma), **monte_carlo_kl(mu, sigma, n, seed),
            "frame": pd.DataFrame(rows, columns=["sigma", "closed", "mc", "error"])}


# -- which run shows a section ------------------------------------------------------------------


def is_picture_run(reg: Registry, record: RunRecord) -> bool:
    """A completed run of a registered model on a registered picture dataset (not 2-d points,
    not a series)."""
    if not (record.status == "completed" and record.model in reg.models
            and record.dataset in reg.datasets and reg.datasets[record.dataset].kind == "image"):
        return False
    return not data.is_points(record.dataset)


def newest_run(reg: Registry, records: list[RunRecord], models, *,
               kind: str = "picture") -> RunRecord | None:
    """The newest completed run of any of ``models`` on a picture dataset (``kind="picture"``)
    or on a series (``kind="series"``); None if the store has none."""
    for record in records:  # newest first
        if record.model not in models or record.status != "completed":
            continue
        if kind == "picture" and is_picture_run(reg, record):
            return record
        if kind == "series" and data.data_kind(reg, record.dataset) == "series":
            return record
    return None


def is_lecture_vae(record: RunRecord) -> bool:
    """A vae run with the lecture's Gaussian pieces: the standard normal prior and a diagonal
    Gaussian posterior, whose KL has the closed form the slides give (runs stored before the
    options existed have them)."""
    config = record.config or {}
    return config.get("prior", "standard") == "standard" and \
        config.get("posterior", "gaussian") == "gaussian"


def newest_lecture_vae(reg: Registry, records: list[RunRecord]) -> RunRecord | None:
    """The newest completed vae run on pictures with the lecture's Gaussian pieces."""
    return newest_run(reg, [r for r in records if r.model != "vae" or is_lecture_vae(r)],
                      ("vae",))


def child_run(records: list[RunRecord], parent: RunRecord, model: str) -> RunRecord | None:
    """The newest completed second-stage run (``model``) trained on ``parent``'s codes."""
    return next((r for r in records if r.model == model and r.status == "completed"
                 and (r.config or {}).get("parent_run") == parent.run_id), None)


def sampling_frame(reg: Registry, records: list[RunRecord]) -> pd.DataFrame:
    """Sampling time per image (batch 1 and 64) of the newest picture run of one model per
    family: what "sequential generation is slow" looks like in milliseconds."""
    rows = []
    for name in SAMPLING_MODELS:
        record = newest_run(reg, records, (name,))
        if record is None:
            continue
        metrics = record.metrics or {}
        rows.append({"model": name, "sampling": reg.models[name].sampling,
                     "ms/image, batch 1": metrics.get("sample_ms_per_image_b1"),
                     "ms/image, batch 64": metrics.get("sample_ms_per_image_b64"),
                     "run": record.run_id})
    return pd.DataFrame(rows, columns=["model", "sampling", "ms/image, batch 1",
                                       "ms/image, batch 64", "run"])


def gan_claims(reg: Registry) -> dict[str, tuple[str, ...]]:
    """The GAN's pros and cons as the gan plugin registers them (this part of the lecture's
    slides stops before GANs), or none if it is not loaded."""
    return registered_claims(reg, "gan")


def registered_claims(reg: Registry, name: str) -> dict[str, tuple[str, ...]]:
    """A model's pros and cons as its plugin registers them, or none if it is not loaded."""
    if name not in reg.models:
        return {"pros": (), "cons": ()}
    spec = reg.models[name]
    return {"pros": tuple(c.text for c in spec.pros), "cons": tuple(c.text for c in spec.cons)}


def newest_numbers(reg: Registry, records: list[RunRecord], models: tuple[str, ...],
                   dataset: str = "digits") -> pd.DataFrame:
    """The newest completed run on ``dataset`` of each of ``models`` (and of the plain vae, the
    yardstick), with its held-out number and its kind: exact, a bound, or an estimate."""
    rows = []
    for name in ("vae", *models):
        record = next((r for r in records if r.model == name and r.dataset == dataset
                       and r.status == "completed"  # newest first; the yardstick plain
                       and (name != "vae" or is_lecture_vae(r))), None)
        if record is None or name not in reg.models:
            continue
        metrics = record.metrics or {}
        iwae = sorted((int(k.rsplit("_", 1)[1]), v) for k, v in metrics.items()
                      if k.startswith("test_bits_per_dim_iwae_") and v is not None)
        estimate = metrics.get("test_bits_per_dim_estimate")
        rows.append({"model": name, "run id": record.run_id,
                     "kind": metrics.get("bound", "exact"),
                     "test bits/dim": metrics.get("test_bits_per_dim", estimate),
                     "± (AIS spread)": metrics.get("test_bits_per_dim_estimate_std"),
                     "tightest IWAE": f"{iwae[-1][1]:.4f} (K={iwae[-1][0]})" if iwae else "—",
                     "train seconds": round(record.train_seconds, 1)})
    return pd.DataFrame(rows, columns=["model", "run id", "kind", "test bits/dim",
                                       "± (AIS spread)", "tightest IWAE", "train seconds"])


def models_of_kind(reg: Registry, base: type) -> tuple[str, ...]:
    """Registered models whose class is a ``base`` (a FlowModel, a DiffusionModel), by name."""
    return tuple(sorted(name for name, spec in reg.models.items()
                        if issubclass(spec.model_class, base)))


# -- live views of runs -------------------------------------------------------------------------


def fitted_ar_latex(info: dict, per_line: int = 5) -> str:
    """An AR run's fitted model in the lecture's form, numbers in place of c, φ_i and σ²
    (``per_line`` terms to a line, so that an AR(9) fits the page)."""
    terms = [f"{float(info.get('const', 0.0)):.3g}"]
    for lag, phi in enumerate(info.get("coefs") or [], start=1):
        terms.append(rf"{'-' if phi < 0 else '+'} {abs(phi):.3f}\, X_{{t-{lag}}}")
    lines = [" ".join(terms[i:i + per_line]) for i in range(0, len(terms), per_line)]
    sigma2 = info.get("sigma2")
    noise = (rf", \qquad \epsilon_t \sim \mathcal{{N}}(0, {float(sigma2):.4g})"
             if sigma2 is not None else "")
    body = r" \\ &\quad ".join(lines)
    return rf"\begin{{aligned}} X_t &= {body} + \epsilon_t{noise} \end{{aligned}}"


def _test_image(loaded, index: int) -> tuple[torch.Tensor, int | None]:
    images = loaded.data.test
    if not 0 <= index < len(images):
        raise BadData(f"test image {index} does not exist: the {loaded.data.name} test split "
                      f"has images 0..{len(images) - 1}")
    labels = loaded.data.test_labels
    return images[index:index + 1], (int(labels[index]) if labels is not None else None)


@data.cached_by_run(show_spinner="Scoring every pixel…", max_entries=64)
def _pixel_bits(loaded, index: int) -> dict:
    model = loaded.model
    if not isinstance(model, AutoregressiveImageModel):
        raise BadData(f"{loaded.spec.name} does not give per-pixel conditionals")
    image, label = _test_image(loaded, index)
    context = (torch.tensor([label], device=model.device)
               if model.conditional and label is not None else None)
    with torch.no_grad():
        params = model.network(model.scale(image.to(model.device)), context)
        nats = -model.dim_log_probs(params, image.to(model.device)).cpu()  # (1, C, H, W)
        total = -float(model.log_prob(image.to(model.device),
                                      **({"labels": context} if context is not None else {})))
    bits = (nats[0].sum(0) / LN2).double().numpy()  # channels of a pixel together: (H, W)
    _, height, width = image.shape[1:]
    return {"bits": bits, "total_bits": float(bits.sum()), "log_prob_bits": total / LN2,
            "dims": int(image[0].numel()), "label": label,
            "picture": image_grid(image, loaded.data.levels,
                                  scale=grid_scale(height, width, target_px=240))}


def pixel_bits(record: RunRecord, index: int) -> dict:
    """The chain rule on one test image of an autoregressive run: ``bits`` (H, W), each
    pixel's −log₂ p(x_i | x_1..x_{i−1}); their sum ``total_bits``, which is −log₂ p(x) as
    ``log_prob`` gives it (``log_prob_bits``); ``dims`` and the image's ``picture``."""
    return _pixel_bits(record, int(index))


@data.cached_by_run(show_spinner="Encoding…", max_entries=64)
def _elbo_split(loaded, index: int, mc_samples: int) -> dict:
    model = loaded.model
    if not isinstance(model, GaussianLatentModel):
        raise BadData(f"{loaded.spec.name} has no Gaussian posterior q(z|x)")
    image, label = _test_image(loaded, index)
    image = image.to(model.device)
    with torch.no_grad():
        mu, logvar = (t[0].double().cpu().numpy() for t in model.posterior(image))
        elbo = float(model.log_prob(image)[0])  # nats: E_q[log p(x|z)] - KL, fixed noise
    sigma = np.exp(0.5 * logvar)
    kl = gaussian_kl(mu, sigma)
    dims = int(image[0].numel())
    return {"mu": mu, "sigma": sigma, "kl": kl, "recon": elbo + kl, "elbo": elbo,
            "bits_per_dim": -elbo / (dims * LN2), "dims": dims, "label": label,
            "kl_mc": monte_carlo_kl(mu, sigma, mc_samples, seed=index)}


def elbo_split(record: RunRecord, index: int, mc_samples: int = 20000) -> dict:
    """A VAE run's ELBO on one test image, split as the lecture splits it: ``recon`` =
    E_q[log p(x|z)] and ``kl`` = D_KL(q(z|x) ‖ p(z)) in closed form (nats), ``elbo`` = recon −
    kl, ``bits_per_dim``; the posterior's ``mu`` and ``sigma``, and ``kl_mc``, the Monte-Carlo
    estimate of the same KL."""
    return _elbo_split(record, int(index), int(mc_samples))


CHAIN_FRAMES = 8  # frames after the start, evenly spaced over the chain
CHAINS = 6


@data.cached_by_run(show_spinner="Running the Gibbs chains…", max_entries=32)
def _chain_frames(loaded, steps: int) -> dict:
    model = loaded.model
    if not isinstance(model, MarkovChainSampler):
        raise BadData(f"{loaded.spec.name} is not sampled by a Markov chain")
    every = max(1, steps // CHAIN_FRAMES)
    check_chain(steps, every)
    with torch.no_grad():
        frames = model.gibbs_chain(CHAINS, steps, every, torch.Generator().manual_seed(0))
    taken = list(range(0, steps + 1, every))[:len(frames)]
    # one row per chain, its frames left to right
    images = frames.transpose(0, 1).flatten(0, 1).cpu()
    height, width = images.shape[-2:]
    grid = image_grid(images, loaded.data.levels, columns=len(frames),
                      scale=grid_scale(height, width, columns=len(frames), target_px=96))
    return {"grid": grid, "steps": taken}


def chain_frames(record: RunRecord, steps: int) -> dict:
    """``CHAINS`` Gibbs chains of a Markov-chain model (an RBM) over ``steps`` sweeps from the
    same start: ``grid`` (one chain a row, frames left to right) and the ``steps`` shown."""
    return _chain_frames(record, int(steps))


@data.cached_by_run(show_spinner="Sampling the prior…", max_entries=32)
def _prior_estimates(loaded, index: int, ks: tuple, seeds: int) -> pd.DataFrame:
    model = loaded.model
    if not isinstance(model, GaussianLatentModel):
        raise BadData(f"{loaded.spec.name} has no decoder p(x|z) to average")
    image, _ = _test_image(loaded, index)
    image = image.to(model.device)
    (latent_dim,) = model.latent_shape
    rows = []
    with torch.no_grad():
        for seed in range(seeds):
            generator = torch.Generator().manual_seed(seed)
            for k in ks:
                z = torch.randn(k, latent_dim, generator=generator).to(model.device)  # z ~ p(z)
                log_px_z = model.recon_log_prob(z, image.expand(k, *image.shape[1:]))
                estimate = float(torch.logsumexp(log_px_z.double(), 0) - math.log(k))
                rows.append({"k": k, "seed": seed, "estimate": estimate})
    return pd.DataFrame(rows, columns=["k", "seed", "estimate"])


def prior_estimates(record: RunRecord, index: int, ks=(1, 10, 100, 1000),
                    seeds: int = 8) -> pd.DataFrame:
    """The lecture's naive estimate log (1/k) Σ p(x|z⁽ⁱ⁾), z⁽ⁱ⁾ ~ p(z), of one test image's
    log-likelihood (nats), for each k and ``seeds`` independent draws: its spread is the
    variance the lecture warns about."""
    return _prior_estimates(record, int(index), tuple(int(k) for k in ks), int(seeds))


@data.cached_by_run(show_spinner=False, max_entries=32)
def _no_density_reason(loaded) -> str:
    image, _ = _test_image(loaded, 0)
    try:
        loaded.model.log_prob(image.to(loaded.model.device))
    except GenzooError as exc:
        return str(exc)
    return ""


def no_density_reason(record: RunRecord) -> str:
    """What an implicit run answers when asked for log p(x) of a test image (its refusal), or
    an empty string if it answered with a number."""
    return _no_density_reason(record)


def loss_terms(run_id: str, names) -> pd.DataFrame:
    """The logged terms ``names`` of a run's loss: columns step, name, value (see
    :func:`genzoo.dashboard.data.loss_parts`)."""
    parts = data.loss_parts(run_id)
    return parts[parts["name"].isin(list(names))].reset_index(drop=True)


# -- figures ------------------------------------------------------------------------------------


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 360) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin=dict(t=60, b=40, l=50, r=20))
    return fig


def variance_figure(ratio: np.ndarray, k: int | None = None) -> go.Figure:
    """Each principal component's share of the variance (bars) and the running total (line),
    with the number of components in use marked."""
    n = np.arange(1, len(ratio) + 1)
    fig = go.Figure([
        go.Bar(x=n, y=100 * ratio, name="this component",
               hovertemplate="component %{x}: %{y:.2f}% of the variance<extra></extra>"),
        go.Scatter(x=n, y=100 * np.cumsum(ratio), mode="lines+markers", name="cumulative",
                   marker=dict(size=4),
                   hovertemplate="first %{x} components: %{y:.1f}%<extra></extra>")])
    if k:
        fig.add_vline(x=k, line_dash="dot", line_color="grey",
                      annotation_text=f"k = {k}", annotation_position="top left")
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return _layout(fig, "PCA: explained variance of the digits",
                   "number of principal components", "share of the variance (%)")


def projection_figure(frame: pd.DataFrame) -> go.Figure:
    """The test digits in the first two principal components, coloured by their label (which
    PCA never saw)."""
    import plotly.express as px

    fig = px.scatter(frame, x="PC 1", y="PC 2", color="label",
                     category_orders={"label": [str(d) for d in range(10)]})
    fig.update_traces(marker=dict(size=5, opacity=0.75))
    return _layout(fig, "Test digits in 2-d (PCA), coloured by label",
                   "principal component 1 (levels)", "principal component 2 (levels)", 420)


def density_1d_figure(result: dict) -> go.Figure:
    """Histogram and kernel density estimate of the first principal component."""
    edges = result["edges"]
    fig = go.Figure([
        go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=result["hist"], width=np.diff(edges),
               name="histogram", marker_color="rgba(76,120,168,0.45)",
               hovertemplate="%{x:.1f}: %{y:.4f} per level<extra>histogram</extra>"),
        go.Scatter(x=result["x"], y=result["density"], mode="lines",
                   name=f"KDE, h = {result['bandwidth']:g}", line=dict(color="#e45756", width=2),
                   hovertemplate="%{x:.1f}: %{y:.4f} per level<extra>KDE</extra>")])
    fig.update_layout(bargap=0, legend=dict(orientation="h", y=-0.25))
    return _layout(fig, "1-d density estimation: principal component 1 of the digits",
                   "principal component 1 (levels)", "density (per level)")


def bandwidth_figure(curve: pd.DataFrame, bandwidth: float) -> go.Figure:
    """Log-likelihood against the bandwidth (log axis): validation, where the best h is chosen
    (marked), and test, only reported at that h."""
    best = curve.loc[curve["validation"].idxmax()]
    fig = go.Figure([
        go.Scatter(x=curve["bandwidth"], y=curve["validation"], mode="lines+markers",
                   marker=dict(size=4), name="validation (chooses h)",
                   hovertemplate="h = %{x:.2f}: %{y:.3f} nats<extra>validation</extra>"),
        go.Scatter(x=curve["bandwidth"], y=curve["test"], mode="lines", name="test (reported)",
                   line=dict(dash="dot", color="#888"),
                   hovertemplate="h = %{x:.2f}: %{y:.3f} nats<extra>test</extra>")])
    fig.add_vline(x=bandwidth, line_dash="dot", line_color="#e45756")
    # annotations on a log axis take log10 coordinates (shapes take data coordinates)
    fig.add_annotation(x=math.log10(bandwidth), y=0, yref="paper", yanchor="bottom",
                       text=f"slider: h = {bandwidth:g}", showarrow=False, xanchor="left",
                       font=dict(color="#e45756"))
    fig.add_annotation(x=math.log10(best["bandwidth"]), y=best["validation"], showarrow=True,
                       text=f"chosen on validation: h ≈ {best['bandwidth']:.2g} "
                            f"(test {best['test']:.3f} nats)", ay=-30)
    fig.update_xaxes(type="log")
    fig.update_layout(legend=dict(orientation="h", y=-0.3))
    return _layout(fig, "Choosing the bandwidth on the validation split",
                   "bandwidth h (levels, log scale)",
                   "log-likelihood (nats per image)")


def reparameterization_figure(result: dict, mu: float, sigma: float) -> go.Figure:
    """Histogram of z = μ + ε σ against the density of N(μ, σ²) it should follow."""
    z = result["z"]
    x = np.linspace(mu - 4 * sigma, mu + 4 * sigma, 200)
    pdf = np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    fig = go.Figure([
        go.Histogram(x=z, histnorm="probability density", nbinsx=60, name="z = μ + εσ",
                     marker_color="rgba(76,120,168,0.6)"),
        go.Scatter(x=x, y=pdf, mode="lines", name="N(μ, σ²)", line=dict(color="#e45756"))])
    fig.update_layout(bargap=0, legend=dict(orientation="h", y=-0.25))
    return _layout(fig, f"{len(z):,} reparameterized samples", "z (latent units)",
                   "density (per latent unit)")


def kl_figure(frame: pd.DataFrame, mu: float, sigma: float) -> go.Figure:
    """KL(N(μ, σ²) ‖ N(0, 1)) over σ: the closed form as a line, Monte-Carlo estimates as
    points with ±2 standard errors, the slider's σ marked."""
    fig = go.Figure([
        go.Scatter(x=frame["sigma"], y=frame["closed"], mode="lines", name="closed form",
                   line=dict(color="#4c78a8")),
        go.Scatter(x=frame["sigma"], y=frame["mc"], mode="markers", name="Monte Carlo",
                   marker=dict(color="#e45756", size=7),
                   error_y=dict(type="data", array=2 * frame["error"]))])
    fig.add_vline(x=sigma, line_dash="dot", line_color="grey",
                  annotation_text=f"σ = {sigma:g}", annotation_position="top")
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return _layout(fig, f"KL to the prior, μ = {mu:g}", "σ (latent units)", "KL (nats)")


def pixel_bits_figure(result: dict) -> go.Figure:
    """Each pixel's −log₂ p(x_i | x_<i) as a heatmap, in raster order from the top left."""
    bits = result["bits"]
    fig = go.Figure(go.Heatmap(z=bits, text=np.round(bits, 1), texttemplate="%{text}",
                               colorscale="Reds", colorbar=dict(title="bits"),
                               hovertemplate="row %{y}, column %{x}: %{z:.2f} bits"
                                             "<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    return _layout(fig, f"−log₂ p(x_i | x_<i) per pixel: {result['total_bits']:.1f} bits in all",
                   "column", "row", 380)


def terms_figure(terms: pd.DataFrame, title: str, unit: str,
                 lines: dict[str, float] | None = None, total: tuple[str, ...] = ()) -> go.Figure:
    """Logged loss terms over training steps on one axis; ``total`` names terms to add up into
    one more line, ``lines`` marks reference values (an equilibrium)."""
    fig = go.Figure()
    for name, part in terms.groupby("name", sort=False):
        fig.add_scatter(x=part["step"], y=part["value"], mode="lines", name=name,
                        hovertemplate=f"step %{{x}}: %{{y:.3f}} {unit}<extra>{name}</extra>")
    if total and set(total) <= set(terms["name"]):
        wide = terms.pivot_table(index="step", columns="name", values="value")
        summed = wide[list(total)].sum(axis=1, skipna=False).dropna()
        fig.add_scatter(x=summed.index, y=summed.values, mode="lines", name=" + ".join(total),
                        line=dict(color="black", dash="dash"))
    for label, value in (lines or {}).items():
        fig.add_hline(y=value, line_dash="dot", line_color="grey", annotation_text=label,
                      annotation_position="top right")
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return _layout(fig, title, "training step", unit)


def prior_figure(frame: pd.DataFrame, elbo: float) -> go.Figure:
    """The naive Monte-Carlo estimates for each k (one dot per draw) against the ELBO."""
    fig = go.Figure(go.Scatter(x=frame["k"], y=frame["estimate"], mode="markers",
                               name="log (1/k) Σ p(x|z), z ~ p(z)",
                               marker=dict(size=7, opacity=0.7),
                               hovertemplate="k = %{x}: %{y:.1f} nats<extra></extra>"))
    fig.add_hline(y=elbo, line_dash="dash", line_color="#e45756",
                  annotation_text=f"ELBO {elbo:.1f} nats", annotation_position="bottom right")
    fig.update_xaxes(type="log")
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return _layout(fig, "Estimating log p(x) by sampling the prior",
                   "samples k (log scale)", "estimate of log p(x) (nats per image)")


def density_maps_figure(maps: list[tuple[str, np.ndarray]], zmax: float) -> go.Figure:
    """(G, G) [x, y] densities side by side on one colour scale, in one figure (one chart for
    the browser to draw instead of one per map)."""
    from plotly.subplots import make_subplots

    grid = maps[0][1].shape[0]
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=[title for title, _ in maps],
                        horizontal_spacing=0.06)
    for col, (title, density) in enumerate(maps, start=1):
        fig.add_heatmap(z=density.T, x=np.arange(grid), y=np.arange(grid), zmin=0, zmax=zmax,
                        colorscale=density2d_data.COLOR_SCALE, showscale=col == len(maps),
                        colorbar=dict(title="probability"), name=title,
                        hovertemplate="x=%{x}, y=%{y}: %{z:.2e}<extra></extra>",
                        row=1, col=col)
        fig.update_xaxes(title_text="x (grid cell)", range=[-0.5, grid - 0.5],
                         constrain="domain", row=1, col=col)
        fig.update_yaxes(title_text="y (grid cell)", range=[-0.5, grid - 0.5],
                         scaleanchor=f"x{col if col > 1 else ''}", constrain="domain",
                         row=1, col=col)
    fig.update_layout(title="2-d density estimates next to the true density", height=400,
                      margin=dict(t=80, b=40, l=40, r=20), showlegend=False)
    return fig
