"""Lecture mode: every formula of the lecture on the page, the warm-up's numbers against
scikit-learn, the live views against the runs they read, and a clean page on an empty store."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from genzoo.dashboard import formulas, lecture_data
from genzoo.registry.plugins import get_registry
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run

from page_helpers import array, assert_clean, charts_by_title, texts

PAGE = "lecture"


@pytest.fixture(scope="module")
def lecture_home(demo_home, tmp_path_factory):
    """The demo store (copied: other tests count its runs) plus a small VQ-VAE on the digits,
    which the demo does not train."""
    home = tmp_path_factory.mktemp("lecture-home") / "store"
    shutil.copytree(demo_home, home)
    vq = start_run(get_registry(), RunStore(home), "vqvae", "digits", steps=20,
                   settings=LoopSettings(progress=False))
    assert vq.status == "completed"
    return home


@pytest.fixture
def lecture_store(lecture_home, monkeypatch):
    monkeypatch.setenv("GENZOO_HOME", str(lecture_home))
    return lecture_home


def latex(at) -> list[str]:
    """The formulas the page drew (st.latex wraps each in "$$" lines)."""
    return [e.value.strip("$").strip() for e in at.latex]


def chart(at, prefix: str) -> dict:
    return next(spec for title, spec in charts_by_title(at).items() if title.startswith(prefix))


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def number(text: str) -> float:
    return float(text.split()[0].rstrip("%").replace("−", "-"))


def whole_lecture(app):
    """The page with every part shown ("All parts"), as the tests below read it."""
    at = app(PAGE)
    assert_clean(at)
    at.radio(key="lecture-part").set_value("All parts").run()
    return at


def digits_train():
    from genzoo.registry.runs import load_dataset

    digits = load_dataset(get_registry(), "digits")
    return digits, digits.train.reshape(len(digits.train), -1).double().numpy()


def test_the_kde_bandwidth_is_chosen_on_the_validation_split_and_test_is_only_reported():
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KernelDensity

    digits, x = digits_train()
    pca = PCA().fit(x)

    def component(images):
        return pca.transform(images.reshape(len(images), -1).double().numpy())[:, :1]

    train, val, test = component(digits.train), component(digits.val), component(digits.test)
    curve = lecture_data.bandwidth_curve()
    for row in curve.iloc[::6].itertuples():
        kde = KernelDensity(bandwidth=row.bandwidth).fit(train)
        assert row.validation == pytest.approx(kde.score_samples(val).mean(), abs=1e-6)
        assert row.test == pytest.approx(kde.score_samples(test).mean(), abs=1e-6)
    figure = lecture_data.bandwidth_figure(curve, 2.0).to_dict()
    chosen = curve.loc[curve["validation"].idxmax()]
    note = [a["text"] for a in figure["layout"]["annotations"] if "chosen" in a["text"]]
    assert note == [f"chosen on validation: h ≈ {chosen['bandwidth']:.2g} "
                    f"(test {chosen['test']:.3f} nats)"]
    assert [trace["name"] for trace in figure["data"]] == ["validation (chooses h)",
                                                           "test (reported)"]


# -- the page, empty store: formulas, warm-up, demos, and what to train --------------------------


def test_empty_store_shows_every_formula_the_warm_up_and_how_to_train(app, empty_store):
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score
    from sklearn.neighbors import KernelDensity

    at = whole_lecture(app)
    assert [h.value for h in at.header] == [title for _, _, title in lecture_data.PARTS]

    # every formula the lecture gives, in its notation, with or without runs
    shown = latex(at)
    for name, formula in formulas.LECTURE_FORMULAS.items():
        assert formula in shown, name
    # and the course's next chapters: the change of variables and the diffusion ELBO
    for formula in (formulas.CHANGE_OF_VARIABLES, formulas.DEQUANTIZATION_BOUND,
                    formulas.DIFFUSION_FORWARD, formulas.DIFFUSION_ELBO):
        assert formula in shown
    joined = "\n".join(shown)
    for piece in (r"X_t = c + \phi_1 X_{t-1} + \phi_2 X_{t-2} + \dots + \phi_p X_{t-p}",
                  r"p(x) = \prod_{i=1}^{n} p(x_i \mid x_1, \dots, x_{i-1})",
                  r"\mathcal{L}(x^{(i)}, \theta, \phi) = \mathbb{E}_z\left[\log p_\theta(x^{(i)}"
                  r" \mid z)\right] - D_{KL}(q_\phi(z \mid x^{(i)}) \,\|\, p_\theta(z))",
                  r"z = \mu_{z|x} + \epsilon \odot \sigma_{z|x}",
                  r"\frac{1}{2} \sum_{j=1}^{J} \left(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1",
                  r"\log p(x \mid z_q(x)) + \big\| \mathrm{sg}[z_e(x)] - e \big\|_2^2",
                  r"\beta \big\| z_e(x) - \mathrm{sg}[e] \big\|_2^2",
                  r"\min_G \max_D \; \mathbb{E}_{x \sim p_{\text{data}}}\left[\log D(x)\right]",
                  r"\log\left(1 - D(G(z))\right)", r"\text{bits/dim}"):
        assert piece in joined, piece

    # k-means: the page's agreement with the labels is scikit-learn's on the same digits
    digits, x = digits_train()
    labels = digits.train_labels.numpy()
    ari = adjusted_rand_score(labels, KMeans(10, n_init=10, random_state=0).fit(x).labels_)
    assert number(metric(at, "ARI")) == pytest.approx(ari, abs=5e-4)
    assert 0.4 < ari < 0.95  # clusters find digits, without being the labels

    # PCA: the bars are sklearn's explained variance ratios, in percent
    pca = PCA().fit(x)
    ratio = pca.explained_variance_ratio_
    bars = chart(at, "PCA: explained variance")["data"][0]
    assert np.allclose(array(bars["y"]), 100 * ratio, atol=1e-6)
    projection = chart(at, "Test digits in 2-d")
    assert {trace["name"] for trace in projection["data"]} == {str(d) for d in range(10)}
    assert projection["layout"]["xaxis"]["title"]["text"] == "principal component 1 (levels)"
    assert chart(at, "1-d density")["layout"]["yaxis"]["title"]["text"] == "density (per level)"

    # 2-d density on 8-gaussians: both estimates beat a uniform grid (log2 32 = 5 bits/dim)
    for label in ("KDE, held-out", "Gaussian mixture, held-out"):
        assert 3.0 < number(metric(at, label)) < 5.0

    # the sliders' numbers against scikit-learn and the closed form by hand, at the defaults
    # and after moving every slider once (one rerun: the page is long)
    train = pca.transform(x)[:, :1]
    val = pca.transform(digits.val.reshape(len(digits.val), -1).double().numpy())[:, :1]
    for k, h, mu, sigma in ((10, 2.0, 1.0, 0.5), (2, 3.0, -2.0, 2.5)):
        if k != 10:
            at.slider(key="pca-k").set_value(k)
            at.slider(key="kde1-h").set_value(h)
            at.slider(key="kl-mu").set_value(mu)
            at.slider(key="kl-sigma").set_value(sigma).run()
            assert_clean(at)
        kept = number(metric(at, "Variance kept"))
        assert kept == pytest.approx(100 * ratio[:k].sum(), abs=0.05)
        # the bandwidth is judged on the validation split, never on test
        heldout = KernelDensity(bandwidth=h).fit(train).score_samples(val).mean()
        assert number(metric(at, "Validation log-likelihood")) == pytest.approx(heldout, abs=5e-4)
        closed = 0.5 * (mu ** 2 + sigma ** 2 - math.log(sigma ** 2) - 1)
        assert number(metric(at, "closed form, nats")) == pytest.approx(closed, abs=1e-4)
        assert number(metric(at, "Monte Carlo, nats")) == pytest.approx(closed, rel=0.03)

    # every live section says what to train instead of failing
    commands = [code.value for code in at.code]
    for key in ("ar", "autoregressive", "vae", "vqvae", "gan", "flow", "diffusion", "rbm",
                "beta"):
        assert lecture_data.TRAIN_COMMANDS[key] in commands, key
    for _, _, command, _ in lecture_data.RESEARCH_LINES:  # the active areas of research
        assert command in commands
    assert texts(at.info).count(str(empty_store)) == 12  # each names the store it read
    assert not [t for t in charts_by_title(at) if t.startswith(("The ELBO", "The two players"))]


def test_one_part_at_a_time_in_the_lectures_order(app, empty_store):
    at = app(PAGE)
    assert_clean(at)
    titles = [title for _, _, title in lecture_data.PARTS]
    assert [h.value for h in at.header] == titles[:1]  # the page opens on the warm-up
    for title in titles[1:]:
        at.button(key="lecture-next").click().run()
        assert_clean(at)
        assert [h.value for h in at.header] == [title]
    assert not [b for b in at.button if b.key == "lecture-next"]  # the last part
    at.button(key="lecture-back").click().run()
    assert [h.value for h in at.header] == titles[-2:-1]


# -- the page with runs: each formula beside the run that shows it -------------------------------


def test_live_sections_show_the_newest_runs(app, lecture_store):
    from genzoo.dashboard import data

    at = whole_lecture(app)
    store = RunStore(lecture_store)
    runs = {r.model: r for r in store.list_runs(status="completed") if r.dataset in
            ("digits", "sunspots")}

    # AR(p): the fitted equation of the sunspots run, all nine lags, and its forecast
    fitted = next(x for x in latex(at) if x.startswith(r"\begin{aligned} X_t &="))
    assert r"X_{t-9}" in fitted and r"X_{t-10}" not in fitted
    assert chart(at, "AR(9) on sunspots")["layout"]["xaxis"]["title"]["text"] == "year"

    # the chain rule: per-pixel bits of the digits PixelCNN (not the newer 8-gaussians one)
    # add up to -log2 p(x) as the model's log_prob gives it
    heat = chart(at, "−log₂ p(x_i | x_<i) per pixel")
    bits = array(heat["data"][0]["z"])
    assert bits.shape == (8, 8) and (bits > 0).all()
    model = data.loaded_run(runs["pixelcnn"]).model
    digits, _ = digits_train()
    with torch.no_grad():
        exact = -float(model.log_prob(digits.test[:1])) / math.log(2)
    assert bits.sum() == pytest.approx(exact, rel=1e-4)
    assert number(metric(at, "−log₂ p(x), bits")) == pytest.approx(exact, abs=0.01)
    assert number(metric(at, "bits/dim, test split")) == pytest.approx(
        runs["pixelcnn"].metrics["test_bits_per_dim"], abs=5e-4)
    speed = next(d.value for d in at.dataframe if "ms/image, batch 1" in d.value.columns)
    assert dict(zip(speed["model"], speed["sampling"])) == {
        "pixelcnn": "sequential", "vae": "parallel", "gan": "parallel",
        "vqvae-prior": "sequential"}

    # the ELBO: its two logged terms, and one image's split with ELBO = recon - KL
    terms = chart(at, "The ELBO's two terms")
    assert {t["name"] for t in terms["data"]} == {"recon", "kl", "recon + kl"}
    assert terms["layout"]["yaxis"]["title"]["text"] == "nats per image"
    recon, kl, elbo = (number(metric(at, label)) for label in
                       ("E_z[log p(x|z)], nats", "D_KL(q(z|x) ‖ p(z)), nats", "ELBO 𝓛, nats"))
    assert kl >= 0 and elbo == pytest.approx(recon - kl, abs=0.02)
    vae = data.loaded_run(runs["vae"]).model
    with torch.no_grad():
        assert elbo == pytest.approx(float(vae.log_prob(digits.test[:1])), abs=0.01)
    assert "Estimating log p(x) by sampling the prior" in charts_by_title(at)
    same = next(m.value for m in at.markdown if f"Run `{runs['vae'].run_id}`'s q(z|x)" in m.value)
    closed_text = same.split("closed form **")[1].split(" nats")[0]
    assert float(closed_text) == pytest.approx(kl, abs=0.006)  # the metric's KL, to 2 places

    # VQ-VAE: codebook usage and code grid of the small run, and how to train its prior
    vq = next(r for r in store.list_runs(model="vqvae"))
    assert chart(at, "Codebook usage")["layout"]["xaxis"]["title"]["text"].startswith("code")
    assert chart(at, "Codes of test image 0")
    assert f"genzoo train vqvae-prior --parent {vq.run_id} --seconds 60" in [
        c.value for c in at.code]

    # GAN: the two players' losses, its samples and its refusal to give a likelihood
    players = chart(at, "The two players' losses")
    assert {t["name"] for t in players["data"]} == {"d_loss", "g_loss"}
    assert "defines no density p(x)" in texts(at.info)
    assert "Mode collapse" in texts(at.markdown) or "mode collapse" in texts(at.markdown)
    assert len(at.image) >= 8  # centres, PCA, chain-rule image, samples x3, reconstructions x2


def test_runs_that_no_longer_load_are_named_not_raised(app, lecture_home, tmp_path,
                                                       monkeypatch):
    home = tmp_path / "broken"
    shutil.copytree(lecture_home, home)
    store = RunStore(home)
    broken = [next(r for r in store.list_runs(model=model) if r.dataset == "digits")
              for model in ("vae", "gan")]
    for record in broken:
        shutil.rmtree(store.run_dir(record.run_id))  # the checkpoints are gone
    monkeypatch.setenv("GENZOO_HOME", str(home))
    at = app(PAGE)
    assert not at.exception, texts(at.exception)
    at.radio(key="lecture-part").set_value("All parts").run()
    assert not at.exception, texts(at.exception)
    errors = texts(at.error)
    for record in broken:
        assert f"cannot load run {record.run_id}" in errors
        assert f"genzoo train {record.model} --dataset digits" in errors
    assert chart(at, "−log₂ p(x_i | x_<i) per pixel")  # the other sections still draw
    assert chart(at, "Codebook usage")


# -- the logic under the page -------------------------------------------------------------------


def test_kde_log_density_is_sklearns():
    from sklearn.neighbors import KernelDensity

    rng = np.random.default_rng(0)
    train, points = rng.normal(size=300), np.linspace(-4, 4, 50)
    for h in (0.1, 0.7, 3.0):
        expected = KernelDensity(bandwidth=h).fit(train[:, None]).score_samples(points[:, None])
        assert np.allclose(lecture_data.gaussian_kde_log_density(train, points, h), expected)
    several = lecture_data.gaussian_kde_log_density(train, points, [0.1, 3.0])
    assert several.shape == (2, 50)
    assert np.allclose(several[1], lecture_data.gaussian_kde_log_density(train, points, 3.0))


def test_gaussian_kl_closed_form_and_monte_carlo():
    assert lecture_data.gaussian_kl(0.0, 1.0) == 0.0  # q is the prior
    mu, sigma = np.array([0.5, -1.0, 2.0]), np.array([0.3, 1.0, 1.5])
    closed = lecture_data.gaussian_kl(mu, sigma)
    by_hand = sum(0.5 * (m * m + s * s - math.log(s * s) - 1) for m, s in zip(mu, sigma))
    assert closed == pytest.approx(by_hand)
    mc = lecture_data.monte_carlo_kl(mu, sigma, n=50000, seed=1)
    assert abs(mc["estimate"] - closed) < 4 * mc["error"]
    assert mc["error"] < 0.05
    frame = lecture_data.kl_check(0.5, 1.2)["frame"]
    assert (abs(frame["mc"] - frame["closed"]) < 4 * frame["error"]).all()


def test_reparameterization_moves_the_randomness_into_epsilon():
    result = lecture_data.reparameterize(1.5, 0.4, n=20000, seed=3)
    assert result["mean"] == pytest.approx(1.5, abs=0.01)
    assert result["std"] == pytest.approx(0.4, rel=0.02)
    assert result["grad_mu"] == pytest.approx(1.0)  # dz/dμ = 1 for every sample
    assert result["grad_sigma"] == pytest.approx(result["mean_eps"])  # dz/dσ = ε


def test_fitted_ar_latex_reads_like_the_lecture():
    text = lecture_data.fitted_ar_latex({"const": 2.5, "coefs": [0.8, -0.25], "sigma2": 1.5})
    assert text.startswith(r"\begin{aligned} X_t &= 2.5 + 0.800\, X_{t-1} - 0.250\, X_{t-2}"
                           r" + \epsilon_t")
    assert r"\mathcal{N}(0, 1.5)" in text and text.endswith(r"\end{aligned}")
    nine = lecture_data.fitted_ar_latex({"const": 1.0, "coefs": [0.1] * 9}, per_line=5)
    assert nine.count(r"\\") == 1 and r"X_{t-9} + \epsilon_t" in nine  # two lines, no σ²


def test_grid_density_is_a_probability_and_scores_in_bits_per_dim():
    grid = 4
    log_density = np.zeros(grid * grid)  # uniform: every cell 1/16
    test = np.array([[0, 0], [3, 1]])
    result = lecture_data._grid_density(log_density, test, grid)
    assert result["density"].sum() == pytest.approx(1.0)
    assert result["bits_per_dim"] == pytest.approx(2.0)  # log2(16) bits over 2 dims


def test_newest_run_and_child_run_pick_the_right_records():
    from genzoo.registry.store import RunRecord

    def record(run_id, model, dataset, config=None):
        return RunRecord(run_id=run_id, model=model, dataset=dataset, config=config or {},
                         seed=0, device="cpu", status="completed")

    reg = get_registry()
    records = [record("p-toy", "pixelcnn", "8-gaussians"), record("p-dig", "pixelcnn", "digits"),
               record("ar-1", "ar", "sunspots"), record("vq-1", "vqvae", "digits"),
               record("prior-1", "vqvae-prior", "digits", config={"parent_run": "vq-1"})]
    assert lecture_data.newest_run(reg, records, ("pixelcnn",)).run_id == "p-dig"  # a picture
    assert lecture_data.newest_run(reg, records, ("ar",), kind="series").run_id == "ar-1"
    assert lecture_data.newest_run(reg, records, ("gan",)) is None
    assert lecture_data.child_run(records, records[3], "vqvae-prior").run_id == "prior-1"
    assert lecture_data.child_run(records, records[1], "vqvae-prior") is None
    frame = lecture_data.sampling_frame(reg, records)
    assert isinstance(frame, pd.DataFrame) and list(frame["model"]) == ["pixelcnn", "vqvae-prior"]
    # the VAE part's run has the lecture's Gaussian pieces: a newer mixture-prior run is passed
    vaes = [record("v-mog", "vae", "digits", config={"prior": "mog"}),
            record("v-iaf", "vae", "digits", config={"posterior": "iaf"}),
            record("v-old", "vae", "digits", config={"latent_dim": 2})]  # before the options
    assert lecture_data.newest_lecture_vae(reg, vaes).run_id == "v-old"
    assert lecture_data.newest_lecture_vae(reg, vaes[:2]) is None


def test_the_last_part_shows_the_rbm_s_estimate_and_its_gibbs_chains(app, tmp_path,
                                                                       monkeypatch):
    from genzoo.dashboard import lecture_data

    home = tmp_path / "rbm-home"
    rbm = start_run(get_registry(), RunStore(home), "rbm", "mnist-binary", steps=3,
                    overrides={"hidden": "8", "ais_temperatures": "50", "ais_runs": "10",
                               "gibbs_steps": "10"}, settings=LoopSettings(progress=False))
    assert "test_bits_per_dim" not in rbm.metrics  # an estimate is never stored as exact
    monkeypatch.setenv("GENZOO_HOME", str(home))
    at = app(PAGE)
    at.radio(key="lecture-part").set_value(lecture_data.PARTS[8][1]).run()
    assert_clean(at)
    assert [h.value for h in at.header] == [lecture_data.PARTS[8][2]]
    table = next(d.value for d in at.dataframe if "rbm" in set(d.value["model"]))
    row = table.set_index("model").loc["rbm"]
    assert row["kind"] == "ais"
    assert row["test bits/dim"] == pytest.approx(rbm.metrics["test_bits_per_dim_estimate"])
    at.select_slider(key="gibbs-steps").set_value(40).run()
    assert_clean(at)
    assert len(at.image) == 1  # the chains' frames
    frames = lecture_data.chain_frames(rbm, 40)
    assert frames["steps"] == [0, 5, 10, 15, 20, 25, 30, 35, 40]
    rows, columns = frames["grid"].shape[:2]
    assert columns > rows  # 6 chains of 9 frames: wider than tall
