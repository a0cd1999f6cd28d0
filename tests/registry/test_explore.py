"""The latent explorer's views (registry/explore.py) on small VAEs and VQ-VAEs, and
`genzoo explore` end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genzoo.plugins.vae import VAE, VAEConfig
from genzoo.plugins.vqvae import VQVAE, VQVAEConfig
from genzoo.registry import explore
from genzoo.registry.errors import BadConfig, BadData
from genzoo.registry.model import DataInfo

from cli_helpers import last_json, run

INFO = DataInfo(kind="image", shape=(1, 6, 6), levels=3)


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(3, (n, *INFO.shape), generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def vae():
    torch.manual_seed(0)
    return VAE(VAEConfig(latent_dim=3, hidden=16), INFO).eval()


@pytest.fixture
def vqvae():
    torch.manual_seed(0)
    return VQVAE(VQVAEConfig(codebook_size=5, code_dim=4, hidden=8), INFO).eval()


def test_traversal_moves_one_dimension_and_holds_the_others(vae):
    image = images(1)[0]
    grid = explore.traversal(vae, image, dims=[0, 2], steps=5, span=2.0)
    assert grid.shape == (2, 5, *INFO.shape)
    z = vae.encode(image[None])[0]
    codes = z.repeat(5, 1)
    codes[:, 2] = torch.linspace(-2.0, 2.0, 5)
    assert torch.allclose(grid[1], vae.decode(codes))
    assert (grid >= 0).all() and (grid <= INFO.levels - 1).all()  # decoder means, in levels


def test_traversal_refuses_what_it_cannot_walk(vae, vqvae):
    with pytest.raises(BadConfig, match="latent dimension 3 does not exist: this model has "
                                        "dimensions 0..2"):
        explore.traversal(vae, images(1)[0], dims=[3])
    with pytest.raises(BadData, match="codes are discrete"):
        explore.traversal(vqvae, images(1)[0])


@pytest.mark.parametrize("which", ["vae", "vqvae"])
def test_interpolation_runs_from_one_reconstruction_to_the_other(which, request):
    model = request.getfixturevalue(which)
    a, b = images(2)
    frames = explore.interpolation(model, a, b, steps=6)
    assert frames.shape == (6, *INFO.shape)
    ends = explore.reconstructions(model, torch.stack([a, b]))
    assert torch.allclose(frames[0], ends[0], atol=1e-5)
    assert torch.allclose(frames[-1], ends[1], atol=1e-5)


def test_discrete_interpolation_swaps_code_positions_in_raster_order(vqvae):
    a, b = images(2, seed=3)
    codes = vqvae.encode(torch.stack([a, b]))
    frames = explore.interpolation(vqvae, a, b, steps=3)  # t = 0, 1/2, 1
    half = codes[0].flatten().clone()
    cut = math.ceil(half.numel() / 2)
    half[:cut] = codes[1].flatten()[:cut]
    assert torch.allclose(frames[1], vqvae.decode(half.view(1, *codes.shape[1:]))[0])


def test_manifold_places_images_at_the_priors_quantiles():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=2, hidden=16), INFO).eval()
    grid = explore.manifold(model, per_side=4)
    assert grid.shape == (16, *INFO.shape)
    normal = torch.distributions.Normal(0.0, 1.0)
    values = normal.icdf(torch.tensor([0.125, 0.375, 0.625, 0.875]))
    # row 0 is the highest z2, column 3 the highest z1
    corner = model.decode(torch.stack([values[3], values[3]])[None])
    assert torch.allclose(grid[3], corner[0], atol=1e-5)
    with pytest.raises(BadData, match="train with --set latent_dim=2"):
        explore.manifold(VAE(VAEConfig(latent_dim=3, hidden=8), INFO))


def test_codes_in_2d(vae, vqvae):
    x = images(40)
    points, how = explore.codes_2d(vae, explore.encode_all(vae, x), "pca")
    assert points.shape == (40, 2) and how.startswith("PCA of the codes")
    points, how = explore.codes_2d(vae, explore.encode_all(vae, x), "tsne")
    assert points.shape == (40, 2) and how.startswith("t-SNE")
    points, how = explore.codes_2d(vqvae, explore.encode_all(vqvae, x), "pca")
    assert points.shape == (40, 2)
    same = torch.zeros(40, *vqvae.latent_shape, dtype=torch.int64)  # one code for every image
    points, how = explore.codes_2d(vqvae, same, "tsne")
    assert how == "none: every image has the same code" and not points.any()
    torch.manual_seed(0)
    flat = VAE(VAEConfig(latent_dim=2, hidden=8), INFO).eval()
    codes = explore.encode_all(flat, x)
    points, how = explore.codes_2d(flat, codes)
    assert how == "the 2-d latent itself" and np.allclose(points, codes.numpy())
    with pytest.raises(BadConfig, match="method must be 'pca' or 'tsne'"):
        explore.codes_2d(vae, explore.encode_all(vae, x), "umap")


def test_factor_correlations_on_known_answers():
    rng = np.random.default_rng(0)
    size = rng.integers(2, 9, 200)
    features = np.stack([size * 2.0 + 1.0, rng.normal(size=200), np.ones(200)], 1)
    table = explore.factor_correlations(features, {"size": torch.from_numpy(size)})
    assert table.loc["z0", "size"] == pytest.approx(1.0)
    assert table.loc["z1", "size"] < 0.2  # noise: |r| ~ 1/sqrt(200) = 0.07
    assert table.loc["z2", "size"] == 0.0  # a constant dimension tracks nothing


def test_codebook_usage_and_perplexity(vqvae):
    counts, perplexity = explore.codebook_usage(vqvae, torch.arange(5).repeat(4))
    assert counts.tolist() == [4] * 5 and perplexity == pytest.approx(5.0)
    counts, perplexity = explore.codebook_usage(vqvae, torch.zeros(10, dtype=torch.int64))
    assert counts.tolist() == [10, 0, 0, 0, 0] and perplexity == pytest.approx(1.0)


# -- genzoo explore ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch):
    monkeypatch.setenv("GENZOO_PLUGINS", "")


def test_explore_writes_each_view(tmp_path):
    record = last_json(run("train", "vae", "-d", "shapes", "--set", "size=8", "--set",
                           "latent_dim=2", "--set", "hidden=16", "--steps", 5, "--json", "-q"))
    run_id = record["run_id"]
    for view in ("reconstruct", "traverse", "interpolate", "manifold"):
        out = tmp_path / f"{view}.png"
        result = run("explore", run_id, "--view", view, "-n", 4, "-o", out)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", result.output
    run("explore", run_id, "--view", "factors", "-o", tmp_path / "factors.csv")
    header, *rows = (tmp_path / "factors.csv").read_text().splitlines()
    assert header == ",shape,size,row,col" and [r.split(",")[0] for r in rows] == ["z0", "z1"]
    run("explore", run_id, "--view", "codes", "-o", tmp_path / "codes.npy")
    assert np.load(tmp_path / "codes.npy").shape == (1000, 2)


def test_explore_errors_are_one_line(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("explore-out")
    vae_run = last_json(run("train", "vae", "-d", "digits", "--set", "hidden=8", "--steps", 1,
                            "--json", "-q"))["run_id"]
    ar_run = last_json(run("train", "independent", "-d", "digits", "--steps", 0, "--json",
                           "-q"))["run_id"]
    cases = [
        ([ar_run, "-o", tmp_path / "x.png"], "has no latent code to explore"),
        ([vae_run, "--view", "factors", "-o", tmp_path / "x.png"], "writes a .csv file"),
        ([vae_run, "--view", "factors", "-o", tmp_path / "x.csv"],
         "dataset 'digits' has no known factors"),
        ([vae_run, "--view", "manifold", "-o", tmp_path / "x.png"], "latent_dim=2"),
        ([vae_run, "--index", 5000, "-o", tmp_path / "x.png"], "--index 5000: the digits test"),
        ([vae_run, "-o", tmp_path / "missing" / "x.png"], "does not exist"),
    ]
    for args, message in cases:
        result = run("explore", *args, ok=False)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())  # nothing half-written
