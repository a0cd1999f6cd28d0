"""Focused tests for the autoregressive series models: ``ar`` against statsmodels, ``neural-ar``
through the real trainer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from statsmodels.tsa.ar_model import AutoReg

from genzoo.plugins.ar import AR, ARConfig, NeuralAR, NeuralARConfig
from genzoo.plugins.datasets import AR_SYNTHETIC, load_ar_synthetic, load_nile, load_sunspots
from genzoo.registry.config import build_config
from genzoo.registry.data import split_series
from genzoo.registry.errors import BadConfig, BadData, GenzooError
from genzoo.registry.evaluation import evaluate
from genzoo.registry.plugins import get_registry
from genzoo.registry.runs import build_model
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run

LOADERS = {"sunspots": load_sunspots, "nile": load_nile}


@pytest.fixture(scope="module")
def series():
    return {name: load() for name, load in LOADERS.items()}



def fitted_ar(data, p: int) -> AR:
    model = AR(ARConfig(p=p), data.info)
    assert model.fit(data.train) is True  # closed form: the trainer takes no steps
    return model


def rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.abs(np.asarray(b))))


@pytest.mark.parametrize("p", [1, 2, 5])
@pytest.mark.parametrize("name", sorted(LOADERS))
def test_ar_fit_matches_statsmodels(series, name, p):
    data = series[name]
    model = fitted_ar(data, p)
    reference = AutoReg(data.train.numpy(), lags=p, trend="c").fit()
    info = model.info()
    assert rel([info["const"], *info["coefs"]], reference.params) < 1e-6
    assert rel(info["sigma2"], reference.sigma2) < 1e-6
    assert info["nobs"] == reference.nobs == len(data.train) - p
    assert rel(info["llf"], reference.llf) < 1e-4
    with torch.no_grad():
        log_prob = model.log_prob(data.train[None])
    assert log_prob.shape == (1,) and log_prob.dtype == torch.float64
    assert rel(log_prob.item(), reference.llf) < 1e-4


@pytest.mark.parametrize("p", [2, 5])
@pytest.mark.parametrize("name", sorted(LOADERS))
def test_ar_forecast_matches_statsmodels(series, name, p):
    data, h = series[name], 12
    model = fitted_ar(data, p)
    t = len(data.train)
    prediction = AutoReg(data.train.numpy(), lags=p, trend="c").fit().get_prediction(
        start=t, end=t + h - 1)
    forecast = model.forecast(h, levels=(0.8, 0.95))
    assert forecast["mean"].shape == (h,)
    assert rel(forecast["mean"], prediction.predicted_mean) < 1e-6
    for level in (0.8, 0.95):
        interval = prediction.conf_int(alpha=1 - level)
        assert rel(forecast["lower"][level], interval[:, 0]) < 1e-6
        assert rel(forecast["upper"][level], interval[:, 1]) < 1e-6
    # intervals widen with the horizon, as the psi-weights accumulate
    width = forecast["upper"][0.95] - forecast["lower"][0.95]
    assert np.all(np.diff(width) >= 0)


def test_ar_recovers_the_simulated_coefficients():
    info = fitted_ar(load_ar_synthetic(), 3).info()
    assert np.allclose(info["coefs"], AR_SYNTHETIC["coefs"], atol=0.1)
    assert info["sigma2"] == pytest.approx(AR_SYNTHETIC["sigma2"], abs=0.15)


def test_fitted_ar_round_trips_through_state_dict(series):
    model = fitted_ar(series["sunspots"], 5)
    loaded = AR(ARConfig(p=5), series["sunspots"].info)
    loaded.load_state_dict(model.state_dict())
    assert loaded.info() == model.info()
    assert np.array_equal(loaded.forecast(5)["mean"], model.forecast(5)["mean"])


def _models(data):
    ar = fitted_ar(data, 2)
    torch.manual_seed(0)
    neural = NeuralAR(NeuralARConfig(horizon=15), data.info)
    neural.fit(data.train)
    return {"ar": ar, "neural-ar": neural}


@pytest.mark.parametrize("which", ["ar", "neural-ar"])
def test_sample_shape_dtype_and_seed(series, which):
    model = _models(series["sunspots"])[which]
    first = model.sample(7, generator=torch.Generator().manual_seed(3))
    again = model.sample(7, generator=torch.Generator().manual_seed(3))
    other = model.sample(7, generator=torch.Generator().manual_seed(4))
    assert first.shape == (7, model.horizon) and first.dtype == torch.float64
    assert torch.isfinite(first).all()
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_ar_sample_paths_follow_the_forecast(series):
    # the average of many simulated continuations converges to the analytic point forecast
    model = fitted_ar(series["sunspots"], 2)
    paths = model.simulate(4000, 5, torch.Generator().manual_seed(0))
    forecast = model.forecast(5)
    sd = (forecast["upper"][0.95] - forecast["mean"]) / 1.96
    assert np.all(np.abs(paths.mean(0).numpy() - forecast["mean"]) < 4 * sd / math.sqrt(4000))


def test_neural_density_integrates_to_one_in_data_units(series):
    # sunspots' scale is ~40: without the Jacobian of the standardization the integral is ~40.
    data = series["sunspots"]
    neural = _models(data)["neural-ar"]
    with torch.no_grad():
        for param in neural.net.parameters():
            param.add_(0.3 * torch.randn(param.shape, dtype=param.dtype))
    prefix = data.train[:neural.order]
    grid = torch.linspace(-400, 600, 20001, dtype=torch.float64)
    x = torch.cat([prefix.expand(len(grid), -1), grid[:, None]], dim=1)  # (G, p+1)
    with torch.no_grad():
        density = neural.log_prob(x).exp()
    assert torch.trapezoid(density, grid).item() == pytest.approx(1.0, abs=1e-6)


def test_neural_forecast_format(series):
    forecast = _models(series["sunspots"])["neural-ar"].forecast(6, levels=(0.8, 0.95), n_paths=500)
    assert forecast["mean"].shape == (6,)
    assert np.all(forecast["lower"][0.95] <= forecast["lower"][0.8])
    assert np.all(forecast["lower"][0.8] <= forecast["mean"])
    assert np.all(forecast["mean"] <= forecast["upper"][0.8])
    assert np.all(forecast["upper"][0.8] <= forecast["upper"][0.95])


@pytest.mark.parametrize("config_class", [ARConfig, NeuralARConfig])
@pytest.mark.parametrize("p", ["0", "-3"])
def test_order_below_one_is_a_bad_config(config_class, p):
    with pytest.raises(BadConfig, match="p="):
        build_config(config_class, {"p": p})


def test_too_short_series_is_bad_data_not_a_traceback(tmp_path):
    short = split_series("short", [1.0, 3.0, 2.0, 5.0, 4.0])  # 3 training, 1 val, 1 test
    for model in (AR(ARConfig(p=5), short.info), NeuralAR(NeuralARConfig(p=5), short.info)):
        with pytest.raises(BadData, match=r"3 values.*p=5"):
            model.fit(short.train)
    # long enough for the trainer's windows (p + 2), too short for least squares (2p + 2)
    medium = split_series("medium", np.sin(np.arange(10.0)), test_fraction=0.1)  # 8, 1, 1
    with pytest.raises(BadData, match=r"8 values.*p=5"):
        AR(ARConfig(p=5), medium.info).fit(medium.train)
    path = tmp_path / "short.csv"
    path.write_text("y\n1\n3\n2\n5\n4\n")
    with pytest.raises(GenzooError, match="too short"):
        start_run(get_registry(), RunStore(tmp_path / "runs"), "ar", str(path),
                  overrides={"p": "5"}, settings=LoopSettings(progress=False))


def test_constant_series_is_bad_data():
    flat = split_series("flat", [2.0] * 30)
    with pytest.raises(BadData, match="residual variance is zero"):
        AR(ARConfig(p=2), flat.info).fit(flat.train)


def test_ar_and_neural_ar_train_end_to_end(tmp_path):
    registry = get_registry()
    store = RunStore(tmp_path)
    settings = LoopSettings(progress=False)
    ar_run = start_run(registry, store, "ar", "sunspots", overrides={"p": "9"}, seed=0,
                       settings=settings)
    assert ar_run.status == "completed" and ar_run.metrics["step"] == 0  # closed form
    ar_nats = ar_run.metrics["test_nats_per_obs"]
    assert math.isfinite(ar_nats)

    # the same model the trainer starts from (seeded as it seeds), scored before any step
    spec, data = registry.model("neural-ar"), load_sunspots()
    torch.manual_seed(0)
    initial = build_model(spec, build_config(spec.config_class, {}), data.info)
    initial.fit(data.train)
    initial_nats = evaluate(initial, spec, data)["nats_per_obs"]

    run = start_run(registry, store, "neural-ar", "sunspots", steps=300, seed=0,
                    settings=settings)
    assert run.status == "completed" and run.metrics["step"] == 300
    nats = run.metrics["test_nats_per_obs"]
    assert math.isfinite(nats)
    assert nats < initial_nats - 1.0  # measured: 6.01 at initialization, 4.58 after 300 steps
    assert nats < ar_nats + 0.5  # measured: AR(9) 4.54 nats/obs on the sunspots test split
