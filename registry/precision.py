"""Numeric precision and compilation of a training run: ``--precision`` and ``--compile``.

``bf16`` trains under ``torch.autocast`` with bfloat16: matrix products and convolutions run in
bfloat16, while autocast keeps reductions, softmax and log-likelihoods in float32 and the
weights stay float32 (no loss scaling is needed, unlike float16). ``auto`` takes bf16 on a GPU
that supports it and fp32 elsewhere: on a CPU, bfloat16 is emulated on most processors and
seldom faster. Held-out likelihoods are always evaluated in fp32, so bits/dim do not depend on
the precision a model was trained in.

``--compile`` runs what a model's training step computes through ``torch.compile``. Compilation
happens at the first call and can fail (no C compiler, an operation the compiler does not
support): the run then goes on in eager mode with a warning, never a crash.
"""

from __future__ import annotations

import contextlib
import warnings

import torch

from .errors import GenzooError

PRECISION_CHOICES = ("auto", "fp32", "bf16")
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: an Ampere or newer GPU, or any CPU
    (torch's CPU autocast supports bfloat16 everywhere, emulated where the processor lacks it)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu"


def resolve_precision(name: str | None, device: torch.device) -> str:
    """``auto``, ``fp32`` or ``bf16`` to ``"fp32"`` or ``"bf16"`` for ``device``; a clear error
    for an unknown name, or for bf16 on a GPU without it."""
    name = (name or "auto").strip().lower()
    if name not in PRECISION_CHOICES:
        raise GenzooError(f"unknown precision {name!r}; choose one of: "
                          f"{', '.join(PRECISION_CHOICES)}")
    if name == "auto":
        return "bf16" if device.type == "cuda" and bf16_supported(device) else "fp32"
    if name == "bf16" and not bf16_supported(device):
        where = (torch.cuda.get_device_name(device) if device.type == "cuda" else str(device))
        capability = (" (compute capability {}.{}; bfloat16 needs 8.0, Ampere or newer)".format(
            *torch.cuda.get_device_capability(device)) if device.type == "cuda" else "")
        raise GenzooError(f"--precision bf16: {where} does not support bfloat16{capability}; "
                          "use --precision fp32")
    return name


def autocast(device: torch.device, precision: str):
    """The autocast context for a forward pass at ``precision`` (a no-op for fp32)."""
    dtype = AUTOCAST_DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


class CompiledOrEager:
    """``fn`` through ``torch.compile``, falling back to ``fn`` itself, with a warning, the first
    time the compiled version raises.

    Compiling happens on the first call; a failure there (a missing compiler, an unsupported
    operation) is not the model's fault, so the call is repeated eagerly. An error in the model
    itself raises again from the eager call, as it would without ``--compile``. ``error`` holds
    the compiler's message once it has failed.
    """

    def __init__(self, fn, name: str, **options):
        self.fn, self.name, self.error = fn, name, None
        try:
            self.compiled = torch.compile(fn, **options)
        except Exception as exc:  # a bad backend or option fails here, before any call
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        self.error = f"{type(exc).__name__}: {first_line}"
        self.compiled = None
        warnings.warn(f"torch.compile failed for {self.name} ({self.error}); training goes on "
                      "in eager mode", RuntimeWarning, stacklevel=3)

    @property
    def active(self) -> bool:
        """Whether calls still go through the compiled version."""
        return self.compiled is not None

    def __call__(self, *args, **kwargs):
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:  # compiling failed; the eager call below says if it was us
                self._fail(exc)
        return self.fn(*args, **kwargs)
