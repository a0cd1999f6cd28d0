"""The plain PyTorch references are genzoo's architectures, and the comparison script reports."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: benchmarks.*

from genzoo.registry.config import build_config  # noqa: E402
from genzoo.registry.evaluation import count_parameters, evaluate  # noqa: E402
from genzoo.registry.runs import build_model, load_dataset  # noqa: E402

from benchmarks import reference_compare  # noqa: E402
from benchmarks.reference import pixelcnn as reference_pixelcnn  # noqa: E402
from benchmarks.reference import vae as reference_vae  # noqa: E402

LOADERS = {"pixelcnn": reference_pixelcnn.load_from_genzoo, "vae": reference_vae.load_from_genzoo}


@pytest.fixture(scope="module")
def digits():
    from genzoo.registry.plugins import get_registry

    return load_dataset(get_registry(environ={"GENZOO_PLUGINS": ""}), "digits")


def build_pair(registry, name, data, genzoo_seed=0, reference_seed=0):
    """genzoo's model with its default config and the reference built from that config."""
    spec = registry.model(name)
    config = build_config(spec.config_class)
    torch.manual_seed(genzoo_seed)
    genzoo = build_model(spec, config, data.info)
    torch.manual_seed(reference_seed)
    return spec, genzoo, reference_compare.build_reference(name, config, data.info)


@pytest.mark.parametrize("name", ["pixelcnn", "vae"])
def test_reference_has_genzoos_parameter_count(registry, digits, name):
    _, genzoo, reference = build_pair(registry, name, digits)
    assert count_parameters(reference) == count_parameters(genzoo)
    assert [p.shape for p in reference.parameters()] == [p.shape for p in genzoo.parameters()]


@pytest.mark.parametrize("name", ["pixelcnn", "vae"])
def test_reference_with_genzoos_weights_gives_genzoos_loss_and_bits_per_dim(
        registry, digits, name):
    """Same weights, same batch, same noise: the same loss and test bits/dim (dropout off)."""
    spec, genzoo, reference = build_pair(registry, name, digits, reference_seed=1)
    assert not torch.equal(next(reference.parameters()), next(genzoo.parameters()))
    LOADERS[name](reference, genzoo)
    genzoo.eval(), reference.eval()
    batch = digits.train[:64]
    with torch.no_grad():
        torch.manual_seed(5)  # the VAE's reparameterization noise: the same eps for both
        genzoo_loss = float(genzoo.loss(batch)["loss"])  # nats per dimension
        torch.manual_seed(5)
        reference_loss = float(reference.loss(batch)) / digits.info.dims  # nats per image
    assert reference_loss == pytest.approx(genzoo_loss, abs=1e-4)
    assert reference.bits_per_dim(digits.test) == pytest.approx(
        evaluate(genzoo, spec, digits, "test")["bits_per_dim"], abs=1e-4)


def test_load_from_genzoo_refuses_another_architecture(registry, digits):
    _, genzoo, _ = build_pair(registry, "pixelcnn", digits)
    with pytest.raises(ValueError):
        reference_pixelcnn.load_from_genzoo(reference_pixelcnn.PixelCNN(hidden=16), genzoo)


def test_compare_reports_both_speeds_their_ratio_and_both_bits_per_dim(tmp_path):
    result = reference_compare.main(["--steps", "3", "--warmup", "1", "--block", "2",
                                     "--threads", "1", "--out", str(tmp_path)])
    rows = {row["model"]: row for row in result["rows"]}
    assert set(rows) == {"pixelcnn", "vae"}
    for row in rows.values():
        assert row["params_match"] and row["same_init"]
        assert row["genzoo_ms"] > 0 and row["reference_ms"] > 0
        assert row["ratio"] == pytest.approx(row["genzoo_ms"] / row["reference_ms"])
        assert math.isfinite(row["genzoo_bits_per_dim"])
        # same start, batches and noise: after 3 steps the two still agree
        assert row["reference_bits_per_dim"] == pytest.approx(row["genzoo_bits_per_dim"],
                                                              abs=1e-3)
    assert rows["vae"]["optimizer"] == "AdamW" and rows["vae"]["weight_decay"] == 0.2
    assert json.loads((tmp_path / "reference.json").read_text())["rows"] == result["rows"]
    assert "| pixelcnn | 0 |" in (tmp_path / "reference.md").read_text()
