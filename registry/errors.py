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


class CheckpointError(GenzooError):
    """A checkpoint that is missing, truncated, corrupt or not a safetensors file."""


class TrainingDiverged(GenzooError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""

    exit_code = 1
