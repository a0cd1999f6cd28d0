"""CodeFormer on the VQ-VAE: the degradations, the code-predicting transformer, the CFT's w,
the frozen parent, and the restoration metrics."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genzoo.plugins.codeformer import CodeFormer, CodeFormerConfig
from genzoo.plugins.datasets import load_digits
from genzoo.plugins.vqvae import VQVAE, VQVAEConfig
from genzoo.registry import DataInfo, restoration
from genzoo.registry.config import build_config
from genzoo.registry.degrade import KINDS, parse_degradation, parse_ranges, random_degradation
from genzoo.registry.errors import BadConfig, GenzooError

DIGITS = DataInfo(kind="image", shape=(1, 8, 8), levels=17, n_classes=10)
TINY_VQ = {"codebook_size": 8, "code_dim": 4, "hidden": 8, "dropout": 0.0}
TINY_CF = {"d_model": 16, "layers": 1, "heads": 2, "cft_hidden": 8, "dropout": 0.0}


def degrade(spec: str, images: torch.Tensor, levels: int = 17, seed: int = 0) -> torch.Tensor:
    return parse_degradation(spec).apply(images, levels, torch.Generator().manual_seed(seed))


def constant(level: int, n: int = 4, size: int = 8) -> torch.Tensor:
    return torch.full((n, 1, size, size), level, dtype=torch.int64)


# -- degradations -------------------------------------------------------------------------------


def test_mask_hides_exactly_the_fraction_in_each_image_and_is_seeded():
    images = constant(9, n=6)
    out = degrade("mask:0.25", images)
    assert out.dtype == torch.int64 and out.shape == images.shape
    hidden = out == 0
    assert hidden.flatten(1).sum(1).tolist() == [16] * 6  # round(0.25 * 64) per image
    assert bool((out[~hidden] == 9).all())  # the others are untouched
    assert not torch.equal(hidden[0], hidden[1])  # drawn per image
    assert torch.equal(out, degrade("mask:0.25", images))
    assert not torch.equal(out, degrade("mask:0.25", images, seed=1))
    assert torch.equal(degrade("mask:0", images), images)
    assert bool((degrade("mask:1", images) == 0).all())
    rgb = degrade("mask:0.5", torch.full((2, 3, 4, 4), 5))
    assert torch.equal(rgb[:, 0] == 0, rgb[:, 2] == 0)  # a pixel is hidden in every channel


def test_noise_has_the_std_it_names_and_stays_on_the_levels():
    images = constant(8, n=400)  # mid-level: clipping is out of reach at std 2
    out = degrade("noise:2", images)
    diff = (out - images).double()
    assert abs(float(diff.mean())) < 0.05
    # rounding to a level adds the variance of a uniform on one level's width, 1/12
    assert float(diff.std()) == pytest.approx(math.sqrt(4 + 1 / 12), rel=0.03)
    heavy = degrade("noise:30", images)
    assert int(heavy.min()) == 0 and int(heavy.max()) == 16
    assert torch.equal(degrade("noise:0", images), images)


def test_blur_smooths_a_point_symmetrically_and_more_with_sigma():
    point = torch.zeros(1, 1, 9, 9, dtype=torch.int64)
    point[0, 0, 4, 4] = 255
    narrow, wide = degrade("blur:0.75", point, 256), degrade("blur:1.5", point, 256)
    assert 0 < int(wide[0, 0, 4, 4]) < int(narrow[0, 0, 4, 4]) < 255
    assert int(narrow[0, 0, 4, 5]) > 0 and int(narrow[0, 0, 0, 0]) == 0
    assert torch.equal(narrow, narrow.flip(-1)) and torch.equal(narrow, narrow.mT)
    assert int((wide > 0).sum()) > int((narrow > 0).sum()) > 1
    digits = load_digits().test[:50]

    def variation(x):
        return float((x[..., 1:] - x[..., :-1]).abs().sum() + (x[..., 1:, :] - x[..., :-1, :])
                     .abs().sum())
    assert variation(degrade("blur:1", digits)) < 0.7 * variation(digits)
    assert torch.equal(degrade("blur:0", digits), digits)


def test_down_loses_detail_finer_than_its_factor():
    checker = ((torch.arange(8)[:, None] + torch.arange(8)) % 2 * 16).view(1, 1, 8, 8)
    assert bool((degrade("down:2", checker) == 8).all())  # every 2x2 block averages to 8
    assert torch.equal(degrade("down:1", checker), checker)
    assert torch.equal(degrade("down:4", constant(5)), constant(5))  # nothing fine to lose
    digits = load_digits().test[:50]
    loss2 = float((degrade("down:2", digits) - digits).abs().float().mean())
    loss4 = float((degrade("down:4", digits) - digits).abs().float().mean())
    assert 0 < loss2 < loss4


@pytest.mark.parametrize(("spec", "pattern"), [
    ("blurr:1", r"unknown degradation 'blurr:1'; known: mask:P .*noise:S .*blur:S .*down:F"),
    ("mask:1.5", r"'mask:1.5': strength out of range: P in \[0, 1\], got 1.5"),
    ("noise:-1", r"out of range: S in \[0, 255\]"),
    ("blur:9", r"out of range: S in \[0, 4\]"),
    ("down:9", r"out of range: F in 1\.\.8"),
    ("down:2.5", r"F must be a whole number"),
    ("mask", r"needs a strength: mask:P with P in \[0, 1\], e.g. mask:0.5"),
    ("mask:lots", r"must be a number"),
    ("mask:nan", r"out of range")])
def test_bad_degradations_are_one_line_errors_naming_the_range(spec, pattern):
    with pytest.raises(BadConfig, match=pattern) as caught:
        parse_degradation(spec)
    assert "\n" not in str(caught.value)


def test_specs_normalize_and_ranges_parse():
    assert str(parse_degradation(" MASK:.5 ")) == "mask:0.5"
    assert [(k.name, lo, hi) for k, lo, hi in parse_ranges("mask:0-0.8, down:2")] == [
        ("mask", 0.0, 0.8), ("down", 2.0, 2.0)]
    for text, pattern in [("mask:0.8-0.2", "low to high"), ("", "no training degradations"),
                          ("mask:0-2", "out of range"), ("fog:1", "unknown degradation")]:
        with pytest.raises(BadConfig, match=pattern):
            parse_ranges(text)


def test_random_degradation_draws_each_kind_within_its_range():
    torch.manual_seed(0)
    images = constant(9, n=200)
    out = random_degradation(images, parse_ranges("mask:0.5-0.5,noise:0-0"), 17)
    masked = (out != 9).flatten(1).any(1)
    assert 60 < int(masked.sum()) < 140  # each kind about half the time
    assert (out[masked] == 0).flatten(1).sum(1).eq(32).all()  # exactly mask:0.5
    assert torch.equal(out[~masked], images[~masked])  # noise:0 changes nothing
    downs = random_degradation(load_digits().test[:40], parse_ranges("down:1-2"), 17)
    assert downs.dtype == torch.int64 and set(KINDS) == {"mask", "noise", "blur", "down"}


# -- the model ----------------------------------------------------------------------------------


def train_steps(model, images: torch.Tensor, steps: int, batch: int = 64, seed: int = 0):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizers = model.configure_optimizers()
    model.train()
    logs = []
    for _ in range(steps):
        index = torch.randint(len(images), (batch,), generator=generator)
        logs.append(model.training_step(images[index], optimizers))
    return logs


def codeformer_on(parent: VQVAE, **overrides) -> CodeFormer:
    config = build_config(CodeFormerConfig, {"parent_config": json.dumps(vars(parent.config)),
                                             **TINY_CF, **overrides})
    torch.manual_seed(1)
    model = CodeFormer(config, DIGITS)
    model.attach_parent(parent)
    return model


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def parent(digits) -> VQVAE:
    """A tiny VQ-VAE on digits, 150 steps: codes that mean something."""
    torch.manual_seed(0)
    model = VQVAE(build_config(VQVAEConfig, TINY_VQ), DIGITS)
    train_steps(model, digits.train, 150)
    return model.eval()


@pytest.fixture(scope="module")
def trained(parent, digits):
    """A tiny codeformer trained 50 steps on it, with its training log."""
    model = codeformer_on(parent)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    logs = train_steps(model, digits.train, 50, seed=2)
    return model.eval(), logs, before


def test_the_transformer_learns_the_clean_codes(trained):
    _, logs, _ = trained
    assert set(logs[0]) == {"loss", "code_ce", "code_feat", "cft_recon", "code_accuracy",
                            "lookup_accuracy"}
    first, last = logs[:10], logs[-10:]

    def mean(rows, key):
        return sum(r[key] for r in rows) / len(rows)
    assert mean(last, "loss") < 0.9 * mean(first, "loss")
    assert mean(last, "code_ce") < 0.75 * mean(first, "code_ce")
    assert mean(last, "code_accuracy") > mean(first, "code_accuracy") + 0.05


def test_the_vqvae_stays_frozen_and_the_lq_encoder_is_fine_tuned(trained, parent):
    model, _, before = trained
    after = model.state_dict()
    for name, tensor in parent.state_dict().items():  # copied from the parent, never moved
        assert torch.equal(after[f"vqvae.{name}"], tensor), name
    assert not model.vqvae.training
    moved = [k for k in before if k.startswith("lq_encoder.") and not torch.equal(before[k],
                                                                                  after[k])]
    assert moved  # E_L started as E_H and was trained
    assert torch.equal(before["lq_encoder.0.weight"], parent.encoder[0].weight)


def test_loss_is_the_weighted_sum_of_its_named_parts(parent, digits):
    model = codeformer_on(parent, feat_weight=0.5, cft_weight=2.0).eval()
    torch.manual_seed(3)
    parts = model.loss(digits.train[:16])
    total = parts["code_ce"] + 0.5 * parts["code_feat"] + 2.0 * parts["cft_recon"]
    torch.testing.assert_close(parts["loss"], total)
    # L_code^feat reaches E_L, never the frozen codebook
    parts["code_feat"].backward()
    assert model.lq_encoder[0].weight.grad.abs().sum() > 0
    assert model.vqvae.codebook.grad is None


def test_w_zero_is_exactly_the_decoding_of_the_predicted_codes(trained, digits):
    model, _, _ = trained
    degraded = degrade("mask:0.5", digits.test[:32])
    codes = model.predict_codes(degraded)
    assert codes.shape == (32, 4, 4) and codes.dtype == torch.int64
    decoded = model.vqvae.decode(codes)
    assert torch.equal(model.restore_mean(degraded, 0.0), decoded)
    assert torch.equal(model.restore(degraded, 0.0), decoded.round().long())


def test_the_cft_scales_the_decoder_features_and_detaches_the_encoders(parent, digits):
    """Eq. 5 as the paper's Fuse_sft_block: F_d + w (alpha F_d + beta), F_e detached."""
    model = codeformer_on(parent).eval()
    torch.manual_seed(4)
    f_d = model.lookup(torch.randint(8, (3, 4, 4)))  # (3, D, 4, 4) looked-up codes
    f_e = torch.randn(3, 4, 4, 4, requires_grad=True)
    out = model.fuse(f_d, f_e, 0.7)
    alpha, beta = model.cft(torch.cat([f_d, f_e], 1)).chunk(2, 1)
    torch.testing.assert_close(out, f_d + 0.7 * (alpha * f_d + beta))
    out.sum().backward()
    assert f_e.grad is None  # sg(F_e): nothing flows back into the encoder's features
    assert model.cft[0].weight.grad.abs().sum() > 0
    # so the CFT's reconstruction term trains the CFT alone, never E_L or the transformer
    model.zero_grad(set_to_none=True)
    torch.manual_seed(3)
    model.loss(digits.train[:16])["cft_recon"].backward()
    assert model.cft[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.lq_encoder.parameters())
    assert all(p.grad is None for p in model.transformer.parameters())


def test_w_changes_the_output_smoothly(trained, digits):
    model, _, _ = trained
    degraded = degrade("noise:3", digits.test[:32])
    at = {w: model.restore_mean(degraded, w) for w in (0.0, 0.5, 1.0)}
    assert not torch.equal(at[0.0], at[1.0])
    gap = float((at[1.0] - at[0.0]).abs().mean())
    assert 0 < float((at[0.5] - at[0.0]).abs().mean()) < gap
    out = model.restore(degraded, 1.0)
    assert out.dtype == torch.int64 and int(out.min()) >= 0 and int(out.max()) <= 16


def test_baseline_is_the_vqvaes_nearest_code_lookup(trained, digits):
    model, _, _ = trained
    degraded = degrade("blur:1", digits.test[:16])
    lookup = model.vqvae.decode(model.vqvae.encode(degraded)).round().long()
    assert torch.equal(model.baseline(degraded), lookup)


def test_sampling_restores_vqvae_draws_and_there_is_no_likelihood(trained):
    model, _, _ = trained
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 1, 8, 8) and x.dtype == torch.int64
    assert torch.equal(x, model.sample(5, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(GenzooError, match="vqvae-prior"):
        model.log_prob(x)


def test_attach_parent_refuses_what_is_not_its_vqvae(parent):
    model = codeformer_on(parent)
    with pytest.raises(GenzooError, match="builds on a vqvae run"):
        model.attach_parent(torch.nn.Linear(1, 1))
    other = VQVAE(build_config(VQVAEConfig, {**TINY_VQ, "codebook_size": 4}), DIGITS)
    with pytest.raises(GenzooError, match="does not match parent_config"):
        model.attach_parent(other)


@pytest.mark.parametrize(("overrides", "pattern"), [
    ({"degradations": "fog:0-1"}, "unknown degradation"),
    ({"degradations": "mask:0-3"}, "out of range"),
    ({"d_model": 10, "heads": 4}, "multiple of heads"),
    ({"dropout": 1.0}, "dropout"),
    ({"feat_weight": -1.0}, "feat_weight"),
    ({"parent_config": "{not json"}, "parent_config")])
def test_bad_config_names_the_value(overrides, pattern):
    with pytest.raises(BadConfig, match=pattern):
        build_config(CodeFormerConfig, overrides)


def test_registered_as_an_implicit_second_stage_of_the_vqvae(registry):
    spec = registry.model("codeformer")
    assert spec.parent == "vqvae" and spec.density == "implicit" and spec.data == "image"
    assert issubclass(spec.model_class, restoration.RestorationModel)
    assert "CodeFormer" in spec.family and "Zhou" in spec.paper


# -- the metrics ----------------------------------------------------------------------------------


def test_psnr_in_db_over_levels_scaled_to_one():
    clean = constant(8)
    assert float(restoration.psnr(clean, clean, 17)[0]) == pytest.approx(restoration.PSNR_CAP)
    off_by_one = clean + 1  # an error of 1/16 everywhere: 10 log10(256)
    assert float(restoration.psnr(off_by_one, clean, 17)[0]) == pytest.approx(
        10 * math.log10(256), rel=1e-5)


def test_the_table_measures_input_lookup_and_codeformer(trained, digits, tmp_path):
    from genzoo.registry import quality
    from genzoo.registry.store import RunStore

    model, _, _ = trained
    reference = quality.reference_classifier(RunStore(tmp_path), "digits", digits,
                                             quality.ReferenceSettings(examples=2000))
    images, labels = digits.test[:60], digits.test_labels[:60]
    table = restoration.restoration_table(model, images, labels, reference,
                                          ["mask:0.5", "down:2"], ws=(0.0, 1.0))
    assert list(table["degradation"]) == [restoration.CLEAN, "mask:0.5", "down:2"]
    methods = ["degraded input", "nearest-code lookup", "codeformer w=0", "codeformer w=1"]
    assert list(table.columns) == ["degradation", *(f"PSNR {m} (dB)" for m in methods),
                                   *(f"accuracy {m}" for m in methods)]
    clean = table.iloc[0]
    assert clean["PSNR degraded input (dB)"] == pytest.approx(restoration.PSNR_CAP)
    expected = float((reference.predict(images) == labels.numpy()).mean())
    assert clean["accuracy degraded input"] == pytest.approx(expected)
    masked = table.iloc[1]  # the same seeded degradation as restorations() draws
    out = restoration.restorations(model, images, "mask:0.5", ws=(0.0,))
    assert masked["PSNR codeformer w=0 (dB)"] == pytest.approx(
        float(restoration.psnr(out["restored"][0.0], images, 17).mean()))
    assert masked["PSNR degraded input (dB)"] < clean["PSNR nearest-code lookup (dB)"]
    gains = restoration.gains(table, model)
    assert set(gains) == {"restoration_psnr_gain_db", "restoration_accuracy_gain"}
    long = restoration.long_table(table)
    assert len(long) == 3 * 4 and list(long.columns) == ["degradation", "method", "PSNR (dB)",
                                                          "accuracy"]
