"""PixelRNN: raster-order causality, the Row LSTM's triangle vs the Diagonal BiLSTM's context
(all but one pixel), the skew, exact likelihood, and learning."""

from __future__ import annotations

import pytest
import torch

from genzoo.plugins.pixelrnn import (
    DiagonalBiLSTM,
    DiagonalBiLSTMConfig,
    DiagonalBiLSTMPixelRNN,
    RowLSTM,
    RowLSTMConfig,
    RowLSTMPixelRNN,
    skew,
    unskew,
)
from genzoo.registry import DataInfo
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig

DIGITS = DataInfo(kind="image", shape=(1, 8, 8), levels=17)
MODELS = {"row": (RowLSTMPixelRNN, RowLSTMConfig),
          "diag": (DiagonalBiLSTMPixelRNN, DiagonalBiLSTMConfig)}


def tiny(kind: str, **overrides):
    """A small model of one variant, seeded."""
    torch.manual_seed(0)
    model_class, config_class = MODELS[kind]
    return model_class(config_class(**{"hidden": 8, **overrides}), DIGITS)


def field(model, row: int, col: int) -> torch.Tensor:
    """The pixels the conditional at (row, col) depends on: (H, W) booleans."""
    return model.receptive_field(row, col) > 0


def raster_before(row: int, col: int, height: int = 8, width: int = 8) -> torch.Tensor:
    """(H, W) booleans: True where a pixel comes before (row, col) in raster order."""
    return (torch.arange(height * width) < row * width + col).view(height, width)


def every_field(model) -> torch.Tensor:
    """The receptive field of all 64 pixels in one pass: (64, H, W) booleans.

    Batch item k is the same image and only its pixel k's output is differentiated; the items
    do not interact (eval mode), so item k's input gradient is pixel k's receptive field.
    """
    model.eval()
    x = torch.randint(17, (1, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    scaled = model.scale(x).repeat(64, 1, 1, 1).requires_grad_(True)
    out = model.network(scaled)  # (64, 17, 8, 8)
    picked = out.flatten(2)[torch.arange(64), :, torch.arange(64)]  # (64, 17): item k, pixel k
    (grad,) = torch.autograd.grad(picked.abs().sum(), scaled)
    return grad.abs().sum(1) > 0


@pytest.mark.parametrize("kind", MODELS)
def test_each_conditional_sees_only_earlier_pixels(kind):
    """Zero gradient from every pixel at or after i in raster order; nonzero from some before."""
    model = tiny(kind, layers=2)
    fields = every_field(model)
    for i in (9, 30, 63):  # the batched pass agrees with the base's receptive_field
        assert torch.equal(fields[i], field(model, *divmod(i, 8)))
    for i in range(64):
        seen = fields[i].flatten()
        assert not seen[i:].any(), f"pixel {i} sees itself or a later pixel"
        if i > 0:
            assert seen[:i].any(), f"pixel {i} sees none of the earlier pixels"


def test_row_lstm_layer_reaches_a_triangle_above():
    """One Row LSTM layer: (r, c) sees row r up to c and row r-d up to c+d, nothing below."""
    torch.manual_seed(0)
    layer = RowLSTM(in_channels=2, hidden=4, kernel=3)
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    r, c = 4, 1
    (grad,) = torch.autograd.grad(layer(x)[0, :, r, c].abs().sum(), x)
    seen = grad.abs().sum((0, 1)) > 0
    rows, cols = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    triangle = (rows <= r) & (cols <= c + (r - rows))  # mask B: the centre itself included
    assert torch.equal(seen, triangle)


def test_diagonal_bilstm_layer_sees_rows_above_and_its_row_to_the_left():
    """One Diagonal BiLSTM layer: every row above, whole; row r up to c (mask B); none after."""
    torch.manual_seed(0)
    layer = DiagonalBiLSTM(in_channels=2, hidden=4)
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    for r, c in ((0, 0), (2, 0), (3, 4), (5, 5)):
        (grad,) = torch.autograd.grad(layer(x)[0, :, r, c].abs().sum(), x)
        seen = grad.abs().sum((0, 1)) > 0
        expected = raster_before(r, c, 6, 6)
        expected[r, c] = True  # the layer's own position: features of earlier pixels only
        assert torch.equal(seen, expected), (r, c)


def test_row_lstm_misses_the_top_right_that_the_diagonal_bilstm_sees():
    """The paper's Fig. 4: the Row LSTM's context is a triangle, the Diagonal BiLSTM's nearly
    full.

    Measured with a 3x3 first layer so that kernel's reach does not blur the picture: the Row
    LSTM at (r, c) sees row r-d up to column c+d only; the Diagonal BiLSTM sees every row
    above, except the one pixel its right-to-left map cannot carry down: the last of the row
    just above, (r-1, W-1), beyond the first layer's reach (see the module docstring).
    """
    row_lstm = every_field(tiny("row", layers=2, first_kernel=3))
    diag = every_field(tiny("diag", layers=2, first_kernel=3))
    rows, cols = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    for r, c in ((3, 1), (5, 0), (6, 3)):
        before = raster_before(r, c)
        triangle = before & (cols <= c + (r - rows))
        assert torch.equal(row_lstm[8 * r + c], triangle), (r, c)
        full = before.clone()
        full[r - 1, 7] = c >= 7 - 1  # reachable only through the 3x3 first layer
        assert torch.equal(diag[8 * r + c], full), (r, c)
    # The limitation in one pixel: the top-right corner, seen from low on the left.
    assert not row_lstm[8 * 3 + 1, 0, 7] and diag[8 * 3 + 1, 0, 7]


def test_diagonal_bilstm_with_the_papers_7x7_first_layer():
    """With the default 7x7 mask-A layer the one missing pixel is seen from column W-4 on."""
    diag = every_field(tiny("diag", layers=2))
    for c in range(8):
        expected = raster_before(4, c)
        expected[3, 7] = c >= 7 - 3
        assert torch.equal(diag[8 * 4 + c], expected), c


def test_the_diagonal_bilstms_summary_counts_the_pixel_it_misses(registry):
    """The summary and the claim say what receptive_field measures at all 64 positions of the
    default model on 8x8: 28 positions miss one earlier pixel, always (r-1, W-1)."""
    spec = registry.models["pixelrnn-diag"]
    torch.manual_seed(0)
    model = spec.model_class(spec.config_class(), DIGITS)
    missed = {}
    for r in range(8):
        for c in range(8):
            unseen = raster_before(r, c) & ~field(model, r, c)
            if unseen.any():
                missed[(r, c)] = unseen.nonzero().tolist()
    assert all(pixels == [[r - 1, 7]] for (r, c), pixels in missed.items()), missed
    assert len(missed) == 28  # rows 1-7, columns 0-3: beyond the 7x7 first layer's reach
    assert "except the last one of the row above" in spec.summary
    claim = next(claim.text for claim in spec.pros if "Receptive field" in claim.text)
    assert all(f"{len(missed)} of 64 positions on 8x8" in text for text in (spec.summary, claim))


def test_skew_turns_diagonals_into_columns_and_unskew_undoes_it():
    x = torch.randn(2, 3, 5, 7)
    skewed = skew(x)
    assert skewed.shape == (2, 3, 5, 7 + 5 - 1)
    for r in range(5):
        torch.testing.assert_close(skewed[:, :, r, r:r + 7], x[:, :, r])  # row r shifted by r
        assert skewed[:, :, r, :r].eq(0).all() and skewed[:, :, r, r + 7:].eq(0).all()
    assert torch.equal(unskew(skewed), x)


@pytest.mark.parametrize("kind", MODELS)
def test_log_prob_is_the_sum_of_per_pixel_conditionals(kind):
    model = tiny(kind, layers=1).eval()
    x = torch.randint(17, (3, 1, 8, 8), generator=torch.Generator().manual_seed(1))
    log_softmax = model.logits(x).log_softmax(2)  # (3, 1, 17, 8, 8)
    by_hand = log_softmax.gather(2, x.unsqueeze(2)).flatten(1).sum(1)
    torch.testing.assert_close(model.log_prob(x), by_hand)
    assert model.loss(x)["loss"].item() == pytest.approx(-by_hand.mean().item() / 64, rel=1e-5)


@pytest.mark.parametrize("kind", MODELS)
def test_a_short_training_lowers_the_loss(kind):
    model = tiny(kind, layers=1, lr=1e-2)
    g = torch.Generator().manual_seed(0)
    # strokes: each image is a few repeated rows, so earlier pixels predict later ones
    batch = torch.randint(17, (8, 1, 2, 8), generator=g).repeat(1, 1, 4, 1)
    optimizers = model.configure_optimizers()
    first = model.training_step(batch, optimizers)["loss"]
    for _ in range(30):
        last = model.training_step(batch, optimizers)["loss"]
    assert last < 0.8 * first, (first, last)


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("key,value", [("hidden", "0"), ("layers", "0"), ("first_kernel", "4"),
                                       ("first_kernel", "1"), ("lr", "0")])
def test_invalid_config_is_a_bad_config_error(kind, key, value):
    with pytest.raises(BadConfig, match=f"{key}.*{value}"):
        build_config(MODELS[kind][1], {key: value})


@pytest.mark.parametrize("value", ["2", "1", "0"])
def test_row_lstm_kernel_must_be_odd_and_at_least_3(value):
    with pytest.raises(BadConfig, match=f"kernel must be odd and at least 3, got {value}"):
        build_config(RowLSTMConfig, {"kernel": value})
