"""Errors a user can act on.

Anything raised as a :class:`GenzooError` is the user's to fix (a wrong name, a bad file, a
missing GPU); the CLI prints its message on one line and exits with its ``exit_code``, and the
dashboard shows it with ``st.error``. Everything else is a bug in genzoo or in a plugin.
"""

from __future__ import annotations


class GenzooError(Exception):
    """A problem with the user's input or environment, told in one line."""

    exit_code = 2


class NotFound(GenzooError):
    """A model, dataset, run or file that does not exist."""


class BadConfig(GenzooError):
    """A config key or value that the model's config dataclass does not accept."""


class BadData(GenzooError):
    """Data that cannot be used: an empty CSV, NaNs, a series too short for the model."""


class StoreError(GenzooError):
    """The runs store itself cannot be used: its home is a file, its SQLite file is damaged,
    locked, read-only (for a write) or of another version of genzoo."""


class CheckpointError(GenzooError):
    """A checkpoint that is missing, truncated, corrupt or not a safetensors file."""


class TrainingDiverged(GenzooError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""

    exit_code = 1


class Cancelled(KeyboardInterrupt):
    """Training was stopped on request (SIGTERM: the dashboard's Cancel button, ``kill``).

    A ``KeyboardInterrupt``, not an ``Exception`` and not a :class:`GenzooError`: no
    ``except Exception`` in model code can swallow it, and code that cleans up after Ctrl-C
    cleans up after it too. The trainer marks the run ``cancelled`` and keeps a checkpoint.
    """
