"""Fast sampling for PixelCNN++: per-scale caches of every layer (Ramachandran et al. 2017,
"Fast Generation for Convolutional Autoregressive Models", the Fast PixelCNN++ idea).

Kept apart from ``pixelcnn_pp.py`` so the model file reads like the paper; the underscore keeps
it from being loaded as a plugin. ``PixelCNNpp.cached_stepper`` builds the stepper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genzoo.registry.errors import BadData

from .pixelcnn_pp import GatedResnet, PixelCNNpp

# -- fast sampling: per-scale caches (Ramachandran et al. 2017, Fast PixelCNN++) ----------------


def _run(t: torch.Tensor, row: int, taps: int, stride: int = 1) -> torch.Tensor:
    """Of a padded channels-last grid (N, H_k + 1, W_k + 2, D): for every output column c, the
    ``taps`` positions of ``row`` from column stride*c - 1 on, side by side, as a view
    (N, W_k / stride, taps * D): what one kernel row reads."""
    n, _, padded_width, depth = t.shape
    return t.as_strided((n, (padded_width - 2) // stride, taps * depth),
                        (t.stride(0), stride * depth, 1), (row + 1) * padded_width * depth)


def _kernel_row(weight: torch.Tensor, i: int) -> torch.Tensor:
    """Row i of a (Cout, Cin, kh, kw) kernel as a matrix over ``_run``'s (kw, Cin) order."""
    return weight.detach()[:, :, i].permute(2, 1, 0).flatten(0, 1)  # (kw*Cin, Cout)


def _signed(matrix: torch.Tensor, depth_in: int | None = None) -> torch.Tensor:
    """A matrix that gives [y, -y] instead of y: (K, Cout) -> (K, 2Cout). With ``depth_in``, it
    reads a signed input, [v, -v] per position, of which only v counts (zero rows for -v)."""
    if depth_in is not None:
        taps = matrix.reshape(-1, depth_in, matrix.shape[1])  # (taps, D, Cout)
        matrix = torch.cat([taps, torch.zeros_like(taps)], 1).flatten(0, 1)  # (taps*2D, Cout)
    return torch.cat([matrix, -matrix], 1).contiguous()


def _two_rows(t: torch.Tensor, row: int, taps: int, stride: int = 1) -> torch.Tensor:
    """Like ``_run`` over rows row-1 and row: what a (2, taps) kernel reads at every output
    column of ``row``, as a matrix (N * W_k / stride, 2 * taps * D) in (kh, kw, D) order."""
    n, _, padded_width, depth = t.shape
    width = (padded_width - 2) // stride
    windows = t.as_strided((n, width, 2, taps * depth),
                           (t.stride(0), stride * depth, t.stride(1), 1),
                           row * padded_width * depth)
    return windows.reshape(n * width, -1)


def _kernel(weight: torch.Tensor) -> torch.Tensor:
    """A whole (Cout, Cin, kh, kw) kernel as a matrix over ``_two_rows``' (kh, kw, Cin) order."""
    return weight.detach().permute(2, 3, 1, 0).flatten(0, 2)  # (kh*kw*Cin, Cout)


def _gate_first(matrix: torch.Tensor) -> torch.Tensor:
    """A gate convolution's [a, b] outputs as [a, -a, b, b]: (K, 2F) -> (K, 4F). With x signed,
    [x, -x] + [a, -a] * sigmoid([b, b]) is the signed x + a * sigmoid(b), in one addcmul."""
    a, b = matrix.chunk(2, -1)
    return torch.cat([a, -a, b, b], -1).contiguous()


def _above(windows: torch.Tensor, top: torch.Tensor, bias: torch.Tensor) -> tuple:
    """A kernel's top row applied at every column of a row at once: (N, W_k, K) windows ->
    W_k x (N, Cout), what each position of the row gets from the row above."""
    out = torch.addmm(bias, windows.reshape(-1, windows.shape[2]), top)
    return out.view(len(windows), -1, len(bias)).unbind(1)


def _grid(n: int, depth: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """A channels-last map zero-padded as the shifted convolutions pad: one row on top, one
    column either side. Position (R, C) is [:, R + 1, C + 1]; padding is never written."""
    return like.new_zeros(n, height + 1, width + 2, depth)


class _Rows:
    """A u-stream activation at one scale, computed a whole row at a time. It holds v signed,
    [v, -v], and its concat_elu, elu([v, -v]) (the padding stays 0 in both: concat_elu(0) = 0);
    a block's hidden map needs only the latter."""

    def __init__(self, n, depth, height, width, like):
        self.data, self.celu = (_grid(n, 2 * depth, height, width, like) for _ in range(2))
        self.read_at = False  # whether a ul block reads it, one position at a time

    def set_row(self, row: int, signed: torch.Tensor, celu_only: bool = False) -> None:
        """Write a whole row from its signed values, (N * W_k, 2D)."""
        signed = signed.view(len(self.data), -1, signed.shape[1])  # (N, W_k, 2D)
        if not celu_only:
            self.data[:, row + 1, 1:-1] = signed
        self.celu[:, row + 1, 1:-1] = F.elu(signed)

    def begin_row(self, row: int) -> None:
        if self.read_at:  # views of the row's positions, so that a step costs no indexing
            self.celu_at = self.celu[:, row + 1, 1:-1].unbind(1)  # W_k x (N, 2D)

    def zero_(self) -> None:
        self.data.zero_()
        self.celu.zero_()


class _Cells:
    """A ul-stream activation at one scale, computed one position at a time. It holds v signed,
    [v, -v] (a block's hidden map holds concat_elu(h) = elu([h, -h]) instead): one elu then
    gives concat_elu(v), and x + a * sigmoid(b) stays one addcmul."""

    def __init__(self, n, depth, height, width, like):
        self.data = _grid(n, 2 * depth, height, width, like)
        self.read_pairs = False  # whether a (2x2) kernel reads it

    def begin_row(self, row: int) -> None:
        self.at = self.data[:, row + 1, 1:-1].unbind(1)  # W_k x (N, 2D)
        if self.read_pairs:  # (row, c-1) and (row, c) side by side: W_k x (N, 4D)
            self.pairs = _run(self.data, row, 2).unbind(1)

    def zero_(self) -> None:
        self.data.zero_()


class _UInit:
    """u = down_shift(conv_(2x3)(x)): row R from image rows R-2 and R-1 (row 0: the zeros)."""

    def __init__(self, conv, x: torch.Tensor, out: _Rows):
        self.scale, self.x, self.out = 0, x, out
        self.weight, self.bias = _signed(_kernel(conv.weight)), _signed(conv.bias.detach()[None])

    def row(self, r: int) -> None:
        if r > 0:
            self.out.set_row(r, torch.addmm(self.bias, _two_rows(self.x, r - 1, 3), self.weight))


class _UResnet:
    """A u-stream gated ResNet block, x + a * sigmoid(b), on one whole row."""

    def __init__(self, block: GatedResnet, scale: int, x: _Rows, skip: _Rows | None, h: _Rows,
                 out: _Rows):
        self.scale, self.x, self.skip, self.h, self.out = scale, x, skip, h, out
        bias = block.conv_in.bias + (block.skip.bias if skip is not None else 0.0)
        self.in_weight, self.in_bias = _signed(_kernel(block.conv_in.weight)), _signed(
            bias.detach()[None])
        if skip is not None:
            self.skip_weight = _signed(block.skip.weight.detach()[:, :, 0, 0].t())  # (2F, 2F)
        self.out_weight = _gate_first(_kernel(block.conv_out.weight))
        self.out_bias = _gate_first(block.conv_out.bias.detach()[None])

    def row(self, r: int) -> None:
        h = torch.addmm(self.in_bias, _two_rows(self.x.celu, r, 3), self.in_weight)  # [h, -h]
        if self.skip is not None:  # 1x1 on concat_elu(skip)
            h.addmm_(self.skip.celu[:, r + 1, 1:-1].reshape(len(h), -1), self.skip_weight)
        self.h.set_row(r, h, celu_only=True)
        gates = torch.addmm(self.out_bias, _two_rows(self.h.celu, r, 3), self.out_weight)
        a, sigmoid_b = gates.chunk(2, 1)
        signed = self.x.data[:, r + 1, 1:-1].reshape(len(gates), -1)
        self.out.set_row(r, torch.addcmul(signed, a, sigmoid_b.sigmoid_()))


class _UDown:
    """Strided (2x3) convolution: row R of scale k from rows 2R-1 and 2R of scale k-1."""

    def __init__(self, conv, scale: int, x: _Rows, out: _Rows):
        self.scale, self.x, self.out = scale, x, out
        self.weight = _signed(_kernel(conv.weight), conv.in_channels)  # reads v of [v, -v]
        self.bias = _signed(conv.bias.detach()[None])

    def row(self, r: int) -> None:
        windows = _two_rows(self.x.data, 2 * r, 3, stride=2)
        self.out.set_row(r, torch.addmm(self.bias, windows, self.weight))


class _UUp:
    """Transposed (2x3) stride-2 convolution: row R of scale k is kernel row R % 2 applied to
    row R // 2 of scale k+1 (stride 2 = kernel height: one input row per output row)."""

    def __init__(self, deconv, scale: int, x: _Rows, out: _Rows):
        self.deconv, self.scale, self.x, self.out = deconv, scale, x, out

    def row(self, r: int) -> None:
        depth = self.deconv.in_channels
        source = self.x.data[:, r // 2 + 1, 1:-1, :depth].transpose(1, 2)[:, :, None]
        y = F.conv_transpose2d(source, self.deconv.weight, self.deconv.bias, stride=2)
        width = self.out.data.shape[2] - 2
        y = y[:, :, r % 2, 1:1 + width].transpose(1, 2)  # the full pass's crop: 1 on the left
        self.out.set_row(r, torch.cat([y, -y], 2).reshape(-1, 2 * depth))


class _ULInit:
    """ul = down_shift(conv_(1x3)(x)) + right_shift(conv_(2x1)(x)). All but the tap on the
    pixel to the left, (r, c-1), read row r-1: that part is done for the whole row at its
    start, with the biases of the parts that are not shifted-in zeros."""

    def __init__(self, above, left, x: torch.Tensor, out: _Cells):
        self.scale, self.x, self.out = 0, x, out
        top = _kernel_row(above.weight, 0)  # (3*D, F) on (r-1, c-1..c+1)
        top[:left.weight.shape[1]] += _kernel_row(left.weight, 0)  # and (r-1, c-1) of the left
        self.top, self.bottom = _signed(top), _signed(_kernel_row(left.weight, 1))  # (r, c-1)
        self.above_bias, self.left_bias = (_signed(conv.bias.detach()[None])[0]
                                           for conv in (above, left))

    def begin_row(self, r: int) -> None:
        triples = _run(self.x, r - 1, 3)  # (N, W', 3*D): image row r-1, columns c-1..c+1
        bias = self.left_bias + (self.above_bias if r > 0 else 0.0)  # row 0: shifted-in zeros
        above = torch.addmm(bias, triples.reshape(-1, triples.shape[2]), self.top)
        above = above.view(len(self.x), -1, len(bias))  # (N, W', 2F)
        above[:, 0] -= self.left_bias  # column 0: the right shift's zeros
        self.above = above.unbind(1)
        self.left = self.x[:, r + 1, :-2].unbind(1)  # W' x (N, D): the pixel left of (r, c)

    def at(self, r: int, c: int) -> None:
        torch.addmm(self.above[c], self.left[c], self.bottom, out=self.out.at[c])


class _ULResnet:
    """A ul-stream gated ResNet block at one position. Each (2x2) convolution's top kernel row
    sees row R-1 only, so it is computed for the whole row when the row begins; a position
    then adds the bottom row's taps, (R, C-1) and (R, C), and the 1x1 skips at (R, C). The
    first convolution gives [h, -h] (weights [W, -W]): concat_elu(h) is one in-place elu; the
    second gives [a, -a, b, b]: the signed output is one addcmul."""

    def __init__(self, block: GatedResnet, scale: int, x: _Cells, u: _Rows, short: _Cells | None,
                 h: _Cells, out: _Cells):
        self.scale, self.x, self.u, self.short, self.h, self.out = scale, x, u, short, h, out
        x.read_pairs = h.read_pairs = u.read_at = True
        f = block.conv_in.out_channels
        self.in_top, self.in_bottom = (_signed(_kernel_row(block.conv_in.weight, i))
                                       for i in range(2))
        self.in_bias = _signed((block.conv_in.bias + block.skip.bias).detach()[None])[0]
        # concat_elu([u, s]) = elu([u, s, -u, -s]): source i owns columns i and sources + i
        sources = 1 if short is None else 2
        skip = block.skip.weight.detach()[:, :, 0, 0].view(f, 2, sources, f)  # (F, sign, i, F)
        self.u_skip, self.short_skip = [_signed(skip[:, :, i].flatten(1).t())  # (2F, 2F)
                                        for i in range(sources)] + [None] * (2 - sources)
        self.out_top, self.out_bottom = (_gate_first(_kernel_row(block.conv_out.weight, i))
                                         for i in range(2))
        self.out_bias = _gate_first(block.conv_out.bias.detach()[None])[0]
        self.gates = self.out_bias.new_empty(len(x.data), 4 * f)
        self.a, self.sigmoid_b = self.gates.chunk(2, 1)  # views: [a, -a], [b, b]

    def begin_row(self, r: int) -> None:
        # row R-1, columns C-1..C, of concat_elu(x) (elu of the signed x) and of concat_elu(h)
        self.above_in = _above(F.elu(_run(self.x.data, r - 1, 2)), self.in_top, self.in_bias)
        self.above_out = _above(_run(self.h.data, r - 1, 2), self.out_top, self.out_bias)

    def at(self, r: int, c: int) -> None:
        h = self.h.at[c]  # (N, 2F)
        torch.addmm(self.above_in[c], F.elu(self.x.pairs[c]), self.in_bottom, out=h)
        h.addmm_(self.u.celu_at[c], self.u_skip)
        if self.short is not None:
            h.addmm_(F.elu(self.short.at[c]), self.short_skip)
        F.elu_(h)  # [h, -h] -> concat_elu(h)
        torch.addmm(self.above_out[c], self.h.pairs[c], self.out_bottom, out=self.gates)
        self.sigmoid_b.sigmoid_()
        torch.addcmul(self.x.at[c], self.a, self.sigmoid_b, out=self.out.at[c])


class _ULDown:
    """Strided (2x2) convolution: (R, C) of scale k from rows 2R-1..2R, columns 2C-1..2C of
    scale k-1; row 2R-1 when row R begins, row 2R per position."""

    def __init__(self, conv, scale: int, x: _Cells, out: _Cells):
        self.scale, self.x, self.out = scale, x, out
        depth = conv.in_channels
        self.top, self.bottom = (_signed(_kernel_row(conv.weight, i), depth) for i in range(2))
        self.bias = _signed(conv.bias.detach()[None])[0]

    def begin_row(self, r: int) -> None:
        self.above = _above(_run(self.x.data, 2 * r - 1, 2, stride=2), self.top, self.bias)
        self.pairs = _run(self.x.data, 2 * r, 2, stride=2).unbind(1)

    def at(self, r: int, c: int) -> None:
        torch.addmm(self.above[c], self.pairs[c], self.bottom, out=self.out.at[c])


class _ULUp:
    """Transposed (2x2) stride-2 convolution: (R, C) of scale k is one kernel tap,
    (R % 2, C % 2), applied to (R // 2, C // 2) of scale k+1."""

    def __init__(self, deconv, scale: int, x: _Cells, out: _Cells):
        self.scale, self.x, self.out = scale, x, out
        weight = deconv.weight.detach()  # (Cin, Cout, 2, 2)
        self.taps = [[_signed(weight[:, :, i, j], weight.shape[0]) for j in range(2)]
                     for i in range(2)]
        self.bias = _signed(deconv.bias.detach()[None])[0]

    def begin_row(self, r: int) -> None:
        self.row_taps = self.taps[r % 2]

    def at(self, r: int, c: int) -> None:
        torch.addmm(self.bias, self.x.at[c // 2], self.row_taps[c % 2], out=self.out.at[c])


class CachedStepper:
    """Mixture parameters of one pixel from per-scale caches of every layer (Fast PixelCNN++).

    Each stream is causal at every scale k (factor 2^k): the u stream at row R depends on
    image rows < 2^k R only, the ul stream at (R, C) on the pixels before (2^k R, 2^k C) in
    raster order. So when image row r begins, every scale with 2^k | r computes row r / 2^k of
    each u layer (whole-row convolutions) and, for each ul convolution, the part of the row
    that sees the row above; at pixel (r, c), every scale with 2^k | r and 2^k | c computes one
    new ul position per layer (small matrix products on the caches). ul at padded columns is
    never needed (ul looks only up and left) and is skipped. Positions must come in raster
    order from (0, 0), as ``complete`` visits them; runs the network in eval mode (dropout is
    the identity).
    """

    incremental = True  # the caches need every position, known or not

    def __init__(self, model: PixelCNNpp, n: int):
        self.model, self.n, self.next = model, n, 0
        channels, self.height, self.width = model.data.shape
        cfg, m = model.config, 2 ** (model.config.scales - 1)
        padded = (self.height + -self.height % m, self.width + -self.width % m)
        self.maps = [[] for _ in range(cfg.scales)]  # every cached activation, per scale

        def new(kind, scale: int):
            self.maps[scale].append(kind(n, cfg.nr_filters, padded[0] >> scale,
                                         padded[1] >> scale, model.out.weight))
            return self.maps[scale][-1]

        def add(ops: list, op):
            ops.append(op)
            return op.out

        # the program of PixelCNNpp.network, split into u (per row) and ul (per position) ops
        self.u_ops, self.ul_ops = [], []
        self.x = _grid(n, channels + 1, *padded, model.out.weight)  # the image, and the ones
        u = add(self.u_ops, _UInit(model.u_init, self.x, new(_Rows, 0)))
        ul = add(self.ul_ops, _ULInit(model.ul_init_above, model.ul_init_left, self.x,
                                      new(_Cells, 0)))
        us, uls = [u], [ul]
        blocks = iter(zip(model.down_u, model.down_ul))
        for scale in range(cfg.scales):
            for _ in range(cfg.nr_resnet):
                block_u, block_ul = next(blocks)
                u = add(self.u_ops, _UResnet(block_u, scale, u, None, new(_Rows, scale),
                                             new(_Rows, scale)))
                ul = add(self.ul_ops, _ULResnet(block_ul, scale, ul, u, None, new(_Cells, scale),
                                                new(_Cells, scale)))
                us.append(u)
                uls.append(ul)
            if scale < cfg.scales - 1:
                u = add(self.u_ops, _UDown(model.downsize_u[scale], scale + 1, u,
                                           new(_Rows, scale + 1)))
                ul = add(self.ul_ops, _ULDown(model.downsize_ul[scale], scale + 1, ul,
                                              new(_Cells, scale + 1)))
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        blocks = iter(zip(model.up_u, model.up_ul))
        for step in range(cfg.scales):
            scale = cfg.scales - 1 - step
            for _ in range(cfg.nr_resnet + (step > 0)):
                block_u, block_ul = next(blocks)
                u = add(self.u_ops, _UResnet(block_u, scale, u, us.pop(), new(_Rows, scale),
                                             new(_Rows, scale)))
                ul = add(self.ul_ops, _ULResnet(block_ul, scale, ul, u, uls.pop(),
                                                new(_Cells, scale), new(_Cells, scale)))
            if scale > 0:
                u = add(self.u_ops, _UUp(model.upsize_u[step], scale - 1, u,
                                         new(_Rows, scale - 1)))
                ul = add(self.ul_ops, _ULUp(model.upsize_ul[step], scale - 1, ul,
                                            new(_Cells, scale - 1)))
        self.last = ul
        # out(elu(ul)): elu of the signed [ul, -ul] is concat_elu(ul), whose first half counts
        head = model.out.weight.detach()[:, :, 0, 0].t()  # (F, P)
        self.head = torch.cat([head, torch.zeros_like(head)]).contiguous()  # (2F, P)
        self.head_bias = model.out.bias.detach()

    @torch.no_grad()
    def params_at(self, x: torch.Tensor, row: int, col: int) -> torch.Tensor:
        """(N, 3*C*K) mixture parameters of pixel (row, col), given that x is final before it."""
        index = row * self.width + col
        if index == 0:  # a new image: forget the last one
            if tuple(x.shape) != (self.n, *self.model.data.shape):
                raise BadData(f"the cached stepper was built for {self.n} images of shape "
                              f"{self.model.data.shape}, got x of shape {tuple(x.shape)}")
            for maps in self.maps:
                for cached in maps:
                    cached.zero_()
            self.x.zero_()
            self.x[:, 1:self.height + 1, 1:self.width + 1, -1] = 1.0  # the ones channel
        elif index != self.next:
            raise BadData(f"the cached stepper visits pixels in raster order: expected "
                          f"{divmod(self.next, self.width)} next, got {(row, col)}")
        self.next = index + 1
        if index > 0:  # the previous pixel has been drawn: the caches may now see it
            prev_row, prev_col = divmod(index - 1, self.width)
            self.x[:, prev_row + 1, prev_col + 1, :-1] = self.model.scale(
                x[:, :, prev_row, prev_col])
        if col == 0:  # the rows above are final: every scale that starts a row here
            starting = [scale for scale in range(len(self.maps)) if row % (1 << scale) == 0]
            for op in self.u_ops:  # computes its u rows,
                if op.scale in starting:
                    op.row(row >> op.scale)
            for scale in starting:
                for cached in self.maps[scale]:
                    cached.begin_row(row >> scale)
            for op in self.ul_ops:  # and the part of its ul row that sees the row above
                if op.scale in starting:
                    op.begin_row(row >> op.scale)
        for op in self.ul_ops:  # the new ul position, at every scale that has one
            if (row | col) % (1 << op.scale) == 0:
                op.at(row >> op.scale, col >> op.scale)
        return torch.addmm(self.head_bias, F.elu(self.last.at[col]), self.head)
