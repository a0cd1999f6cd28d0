"""The Plugins page's "Import a bundle" section, driven through AppTest with a real upload, and
the data function behind it: a bundle imported, a bad one refused in one line, the size cap,
and a read-only dashboard that shows why instead of an uploader (and refuses a direct call)."""

from __future__ import annotations

import pytest

from genzoo.dashboard import access, plugins_data
from genzoo.registry.errors import GenzooError
from genzoo.registry.store import RunStore

from page_helpers import texts


@pytest.fixture(scope="module")
def bundle_bytes(tmp_path_factory) -> bytes:
    """A bundle of one independent-pixels run (a closed-form fit: no training steps)."""
    from genzoo.registry.bundles import export_bundle
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.training import LoopSettings, start_run

    folder = tmp_path_factory.mktemp("bundle-source")
    store = RunStore(folder / "home")
    start_run(get_registry(environ={"GENZOO_PLUGINS": ""}), store, "independent", "digits",
              steps=0, device="cpu", run_id="pixels", settings=LoopSettings(progress=False))
    export_bundle(store, ["pixels"], folder / "class.zip")
    return (folder / "class.zip").read_bytes()


def upload_and_import(at, name: str, payload: bytes):
    at.file_uploader(key="bundle-upload").set_value((name, payload, "application/zip")).run()
    assert not at.button(key="bundle-import").disabled
    return at.button(key="bundle-import").click().run()


def test_an_uploaded_bundle_is_imported_and_listed(app, empty_store, bundle_bytes):
    at = app("plugins")
    assert not at.exception
    assert "Import a bundle" in texts(at.subheader)
    assert at.button(key="bundle-import").disabled  # nothing uploaded yet
    at = upload_and_import(at, "class.zip", bundle_bytes)
    assert not at.exception and not at.error, texts(at.error)
    assert "Imported 1 of 1 runs" in texts(at.success)
    table = at.dataframe[-1].value
    assert table.to_dict("records") == [{"run id": "pixels", "imported as": "pixels",
                                         "status": "imported", "notes": ""}]
    assert RunStore(empty_store).get("pixels").status == "completed"

    at = upload_and_import(at, "class.zip", bundle_bytes)  # again: renamed by default
    assert at.dataframe[-1].value.loc[0, "imported as"] == "pixels-imported"
    at.radio(key="bundle-collision").set_value("skip").run()
    at.button(key="bundle-import").click().run()
    assert at.dataframe[-1].value.loc[0, "status"] == "skipped"
    assert "Imported 0 of 1 runs" in texts(at.success)


def test_a_bad_upload_is_one_line_and_stores_nothing(app, empty_store, bundle_bytes,
                                                     monkeypatch):
    at = upload_and_import(app("plugins"), "notes.zip", b"PK not a zip at all")
    assert not at.exception
    (message,) = [e.value for e in at.error]
    assert "notes.zip is not a zip file" in message and "\n" not in message
    assert "genzoo-upload-" not in message  # the temporary file stays hidden

    monkeypatch.setattr(plugins_data, "BUNDLE_UPLOAD_MAX_BYTES", 100)
    at = upload_and_import(app("plugins"), "class.zip", bundle_bytes)
    assert "more than an upload may hold (0 MB)" in texts(at.error)
    assert RunStore(empty_store).list_runs() == []


def test_the_data_function_checks_the_cap_before_anything_is_written(empty_store, bundle_bytes,
                                                                     monkeypatch):
    monkeypatch.setattr(plugins_data, "BUNDLE_UPLOAD_MAX_BYTES", len(bundle_bytes) - 1)
    with pytest.raises(GenzooError, match=r"^bundle class\.zip: .* more than an upload may hold"):
        plugins_data.import_uploaded_bundle(bundle_bytes, "../../class.zip")
    monkeypatch.setattr(plugins_data, "BUNDLE_UPLOAD_MAX_BYTES", len(bundle_bytes))
    table = plugins_data.import_uploaded_bundle(bundle_bytes, "class.zip", "refuse")
    assert list(table["status"]) == ["imported"]
    with pytest.raises(GenzooError, match="'pixels' is already in the runs store"):
        plugins_data.import_uploaded_bundle(bundle_bytes, "class.zip", "refuse")


def test_a_read_only_dashboard_shows_why_and_takes_no_bundle(app, empty_store, bundle_bytes,
                                                             monkeypatch):
    monkeypatch.setenv("GENZOO_READ_ONLY", "1")
    at = app("plugins")
    assert not at.exception
    assert "Import a bundle" in texts(at.subheader)
    assert len(at.get("file_uploader")) == 0
    assert f"Importing is off: {access.READ_ONLY_MESSAGE}" in texts(at.info)
    with pytest.raises(access.ReadOnly):  # the function that imports checks it too
        plugins_data.import_uploaded_bundle(bundle_bytes, "class.zip")
    assert RunStore(empty_store).list_runs() == []
