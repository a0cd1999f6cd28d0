"""Copying genzoo's weights into a reference model: what shows the two are one architecture.

Kept apart from the models so that each reference stays the plain model its paper describes.
"""

from __future__ import annotations

import torch
from torch import nn


def load_from_genzoo(reference: nn.Module, genzoo_model: nn.Module) -> None:
    """Copy a genzoo model's weights into ``reference``, parameter by parameter in order.

    The two register their parameters in the same order with the same shapes (a mismatch is
    an error naming both), so this also proves the layer structure is the same.
    """
    ours, theirs = list(reference.named_parameters()), list(genzoo_model.named_parameters())
    if len(ours) != len(theirs):
        raise ValueError(f"{len(ours)} reference parameters, {len(theirs)} in genzoo's model")
    with torch.no_grad():
        for (name, p), (their_name, q) in zip(ours, theirs):
            if p.shape != q.shape:
                raise ValueError(f"{name} {tuple(p.shape)} != {their_name} {tuple(q.shape)}")
            p.copy_(q)
