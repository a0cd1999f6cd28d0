"""The model contract every plugin implements (DESIGN.md, "The model contract").

A model is a :class:`GenerativeModel`: a ``torch.nn.Module`` that knows its data
(:class:`DataInfo`), returns its training loss as a dict of named parts, samples in data space
and reports ``log p(x)`` per example in nats. The abstract methods are enforced: a subclass that
forgets one cannot be instantiated.
"""

from __future__ import annotations

import abc
import contextlib
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

DensityKind = Literal["exact", "bound", "estimate", "implicit"]
SamplingKind = Literal["parallel", "sequential"]
DataKind = Literal["image", "series"]


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data before it is built.

    ``shape`` is one item's shape: ``(C, H, W)`` for an image, ``(1,)`` for a univariate series
    (one observation per time step). ``levels`` is the number of discrete values per image
    dimension (``None`` for series); ``n_classes`` the number of labels, where there are any.
    """

    kind: DataKind
    shape: tuple[int, ...]
    levels: int | None = None
    n_classes: int | None = None

    @property
    def dims(self) -> int:
        """Number of dimensions of one item (pixels times channels for an image)."""
        return math.prod(self.shape)

    def to_json(self) -> dict:
        return {"kind": self.kind, "shape": list(self.shape), "levels": self.levels,
                "n_classes": self.n_classes}

    @classmethod
    def from_json(cls, d: dict) -> DataInfo:
        return cls(kind=d["kind"], shape=tuple(d["shape"]), levels=d.get("levels"),
                   n_classes=d.get("n_classes"))


@dataclass
class ModelConfig:
    """Base of every model's config dataclass: the training knobs every model has.

    A model's own config subclasses this and adds its architecture fields, each with a default,
    so ``genzoo train MODEL`` works with no ``--set`` at all.
    """

    batch_size: int = 64
    lr: float = 1e-3

    def validate(self) -> None:
        """Refuse values the field types allow but the model cannot use, with a
        :class:`~genzoo.registry.errors.BadConfig` naming the field; called by ``build_config``
        after the fields are parsed. The default accepts everything."""


class GenerativeModel(nn.Module, abc.ABC):
    """A generative model on genzoo's common footing.

    Subclasses implement :meth:`loss`, :meth:`sample` and :meth:`log_prob` (abstract, enforced).
    Image models consume and produce integer tensors ``(N, C, H, W)`` with values in
    ``[0, levels)``; series models consume float64 windows ``(N, L)`` and produce continuations.
    ``log_prob`` is in nats per example: exact, a lower bound, an estimate (an estimated log Z:
    ``density="estimate"``, :mod:`genzoo.registry.ais`) or absent (``density="implicit"``), as
    the model's descriptor declares.
    """

    # -- optional capabilities, declared once with the default a model without them has --------
    # (docs/plugins.md, "Optional capabilities"; a base class adds methods and attributes:
    # SeriesModel (its ``order``),
    # AutoregressiveImageModel, LatentVariableModel, GaussianLatentModel, RestorationModel)

    #: Whether ``log_prob`` gives a number the model stands behind. A ``density="bound"`` model
    #: that needs a second stage first (a VQ-VAE before its prior) sets False and says why in
    #: ``bound_missing_reason``; evaluation then reports no number, with that reason.
    bound_available: bool = True
    bound_missing_reason: str | None = None
    #: What ``log_prob`` of a ``density="bound"`` model is, as tables label it.
    bound_name: str = "elbo"
    #: A model whose own ``training_step`` still trains through ``loss()`` (one optimizer), so
    #: data parallelism (``--nproc``) can average its gradients; a GAN's two players cannot.
    distributes_through_loss: ClassVar[bool] = False

    @classmethod
    def data_problem(cls, data: DataInfo) -> str | None:
        """Why this model cannot model ``data`` at all (an RBM on images of 17 levels), in one
        line, or None. Comparisons, the demo and ``genzoo bench`` skip such pairs with this
        line; building the model on that data raises the same as ``BadData``."""
        return None

    def __init__(self, config: ModelConfig, data: DataInfo):
        super().__init__()
        self.config = config
        self.data = data
        # Set by the trainer (``--precision``, ``--compile``); plain attributes, not state.
        self.precision = "fp32"
        self.compiled_loss = None

    # -- the contract ------------------------------------------------------------------------

    @abc.abstractmethod
    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training loss on a batch: ``{"loss": scalar, **named_parts}``; parts are logged."""

    @abc.abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` items in data space and dtype; the same generator seed, the same items."""

    @abc.abstractmethod
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` in nats, one value per example (shape ``(N,)``)."""

    # -- defaults a model may override -------------------------------------------------------

    def fit(self, train: torch.Tensor) -> bool:
        """Fit in closed form on the whole training split, if the model can.

        Return ``True`` when the model is fully fitted (the trainer then takes no gradient
        steps), ``False`` to be trained by :meth:`training_step`. The default does nothing, but a
        model may still use this call for data-dependent set-up (normalizing constants).
        """
        return False

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimizers :meth:`training_step` receives; one Adam by default."""
        return [torch.optim.Adam(self.parameters(), lr=self.config.lr)]

    def training_step(self, batch: torch.Tensor, optimizers: list[torch.optim.Optimizer],
                      **context) -> dict[str, float]:
        """One optimization step on ``batch``; returns the logged values as floats.

        The default minimizes ``loss(batch, **context)["loss"]`` with the single optimizer.
        ``context`` holds what a conditional model is conditioned on (``labels``). A model with
        several players (a GAN) overrides this.
        """
        (optimizer,) = optimizers
        optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            parts = (self.compiled_loss or self.loss)(batch, **context)
        parts["loss"].backward()  # outside autocast: gradients take their forward's dtype
        optimizer.step()
        return {name: float(value.detach()) for name, value in parts.items()}

    # -- precision and compilation (``--precision``, ``--compile``) ------------------------

    def autocast(self):
        """The context a forward pass of training runs in: ``torch.autocast`` with bfloat16
        when the run trains in bf16, nothing otherwise. A model that overrides
        :meth:`training_step` wraps its forward passes (not its ``backward``) in it."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        from .precision import autocast

        return autocast(self.device, self.precision)

    def compile_for_training(self, **options) -> list:
        """Run what :meth:`training_step` computes through ``torch.compile``; returns the
        :class:`~genzoo.registry.precision.CompiledOrEager` wrappers it made, so the trainer can
        tell whether compiling failed (they then run eagerly).

        The default compiles :meth:`loss` (forward pass and loss: the graph the backward pass
        differentiates). A model that overrides :meth:`training_step` and does not call ``loss``
        compiles its own parts (a GAN its generator and discriminator).
        """
        from .precision import CompiledOrEager

        self.compiled_loss = CompiledOrEager(self.loss, f"{type(self).__name__}.loss",
                                             **options)
        return [self.compiled_loss]

    def attach_parent(self, parent: GenerativeModel) -> None:
        """Take what a second-stage model needs from its parent run's trained model.

        Called once, after construction and before training, for models whose spec names a
        ``parent`` (a prior over a VQ-VAE's codes copies the VQ-VAE's weights here, so its own
        checkpoint holds everything it needs).
        """
        raise NotImplementedError(f"{type(self).__name__} is not a second-stage model")

    @property
    def conditional(self) -> bool:
        """Whether the model is conditioned on class labels (then it receives ``labels``)."""
        return bool(getattr(self.config, "conditional", False))

    def info(self) -> dict:
        """Model-specific facts worth showing next to its numbers (coefficients, ...)."""
        return {}

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters or buffers (CPU for an empty model)."""
        for tensor in (*self.parameters(), *self.buffers()):
            return tensor.device
        return torch.device("cpu")


def check_image_batch(x: torch.Tensor, shape: tuple[int, ...], levels: int, model: str) -> None:
    """Refuse, with what was wrong, a batch that is not (N, *shape) integer levels in
    [0, levels): what a model built for one dataset's images must be given."""
    from .errors import BadData

    if tuple(x.shape[1:]) != tuple(shape):
        raise BadData(f"the {model} was built for images of shape {tuple(shape)}, got a batch "
                      f"of shape {tuple(x.shape)}")
    if torch.compiler.is_compiling():
        return  # reading values back would break the compiled graph; training data is checked
    if x.is_floating_point() or (len(x) and (int(x.min()) < 0 or int(x.max()) >= levels)):
        raise BadData(f"images must be integer levels in [0, {levels}); got dtype {x.dtype}"
                      + (f", values in [{x.min()}, {x.max()}]" if len(x) else ""))

