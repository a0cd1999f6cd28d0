"""docs/api.md is the API's docstrings, as scripts/api_docs.py writes them: a function added or
changed without the page written again fails here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import genzoo

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "api_docs.py"


def _api_docs():
    spec = importlib.util.spec_from_file_location("api_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_api_md_is_written_from_the_current_docstrings():
    docs = _api_docs()
    assert docs.DOC.read_text() == docs.render(), "run `python scripts/api_docs.py`"


def test_every_public_name_of_genzoo_is_on_the_page():
    page = _api_docs().DOC.read_text()
    for name in genzoo.__all__:
        if name != "GenzooError":
            assert f"`genzoo.{name}" in page, name
