"""Completion: the named masks, ``genzoo complete`` and ``genzoo sample --label``."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from genzoo.plugins.pixelcnn import PixelCNN, PixelCNNConfig
from genzoo.registry import cli as cli_module
from genzoo.registry.errors import BadData
from genzoo.registry.masks import HIDDEN_RGB, MASK_NAMES, completion_grid, make_mask, masked_view
from genzoo.registry.plugins import get_registry
from genzoo.registry.spec import ModelSpec

from cli_helpers import run, train

TINY = ["--set", "hidden=8", "--set", "layers=1"]


# -- masks ----------------------------------------------------------------------------------


def hidden_cells(known: torch.Tensor) -> set[tuple[int, int]]:
    return {tuple(map(int, rc)) for rc in torch.nonzero(~known)}


def test_half_masks_keep_the_named_half():
    rows = {(r, c) for r in range(8) for c in range(8)}
    expected_hidden = {"top-half": {(r, c) for r, c in rows if r >= 4},
                       "bottom-half": {(r, c) for r, c in rows if r < 4},
                       "left-half": {(r, c) for r, c in rows if c >= 4},
                       "right-half": {(r, c) for r, c in rows if c < 4}}
    for name, hidden in expected_hidden.items():
        known = make_mask(name, 8, 8)
        assert known.dtype == torch.bool and known.shape == (8, 8)
        assert hidden_cells(known) == hidden, name
    # odd sizes: the kept half is the smaller one, never nothing
    assert int(make_mask("top-half", 5, 3).sum()) == 2 * 3


def test_center_hides_a_centred_square_and_random_a_seeded_fraction():
    assert hidden_cells(make_mask("center", 8, 8)) == {(r, c) for r in range(2, 6)
                                                       for c in range(2, 6)}
    known = make_mask("random:0.5", 8, 8, seed=3)
    assert int((~known).sum()) == 32
    assert torch.equal(known, make_mask("random:0.5", 8, 8, seed=3))
    assert not torch.equal(known, make_mask("random:0.5", 8, 8, seed=4))
    assert int((~make_mask("random:0.25", 8, 8)).sum()) == 16
    assert torch.equal(make_mask("random", 8, 8), make_mask("random:0.5", 8, 8))
    for name in MASK_NAMES:  # every name offered in the dashboard works
        assert 0 < int(make_mask(name, 16, 16).sum()) < 256


@pytest.mark.parametrize("name, height, width, message", [
    ("nope", 8, 8, "unknown mask 'nope'; known masks: top-half, bottom-half, left-half, "
                   "right-half, center, random:P"),
    ("random:1", 8, 8, "strictly between 0 and 1, got 1"),
    ("random:0", 8, 8, "strictly between 0 and 1, got 0"),
    ("random:half", 8, 8, "mask 'random:half': the fraction after 'random:' must be a number"),
    ("random:0.01", 2, 2, "mask 'random:0.01' hides no pixel of a 2x2 image"),
    ("top-half", 1, 4, "mask 'top-half' hides every pixel of a 1x4 image"),
    ("center", 1, 1, "mask 'center' hides every pixel of a 1x1 image"),
])
def test_bad_masks_are_one_line_errors_naming_the_value(name, height, width, message):
    with pytest.raises(BadData) as caught:
        make_mask(name, height, width)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_mask_file_gives_any_mask_and_bad_ones_are_named(tmp_path):
    ring = np.ones((8, 8), dtype=bool)
    ring[2:6, 2:6] = False
    ring[3:5, 3:5] = True  # a hidden ring around a known centre: no named mask is this shape
    np.save(tmp_path / "ring.npy", ring)
    np.save(tmp_path / "ones.npy", ring.astype(np.uint8))  # 0/1 works as well as bools
    assert torch.equal(make_mask(str(tmp_path / "ring.npy"), 8, 8), torch.from_numpy(ring))
    assert torch.equal(make_mask(str(tmp_path / "ones.npy"), 8, 8), torch.from_numpy(ring))
    np.save(tmp_path / "wide.npy", np.ones((8, 9), dtype=bool))
    np.save(tmp_path / "float.npy", np.full((8, 8), 0.5))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 64).reshape(8, 8),
            allow_pickle=True)
    (tmp_path / "text.npy").write_text("not an array")
    for name, says in (("missing.npy", "does not exist"), ("wide.npy", r"must be \(8, 8\)"),
                       ("float.npy", "booleans or 0/1"), ("objects.npy", "not a .npy array"),
                       ("text.npy", "not a .npy array")):
        with pytest.raises(BadData, match=says):
            make_mask(str(tmp_path / name), 8, 8)


def test_complete_takes_a_mask_file(pixelcnn_run, tmp_path):
    known = np.ones((8, 8), dtype=bool)
    known[::2, ::2] = False  # every other pixel of every other row hidden
    np.save(tmp_path / "grid.npy", known)
    out = tmp_path / "c.npy"
    result = run("complete", pixelcnn_run, "--mask", tmp_path / "grid.npy", "-n", 3, "-o", out)
    assert "16 of 64 pixels hidden" in result.stdout
    masked, completed, original = np.load(out)
    assert np.array_equal(completed[:, :, known], original[:, :, known])
    assert (masked[:, :, ~known] == -1).all()


def test_masked_view_and_grid_mark_the_hidden_pixels():
    images = torch.randint(1, 4, (2, 1, 4, 4))
    known = make_mask("top-half", 4, 4)
    view = masked_view(images, known)
    assert bool((view[:, :, 2:] == -1).all()) and torch.equal(view[:, :, :2], images[:, :, :2])
    grid = completion_grid(images, images, known, 4, scale=2, pad=1)
    assert grid.dtype == np.uint8 and grid.shape[2] == 3
    marked = (grid == HIDDEN_RGB).all(axis=2)
    assert int(marked.sum()) == 2 * 8 * (2 * 2)  # 2 images x 8 hidden pixels x 2x2 each
    rows = np.nonzero(marked.any(axis=1))[0]
    assert rows.max() < grid.shape[0] / 3  # only in the top row (the masked input)


# -- the CLI --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch):
    monkeypatch.setenv("GENZOO_PLUGINS", "")


@pytest.fixture(scope="module")
def module_home(tmp_path_factory):
    return tmp_path_factory.mktemp("complete-home")


@pytest.fixture
def pixelcnn_run(module_home, monkeypatch):
    """A tiny pixelcnn on digits, trained 3 steps once for the module."""
    monkeypatch.setenv("GENZOO_HOME", str(module_home))
    if not hasattr(pixelcnn_run, "run_id"):
        pixelcnn_run.run_id = train("pixelcnn", "--dataset", "digits", "--steps", 3, *TINY)
    return pixelcnn_run.run_id


def digits_test():
    from genzoo.plugins.datasets import load_digits

    return load_digits().test


def test_complete_npy_keeps_the_known_pixels(pixelcnn_run, tmp_path):
    out = tmp_path / "c.npy"
    result = run("complete", pixelcnn_run, "--mask", "top-half", "-n", 5, "-o", out,
                 "--seed", 1)
    assert "32 of 64 pixels hidden" in result.stdout
    masked, completed, original = np.load(out)
    assert masked.shape == completed.shape == original.shape == (5, 1, 8, 8)
    assert np.array_equal(original, digits_test()[:5].numpy())  # the first N test images
    known = make_mask("top-half", 8, 8).numpy()
    assert (masked[:, :, ~known] == -1).all() and np.array_equal(masked[:, :, known],
                                                                 original[:, :, known])
    assert np.array_equal(completed[:, :, known], original[:, :, known])
    assert completed.min() >= 0 and completed.max() < 17
    assert not np.array_equal(completed, original)  # the hidden half was drawn, not copied

    again = tmp_path / "again.npy"
    run("complete", pixelcnn_run, "--mask", "top-half", "-n", 5, "-o", again, "--seed", 1)
    assert np.array_equal(np.load(again), np.load(out))
    other = tmp_path / "other.npy"
    run("complete", pixelcnn_run, "--mask", "top-half", "-n", 5, "-o", other, "--seed", 2)
    assert not np.array_equal(np.load(other)[1], completed)


def test_complete_png_has_three_rows_with_the_hidden_part_marked(pixelcnn_run, tmp_path):
    out = tmp_path / "c.png"
    run("complete", pixelcnn_run, "--mask", "center", "-n", 3, "-o", out)
    image = np.asarray(Image.open(io.BytesIO(out.read_bytes())).convert("RGB"))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.shape[0] > 3 * 8 * 2 and image.shape[1] > 3 * 8 * 2  # 3 rows of 3 images
    marked = np.nonzero((image == HIDDEN_RGB).all(axis=2).any(axis=1))[0]
    assert len(marked) and marked.max() < image.shape[0] / 3


def test_complete_on_the_train_split(pixelcnn_run, tmp_path):
    from genzoo.plugins.datasets import load_digits

    out = tmp_path / "train.npy"
    run("complete", pixelcnn_run, "--split", "train", "-n", 2, "-o", out, "--mask", "left-half")
    assert np.array_equal(np.load(out)[2], load_digits().train[:2].numpy())


def test_complete_bad_inputs_exit_2_and_write_nothing(pixelcnn_run, tmp_path):
    out = tmp_path / "c.npy"
    bad_mask = run("complete", pixelcnn_run, "--mask", "diagonal", "-o", out, ok=False)
    assert bad_mask.exit_code == 2
    assert "error: unknown mask 'diagonal'; known masks: top-half" in bad_mask.output
    too_many = run("complete", pixelcnn_run, "-n", 400, "-o", out, ok=False)
    assert too_many.exit_code == 2
    assert "-n 400 is more than the 360 images of the digits test split" in too_many.output
    gif = run("complete", pixelcnn_run, "-o", tmp_path / "c.gif", ok=False)
    assert gif.exit_code == 2 and "use a file ending in .png or .npy" in gif.output
    no_run = run("complete", "no-such-run", "-o", out, ok=False)
    assert no_run.exit_code == 2 and "no-such-run" in no_run.output
    assert list(tmp_path.iterdir()) == []


def test_complete_a_series_run_is_a_clear_error(tmp_path):
    run_id = train("ar", "--dataset", "sunspots", "--set", "p=3")
    result = run("complete", run_id, "-o", tmp_path / "c.png", ok=False)
    assert result.exit_code == 2
    message = result.output.strip()
    assert message.startswith(f"error: run {run_id} (model 'ar',") and "\n" not in message
    assert "cannot complete images" in message and "pixelcnn" in message
    assert not (tmp_path / "c.png").exists()


def test_label_on_a_model_without_labels_is_a_clear_error(pixelcnn_run, tmp_path):
    result = run("sample", pixelcnn_run, "--label", 3, "-n", 2, "-o", tmp_path / "s.npy",
                 ok=False)
    assert result.exit_code == 2
    assert "--label needs a class-conditional model" in result.output
    assert pixelcnn_run in result.output and not (tmp_path / "s.npy").exists()


# -- a class-conditional model, for --label -------------------------------------------------


def test_label_samples_a_trained_conditional_gated_pixelcnn(tmp_path):
    """A real conditional run on digits: --label 3 draws class-3 samples into the file; 10 and
    -1 are outside digits' classes 0..9, a one-line error that writes nothing."""
    run_id = train("gated-pixelcnn", "--dataset", "digits", "--set", "conditional=true",
                   "--steps", 3, *TINY)
    out = tmp_path / "three.npy"
    result = run("sample", run_id, "--label", 3, "-n", 2, "-o", out)
    assert result.stdout.strip() == f"wrote 2 samples of class 3 from {run_id} to {out}"
    drawn = np.load(out)
    assert drawn.shape == (2, 1, 8, 8) and drawn.min() >= 0 and drawn.max() < 17
    for label in (10, -1):
        bad = tmp_path / f"bad{label}.npy"
        result = run("sample", run_id, "--label", label, "-n", 2, "-o", bad, ok=False)
        assert result.exit_code == 2
        assert result.output.strip() == (f"error: class label {label} is outside this "
                                         "dataset's classes 0..9")
        assert not bad.exists()


@dataclass
class CondConfig(PixelCNNConfig):
    """A tiny PixelCNN with a class bias, standing in for any conditional model."""

    conditional: bool = True


class CondPixelCNN(PixelCNN):
    """PixelCNN plus a learned per-class bias on every pixel's logits."""

    def __init__(self, config, data):
        super().__init__(config, data)
        self.class_bias = nn.Embedding(data.n_classes, data.shape[0] * data.levels)
        with torch.no_grad():  # strong class biases, so a label visibly changes the samples
            self.class_bias.weight.normal_(0, 3.0)

    def network(self, scaled, labels=None):
        return super().network(scaled) + self.class_bias(labels)[:, :, None, None]

    def cached_stepper(self, n, labels):
        """PixelCNN's fast stepper (if it has one) plus the class bias."""
        inner = super().cached_stepper(n, labels)
        return None if inner is None else BiasedStepper(inner, self.class_bias(labels))


class BiasedStepper:
    """A stepper whose parameters at every position get a fixed (N, P) bias added."""

    def __init__(self, inner, bias):
        self.inner, self.bias, self.incremental = inner, bias, inner.incremental

    def params_at(self, x, row, col):
        return self.inner.params_at(x, row, col) + self.bias


@pytest.fixture
def with_conditional_model(monkeypatch):
    registry = get_registry(environ={"GENZOO_PLUGINS": ""})
    registry.models["cond-test"] = ModelSpec(
        name="cond-test", model_class=CondPixelCNN, config_class=CondConfig,
        family="test", density="exact", sampling="sequential", data="image")
    monkeypatch.setattr(cli_module, "_registry", lambda: registry)


def test_label_reaches_a_conditional_model(with_conditional_model, tmp_path):
    run_id = train("cond-test", "--dataset", "digits", "--steps", 2, *TINY)
    paths = {k: tmp_path / f"class{k}.npy" for k in (0, 9)}
    for k, path in paths.items():
        result = run("sample", run_id, "--label", k, "-n", 3, "-o", path, "--seed", 5)
        assert f"wrote 3 samples of class {k}" in result.stdout
    zero, nine = (np.load(p) for p in paths.values())
    assert zero.min() >= 0 and zero.max() < 17
    assert zero.shape == (3, 1, 8, 8) and not np.array_equal(zero, nine)
    bad = run("sample", run_id, "--label", 12, "-o", tmp_path / "bad.npy", ok=False)
    assert bad.exit_code == 2
    assert bad.output.strip() == ("error: class label 12 is outside this dataset's classes "
                                  "0..9")
    # completion of a conditional model's images uses their own labels
    out = tmp_path / "c.npy"
    run("complete", run_id, "-n", 2, "-o", out)
    masked, completed, original = np.load(out)
    known = make_mask("top-half", 8, 8).numpy()
    assert np.array_equal(completed[:, :, known], original[:, :, known])
