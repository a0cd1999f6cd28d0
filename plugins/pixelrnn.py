"""PixelRNN: Row LSTM and Diagonal BiLSTM, autoregressive image models built from 2-d LSTMs.

van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016,
sec. 3.1 (Row LSTM), 3.2 (Diagonal BiLSTM), 3.4 (residual connections), 3.5 (masks).

Same chain rule as PixelCNN, p(x) = prod_i p(x_i | x_1, ..., x_{i-1}) in raster order, but the
context reaches each pixel through LSTM states carried across the image. Both layers compute
the four gates of the paper's Eq. 3 from an input-to-state part (a convolution over the whole
input map, in parallel) and a state-to-state part (a convolution of the previous state, one step
at a time):

    [o, f, i, g] = [sigm, sigm, sigm, tanh](K^ss (*) h_prev + K^is (*) x)
    c = f * c_prev + i * g        h = o * tanh(c)

- Row LSTM: one step per row, top to bottom. K^is is a 1 x k convolution along the row, masked
  so that a position sees itself and the positions to its left (mask B); K^ss is a 1 x k
  convolution of the row above's hidden state. The context grows one column to each side per
  row upward: a triangle, which misses pixels far to the right in the rows above.
- Diagonal BiLSTM: one step per diagonal. The map is skewed (row r shifted right by r), so
  diagonals become columns; K^is is 1x1, K^ss a 2x1 convolution of the previous column's state
  (the neighbours above and to the left). Run left-to-right and on the mirrored image
  right-to-left, the second map shifted down one row (so it never sees its own row), the two
  cover nearly the whole context: every row above, and the current row to the left. One pixel
  escapes them (measured, tests/plugins/test_pixelrnn.py): the last of the row just above,
  (r-1, W-1), reaches (r, c) only through the first layer's kernel (c >= W-1 - first_kernel//2),
  because the shifted map holds features *at* (r-1, W-1), never that pixel's own value. With
  the default 7x7 first layer it is missing at (H-1)(W-4) positions: 28 of 64 on 8x8, 180 of
  256 on 16x16.

A 7x7 mask-A convolution feeds the first LSTM layer; each LSTM layer is a residual block
(2h features in, h states, a 1x1 convolution back to 2h, added to the input). Training still
takes a single pass per batch, but it loops over rows or diagonals inside the pass: slower than
PixelCNN, which is the lecture's point. Channels of one pixel are independent given the earlier
pixels (as in genzoo's PixelCNN); the built-in datasets are single-channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.plugins._pixelcnn import MaskedConv2d, output_head
from genzoo.registry import Claim, ModelConfig, ModelSpec, hookimpl
from genzoo.registry.autoregressive import AutoregressiveImageModel, CategoricalPixels
from genzoo.registry.config import bounded
from genzoo.registry.errors import BadConfig


@dataclass
class PixelRNNConfig(ModelConfig):
    """Architecture shared by both PixelRNN layers, scaled to 8x8 digits on a small CPU."""

    hidden: int = bounded(16, 1, 1024)  # h: LSTM state size (residual stream carries 2h, gates 4h)
    layers: int = bounded(2, 1, 64)  # residual LSTM layers (the paper uses 12 on CIFAR-10)
    first_kernel: int = bounded(7, 3, 15)  # the type-A input convolution
    lr: float = bounded(2e-3, 1e-6, 1.0)
    batch_size: int = bounded(64, 1, 8192)

    def validate(self):
        for name in ("hidden", "layers"):  # batch_size and lr: checked by build_config
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.first_kernel < 3 or self.first_kernel % 2 == 0:
            raise BadConfig(f"first_kernel must be odd and at least 3, got {self.first_kernel}")


@dataclass
class RowLSTMConfig(PixelRNNConfig):
    """Row LSTM: adds k, the width of its input-to-state and state-to-state convolutions."""

    kernel: int = bounded(3, 3, 15)  # k = 3 in the paper: the triangular receptive field

    def validate(self):
        super().validate()
        if self.kernel < 3 or self.kernel % 2 == 0:
            raise BadConfig(f"kernel must be odd and at least 3, got {self.kernel}")


@dataclass
class DiagonalBiLSTMConfig(PixelRNNConfig):
    """Diagonal BiLSTM: its kernels are fixed by the paper (1x1 input, 2x1 state)."""


def lstm_update(gates: torch.Tensor, c_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 3 from the pre-activations (..., 4h, L) and the previous cell (..., h, L): (h, c)."""
    o, f, i, g = gates.chunk(4, dim=-2)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def skew(x: torch.Tensor) -> torch.Tensor:
    """Shift row r right by r, so each diagonal becomes a column: (N, C, H, W) -> (N, C, H, W+H-1).

    Padding each row with H zeros and re-reading the flat buffer in rows one shorter moves
    element (r, c) from flat index r*(W+H) + c to row r, column r + c.
    """
    n, ch, height, width = x.shape
    flat = F.pad(x, (0, height)).flatten(2)[:, :, :height * (width + height - 1)]
    return flat.view(n, ch, height, width + height - 1)


def unskew(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`skew`: (N, C, H, W+H-1) -> (N, C, H, W)."""
    n, ch, height, skewed_width = x.shape
    width = skewed_width - height + 1
    flat = F.pad(x.flatten(2), (0, height))  # back to rows of W+H
    return flat.view(n, ch, height, width + height)[..., :width]


class RowLSTM(nn.Module):
    """Sec. 3.1: an LSTM over rows; 1 x k masked input-to-state, 1 x k state-to-state."""

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = nn.Conv2d(in_channels, 4 * hidden, (1, kernel),
                                        padding=(0, kernel // 2))
        mask = torch.ones(1, kernel)
        mask[:, kernel // 2 + 1:] = 0  # mask B: the centre and its left, never the right
        self.register_buffer("mask", mask[None, None], persistent=False)
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, kernel, padding=kernel // 2,
                                        bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> hidden states (N, h, H, W)."""
        n, _, height, width = x.shape
        gates_in = F.conv2d(x, self.input_to_state.weight * self.mask, self.input_to_state.bias,
                            padding=self.input_to_state.padding)  # (N, 4h, H, W), all rows at once
        h = c = x.new_zeros(n, self.hidden, width)  # the state above row 0
        rows = []
        for row_gates in gates_in.unbind(2):  # one (N, 4h, W) per row; unbind: one backward op
            h, c = lstm_update(row_gates + self.state_to_state(h), c)  # (N, h, W)
            rows.append(h)
        return torch.stack(rows, dim=2)


class DiagonalBiLSTM(nn.Module):
    """Sec. 3.2: LSTMs over the diagonals of the skewed map, from the left and from the right.

    The right-to-left LSTM is the left-to-right one run on the mirrored map, with its own
    weights. Both run in one loop: their channels are stacked and every convolution is grouped
    (groups=2), which halves the number of sequential steps without mixing the directions.
    """

    def __init__(self, in_channels: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = nn.Conv2d(2 * in_channels, 8 * hidden, 1, groups=2)  # 1x1
        # 2x1 along a column of the skewed map: the states above and to the left
        self.state_to_state = nn.Conv1d(2 * hidden, 8 * hidden, 2, groups=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, h, H, W); (r, c) sees rows < r, and row r up to column c."""
        n, _, height, _ = x.shape
        both = torch.cat([x, x.flip(3)], dim=1)  # (N, 2C_in, H, W): left-to-right, mirrored
        # 1x1 before skewing, so the skew's padding holds zero pre-activations and zero states
        gates_in = skew(self.input_to_state(both))  # (N, 8h, H, W+H-1)
        h = c = x.new_zeros(n, 2, self.hidden, height)  # left of the first diagonal
        columns = []
        for column_gates in gates_in.unbind(3):  # one (N, 8h, H) per diagonal
            # row r of column t takes rows r-1 and r of column t-1, i.e. pixels (r-1, c), (r, c-1)
            recurrent = self.state_to_state(F.pad(h.flatten(1, 2), (1, 0)))  # (N, 8h, H)
            gates = (column_gates + recurrent).unflatten(1, (2, 4 * self.hidden))
            h, c = lstm_update(gates, c)  # (N, 2, h, H)
            columns.append(h.flatten(1, 2))
        states = unskew(torch.stack(columns, dim=3))  # (N, 2h, H, W+H-1) -> (N, 2h, H, W)
        left, right = states.chunk(2, dim=1)  # (N, h, H, W) each
        right = right.flip(3)  # (r, c) has seen (r, c+1), ...: pixels after it in raster order
        right = F.pad(right, (0, 0, 1, 0))[:, :, :height]  # so (r, c) takes row r-1's state
        return left + right


class ResidualLSTM(nn.Module):
    """Sec. 3.4: 2h features -> LSTM with h states -> 1x1 back to 2h, added to the input."""

    def __init__(self, lstm: nn.Module, hidden: int):
        super().__init__()
        self.lstm = lstm
        self.up = nn.Conv2d(hidden, 2 * hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.lstm(x))


class PixelRNN(CategoricalPixels, AutoregressiveImageModel):
    """Mask-A 7x7 conv, residual LSTM layers, 1x1 output head; a softmax over levels per pixel."""

    def __init__(self, config: PixelRNNConfig, data):
        super().__init__(config, data)
        channels, levels, h = data.shape[0], data.levels, config.hidden
        self.net = nn.Sequential(
            MaskedConv2d("A", channels, 2 * h, config.first_kernel),
            *[ResidualLSTM(self.make_lstm(2 * h, h), h) for _ in range(config.layers)],
            *output_head(2 * h, channels, levels))

    def make_lstm(self, in_channels: int, hidden: int) -> nn.Module:
        """The recurrent layer of this variant."""
        raise NotImplementedError

    def network(self, scaled: torch.Tensor, labels=None) -> torch.Tensor:
        """Logits of every conditional p(x_i | x_<i): (N, C, H, W) -> (N, C*levels, H, W)."""
        return self.net(scaled)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits per pixel and channel: (N, C, H, W) ints -> (N, C, levels, H, W)."""
        return self._logits(self.network(self.scale(x)))


class RowLSTMPixelRNN(PixelRNN):
    """PixelRNN with Row LSTM layers (sec. 3.1): fast per step, triangular context."""

    def make_lstm(self, in_channels, hidden):
        return RowLSTM(in_channels, hidden, self.config.kernel)


class DiagonalBiLSTMPixelRNN(PixelRNN):
    """PixelRNN with Diagonal BiLSTM layers (sec. 3.2): every earlier pixel but (r-1, W-1) (at
    columns c < W-1 - first_kernel//2), 2(W+H-1) steps."""

    def make_lstm(self, in_channels, hidden):
        return DiagonalBiLSTM(in_channels, hidden)


_PROS = [Claim("Can explicitly compute likelihood p(x)", "test_bits_per_dim"),
         Claim("Easy to optimize", "test_bits_per_dim"),
         Claim("Good samples", "quality_frechet_distance")]
_PAPER = "van den Oord et al. 2016, Pixel Recurrent Neural Networks"


@hookimpl
def register_models(register):
    """The two PixelRNN layers of the paper: Row LSTM and Diagonal BiLSTM."""
    register(ModelSpec(
        name="pixelrnn-row", model_class=RowLSTMPixelRNN, config_class=RowLSTMConfig,
        leaf="fully visible belief net",
        family="autoregressive image (PixelRNN)", density="exact", sampling="sequential",
        data="image", paper=f"{_PAPER} (sec. 3.1, Row LSTM)",
        summary="An LSTM steps down the image row by row; each pixel's context is a triangle "
                "above it, and a softmax over levels gives an exact likelihood.",
        pros=_PROS + [Claim("Fewer sequential steps than the Diagonal BiLSTM (one per row)",
                            "train_examples_per_s")],
        cons=[Claim("Sequential generation => slow: one pass per pixel",
                    "sample_ms_per_image_b1"),
              Claim("Sequential in training too: slower than PixelCNN", "train_examples_per_s"),
              Claim("Triangular receptive field misses context far to the right above", None)]))
    register(ModelSpec(
        name="pixelrnn-diag", model_class=DiagonalBiLSTMPixelRNN,
        config_class=DiagonalBiLSTMConfig,
        leaf="fully visible belief net",
        family="autoregressive image (PixelRNN)", density="exact", sampling="sequential",
        data="image", paper=f"{_PAPER} (sec. 3.2, Diagonal BiLSTM)",
        summary="Two LSTMs sweep the image's diagonals from both sides; each pixel sees every "
                "earlier pixel except the last one of the row above (one missing pixel, at 28 "
                "of 64 positions on 8x8). Exact likelihood over levels.",
        pros=_PROS + [Claim("Receptive field covers every earlier pixel but one: the last of "
                            "the row above, missed at 28 of 64 positions on 8x8", None)],
        cons=[Claim("Sequential generation => slow: one pass per pixel",
                    "sample_ms_per_image_b1"),
              Claim("Sequential in training too: the slowest of the family to train",
                    "train_examples_per_s")]))
