"""Likelihood in the common unit: bits per dimension for images, nats per observation for series.

For an image model, ``log_prob`` is in nats per image over discrete values, so
``bits/dim = -log p(x) / (D ln 2)`` with ``D = C*H*W``, and every model's number is comparable:
exact models give the true value, bound models an upper bound on it (a lower bound on
``log p``), estimate models an estimate (an RBM's, through an AIS estimate of log Z) that is
kept under its own keys, implicit models none.
"""

from __future__ import annotations

import math

import torch

from .ais import EstimatedPartitionModel
from .bounds import ImportanceWeightedBound
from .data import ImageData, SeriesData
from .errors import BadConfig
from .model import GenerativeModel
from .series import context_length
from .spec import ModelSpec


def bound_kind(spec: ModelSpec, model: GenerativeModel | None = None) -> str:
    """``exact``, the model's bound name (``elbo``, ``iwae-K``), ``ais`` for an estimate of
    log Z, or ``none`` for implicit models."""
    if spec.density == "exact":
        return "exact"
    if spec.density == "estimate":
        return "ais"
    if spec.density == "bound":
        return model.bound_name if model is not None else GenerativeModel.bound_name
    return "none"


def check_iwae(spec: ModelSpec, model: GenerativeModel, k: int) -> None:
    """``--iwae K`` needs K >= 1 and a model with a variational bound that can be tightened."""
    if k < 1:
        raise BadConfig(f"--iwae K needs K >= 1 importance samples, got {k}")
    if spec.density == "exact":
        raise BadConfig(f"{spec.name!r} has an exact likelihood: there is no bound for --iwae to "
                        "tighten")
    if not isinstance(model, ImportanceWeightedBound):
        raise BadConfig(f"{spec.name!r} offers no importance-weighted bound (--iwae applies to "
                        "models that integrate something out by sampling it: the vae's code, "
                        "a flow's dequantization noise)")


@torch.no_grad()
def image_log_probs(model: GenerativeModel, images: torch.Tensor, labels=None,
                    batch_size: int = 256, iwae: int | None = None,
                    seed: int = 0) -> torch.Tensor:
    """``log p(x)`` in nats for every image, computed in batches on the model's device, fp32.

    A conditional model scores each image given its label: log p(x | y). With ``iwae=K`` the
    model's importance-weighted bound with K samples (Burda et al. 2016) is used instead.
    """
    model.eval()
    generator = torch.Generator(device=model.device).manual_seed(seed)
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(model.device)
        if iwae is not None:
            out.append(model.iwae_log_prob(batch, iwae, generator=generator).double().cpu())
            continue
        context = ({"labels": labels[start:start + batch_size].to(model.device)}
                   if model.conditional else {})
        out.append(model.log_prob(batch, **context).double().cpu())
    return torch.cat(out)


def series_context(model: GenerativeModel, data: SeriesData,
                   split: str) -> tuple[torch.Tensor, int]:
    """The series a split is scored on and how many observations of it are predicted.

    A held-out split is scored conditioned on the last ``order`` values before it (the end of
    the training part for validation, of training and validation for test), so the number
    covers every observation of the split; the training split conditions on its own first
    ``order``.
    """
    order = context_length(model)
    if split == "train":
        return data.train, len(data.train) - order
    if split == "val":
        if data.val is None:
            raise BadConfig(f"series {data.name!r} has no validation split")
        before, values = data.train, data.val
    else:
        before, values = data.before_test, data.test
    return torch.cat([before[len(before) - order:], values]), len(values)


@torch.no_grad()
def evaluate(model: GenerativeModel, spec: ModelSpec, data, split: str = "test",
             iwae: int | None = None) -> dict:
    """Held-out likelihood in the common unit, with the kind of bound it is.

    ``iwae=K`` reports the importance-weighted bound with K samples (bound kind ``iwae-K``).
    """
    if iwae is not None:
        check_iwae(spec, model, iwae)
    result: dict = {"split": split,
                    "bound": f"iwae-{iwae}" if iwae is not None else bound_kind(spec, model)}
    if spec.density == "implicit":
        result.update(bits_per_dim=None, note=f"{spec.name} is an implicit model: it defines no "
                                              "likelihood to evaluate")
        return result
    if not model.bound_available:
        result.update(bound="none", bits_per_dim=None,
                      note=model.bound_missing_reason
                      or f"{spec.name} has no likelihood bound on its own")
        return result
    model.eval()
    if isinstance(data, ImageData) and spec.density == "estimate":
        result.update(_estimate_scores(model, spec, *data.split(split), data))
    elif isinstance(data, ImageData):
        images, labels = data.split(split)
        if model.conditional and iwae is None:
            result.update(_conditional_scores(model, images, labels, data))
        else:
            nats = -float(image_log_probs(model, images, labels, iwae=iwae).mean())
            result.update(bits_per_dim=nats / (data.info.dims * math.log(2)), nats_per_image=nats,
                          n=len(images))
    elif isinstance(data, SeriesData):
        series, n_obs = series_context(model, data, split)
        log_prob = float(model.log_prob(series[None].to(model.device)).sum())
        result.update(nats_per_obs=-log_prob / n_obs, n=n_obs)
    else:
        raise TypeError(f"cannot evaluate on {type(data).__name__}")
    return result


ESTIMATE_NOTE = ("{name}'s log p(x) = log p*(x) - log Z uses an estimate of log Z ({how}); the "
                 "number is an estimate, never exact nor a bound: E[log Z^] <= log Z, so log p "
                 "is overestimated (bits/dim underestimated) on average")


def _estimate_scores(model: GenerativeModel, spec: ModelSpec, images: torch.Tensor, labels,
                     data: ImageData) -> dict:
    """An estimate model's number under its own keys, with its spread (the std of log Z^ per
    image, in bits/dim) and what it is; ``bits_per_dim`` stays None, so no table mixes it with
    exact values or bounds."""
    dims_ln2 = data.info.dims * math.log(2)
    nats = -float(image_log_probs(model, images, labels).mean())
    found = model.log_partition() if isinstance(model, EstimatedPartitionModel) else None
    return {"bits_per_dim": None, "bits_per_dim_estimate": nats / dims_ln2,
            "bits_per_dim_estimate_std": found.std / dims_ln2 if found else None,
            "nats_per_image_estimate": nats, "n": len(images),
            "note": ESTIMATE_NOTE.format(name=spec.name, how=found.describe() if found
                                         else "the model's own estimator")}


def _conditional_scores(model: GenerativeModel, images: torch.Tensor, labels: torch.Tensor,
                        data: ImageData) -> dict:
    """A class-conditional model's two numbers, kept apart: the marginal p(x) as its score and
    p(x | y) given the true label beside it, under its own name. Both come from the same K
    passes (one per class)."""
    dims_ln2 = data.info.dims * math.log(2)
    per_class = class_log_probs(model, images)  # (K, N)
    marginal = -float(marginalize(per_class).mean())
    given = -float(per_class.gather(0, labels.long().cpu()[None]).mean())
    return {"bits_per_dim": marginal / dims_ln2, "nats_per_image": marginal,
            "bits_per_dim_given_label": given / dims_ln2, "n": len(images),
            "conditional_note": CONDITIONAL_NOTE}


CONDITIONAL_NOTE = ("class-conditional model: bits_per_dim is the marginal p(x) = (1/K) sum_y "
                    "p(x | y) over the K classes, as the model samples them (uniformly); "
                    "bits_per_dim_given_label is p(x | y) at the true label, a different "
                    "quantity (it is given the label) that is never compared with p(x)")


@torch.no_grad()
def class_log_probs(model: GenerativeModel, images: torch.Tensor,
                    batch_size: int = 256) -> torch.Tensor:
    """log p(x | y) of every image under every class y of a class-conditional model: (K, N)."""
    return torch.stack([image_log_probs(model, images,
                                        torch.full((len(images),), y, dtype=torch.int64),
                                        batch_size=batch_size)
                        for y in range(int(model.data.n_classes))])


def marginalize(per_class: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_y p(x | y) from the (K, N) table of :func:`class_log_probs`."""
    return torch.logsumexp(per_class, 0) - math.log(len(per_class))


def marginal_log_probs(model: GenerativeModel, images: torch.Tensor,
                       batch_size: int = 256) -> torch.Tensor:
    """log p(x) of a class-conditional model: log (1/K) sum_y p(x | y), exact (K passes).

    p(y) is uniform over the K classes, the distribution the model's ``sample`` draws labels
    from, so this is the likelihood of exactly the images the model generates.
    """
    return marginalize(class_log_probs(model, images, batch_size))


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
