"""Who may do what on a served dashboard: read-only serving, a visitor's session, the caps.

A teacher serves one dashboard to a class (``genzoo dashboard --host 0.0.0.0``). With
``--read-only`` (``GENZOO_READ_ONLY=1`` in the server's environment) every page serves and
nothing that trains, cancels or uploads is done: the functions that do it check
:func:`read_only` on the server, so hiding a button is never the only guard. With training
allowed, each browser session holds at most :func:`session_cap` open jobs and the queue at most
:func:`queue_cap`; a session cancels only the jobs it queued (its id is the jobs' ``owner``).

No Streamlit import at module level: the registry-side callers and the tests use this too.
"""

from __future__ import annotations

import os
import secrets

READ_ONLY_MESSAGE = ("this dashboard is served read-only (`genzoo dashboard --read-only`): "
                     "training, cancelling and uploads are off")
SESSION_KEY = "genzoo_session"  # in st.session_state and the page's query parameters
DEFAULT_SESSION_CAP = 2
DEFAULT_QUEUE_CAP = 20


class ReadOnly(PermissionError):
    """A page asked for something a read-only dashboard refuses."""


def read_only_reason() -> str | None:
    """Why nothing may be started here: the server was started with ``--read-only``, or its
    runs store is one this server cannot write (a store shared read-only); None otherwise."""
    if os.environ.get("GENZOO_READ_ONLY", "").strip().lower() in ("1", "true", "yes", "on"):
        return READ_ONLY_MESSAGE
    from genzoo.registry.store import default_home, writable_home

    home = default_home()
    if not writable_home(home):
        return (f"the runs store {home} cannot be written by this server: training, "
                "cancelling and uploads are off")
    return None


def read_only() -> bool:
    """Whether training, cancelling and uploads are off (:func:`read_only_reason`)."""
    return read_only_reason() is not None


def require_writable() -> None:
    """Raise :class:`ReadOnly` (the page shows its message) on a read-only dashboard."""
    reason = read_only_reason()
    if reason is not None:
        raise ReadOnly(reason)


def _int_setting(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 1 else default


def session_cap() -> int:
    """Open jobs (queued or training) one browser session may hold: ``GENZOO_SESSION_JOBS``."""
    return _int_setting("GENZOO_SESSION_JOBS", DEFAULT_SESSION_CAP)


def queue_cap() -> int:
    """Open jobs the whole queue takes from pages: ``GENZOO_QUEUE_JOBS``."""
    return _int_setting("GENZOO_QUEUE_JOBS", DEFAULT_QUEUE_CAP)


def pool_workers() -> int | None:
    """The background pool's size the server was started with (``GENZOO_WORKERS``)."""
    text = os.environ.get("GENZOO_WORKERS", "")
    return int(text) if text.isdigit() and int(text) >= 1 else None


def session_id() -> str:
    """This browser session's id, the ``owner`` of the jobs it queues.

    Kept in the session state and mirrored in the page's query parameters, so a reload of the
    same address is still the same visitor; it is random (128 bits), so no one guesses another's.
    """
    import streamlit as st

    current = st.session_state.get(SESSION_KEY)
    if current is None:
        given = st.query_params.get(SESSION_KEY, "")
        current = given if _looks_like_session(given) else f"web-{secrets.token_hex(16)}"
        st.session_state[SESSION_KEY] = current
    if st.query_params.get(SESSION_KEY) != current:
        st.query_params[SESSION_KEY] = current
    return current


def _looks_like_session(text: str) -> bool:
    return (isinstance(text, str) and text.startswith("web-") and len(text) == 36
            and all(c in "0123456789abcdef" for c in text[4:]))
