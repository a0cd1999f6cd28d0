"""A user's own images on the dashboard: an upload checked before it is kept (and refused on a
read-only dashboard), offered on the Train page with its options, and runs on it listed by the
dataset's name, with a warning once the files changed since the runs trained."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from genzoo.dashboard import access, train_jobs
from genzoo.registry import user_data
from genzoo.registry.errors import BadData
from genzoo.registry.jobs import JobQueue
from genzoo.registry.plugins import get_registry
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run

from page_helpers import assert_clean, texts


def npz_bytes(seed: int = 0, n: int = 40) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez(buffer, images=(rng.random((n, 5, 5)) < 0.3).astype(np.uint8),
             labels=np.arange(n) % 2)
    return buffer.getvalue()


def png_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_bytes(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in entries.items():
            info = zipfile.ZipInfo(name)
            if name in links:
                info.external_attr = (0o120777 << 16)  # a symbolic link
            archive.writestr(info, payload)
    return buffer.getvalue()


def kept(home) -> list[str]:
    folder = user_data.datasets_folder(home)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_an_npz_and_a_zip_of_class_folders_are_kept_as_datasets(tmp_path):
    first = user_data.save_upload(tmp_path, "scans.npz", npz_bytes())
    again = user_data.save_upload(tmp_path, "scans.npz", npz_bytes(1))
    assert first.endswith("/datasets/scans.npz") and again.endswith("/datasets/scans-2.npz")
    images = {f"flowers/{cls}/{i}.png": png_bytes(60 * i) for cls in ("a", "b") for i in range(4)}
    extras = {"__MACOSX/._x": b"", "flowers/.DS_Store": b""}  # what macOS adds: skipped
    path = user_data.save_upload(tmp_path, "flowers.zip", zip_bytes({**images, **extras}))
    assert path.endswith("/datasets/flowers")
    assert sorted(p.name for p in (tmp_path / "datasets" / "flowers").iterdir()) == ["a", "b"]
    assert user_data.uploaded_datasets(tmp_path) == sorted([first, again, path])


@pytest.mark.parametrize("name, payload, message", [
    ("x.zip", zip_bytes({"../evil.png": png_bytes(1)}), "outside its folder"),
    ("x.zip", zip_bytes({"/etc/evil.png": png_bytes(1)}), "outside its folder"),
    ("x.zip", zip_bytes({"a/link.png": b"/etc/passwd"}, links=("a/link.png",)), "is a link"),
    ("x.zip", zip_bytes({"a/1.png": png_bytes(1), "a/notes.txt": b"hi"}), "notes.txt"),
    ("x.zip", b"not a zip at all", "not a zip file"),
    ("x.zip", zip_bytes({"a/1.png": b"\x89PNG broken"}), "1.png"),
    ("x.pkl", b"\x80\x04K\x01.", "not a .pkl file"),
    ("x.npz", b"PK\x03\x04 truncated", "x.npz"),
])
def test_a_hostile_or_broken_upload_is_refused_and_leaves_nothing(tmp_path, name, payload,
                                                                   message):
    with pytest.raises(BadData, match=message):
        user_data.save_upload(tmp_path, name, payload)
    assert kept(tmp_path) == []


def test_the_caps_hold_even_when_a_zip_s_header_lies(tmp_path, monkeypatch):
    monkeypatch.setattr(user_data, "UPLOAD_MAX_BYTES", 100)
    with pytest.raises(BadData, match="at most 0 MB"):
        user_data.save_upload(tmp_path, "big.npz", npz_bytes())
    monkeypatch.setattr(user_data, "UPLOAD_MAX_BYTES", 2**30)
    monkeypatch.setattr(user_data, "UNPACKED_MAX_BYTES", 150)  # counted while reading
    images = {f"a/{i}.png": png_bytes(i) for i in range(4)}
    with pytest.raises(BadData, match="unpacks to more than"):
        user_data.save_upload(tmp_path, "bomb.zip", zip_bytes(images))
    assert kept(tmp_path) == []


def test_a_read_only_dashboard_keeps_no_upload(app, empty_store, monkeypatch):
    monkeypatch.setenv("GENZOO_READ_ONLY", "1")
    with pytest.raises(access.ReadOnly):
        train_jobs.upload_dataset(RunStore(empty_store), "scans.npz", npz_bytes())
    assert kept(empty_store) == []
    at = app("train")
    assert_clean(at)
    assert "Uploads are off" in texts(at.info)
    assert not at.get("file_uploader")


def test_the_train_page_offers_an_upload_with_its_options_and_queues_it(app, empty_store,
                                                                          monkeypatch):
    monkeypatch.setattr(train_jobs, "ensure_pool", lambda store: None)
    path = train_jobs.upload_dataset(RunStore(empty_store), "scans.npz", npz_bytes())
    at = app("train")
    assert_clean(at)
    assert at.get("file_uploader")  # the upload box is there for image models
    picker = at.selectbox(key="dataset")
    assert path in picker.options or "scans.npz" in picker.options
    picker.set_value(path).run()
    assert_clean(at)
    assert at.selectbox(key="option-" + path + "-channels").options == ["auto", "1", "3"]
    at.number_input(key="option-" + path + "-levels").set_value(2)
    at.number_input(key="steps").set_value(3)
    [b for b in at.button if b.label == "Queue training"][0].click().run()
    assert_clean(at)
    (job,) = JobQueue(RunStore(empty_store)).list()
    assert job.request.dataset == path and job.request.dataset_options == {"levels": "2"}
    assert f"--dataset {path}" in " ".join(job.request.argv(job.run_id))
    assert "--set data.levels=2" in " ".join(job.request.argv(job.run_id))


def test_runs_on_a_user_dataset_are_listed_by_its_name_and_warn_when_it_changed(app, empty_store,
                                                                               tmp_path):
    path = tmp_path / "bars.npz"
    path.write_bytes(npz_bytes())
    start_run(get_registry(), RunStore(empty_store), "independent", str(path), steps=1,
              settings=LoopSettings(progress=False))
    at = app("likelihood")
    assert_clean(at)
    picker = at.selectbox[0]
    assert picker.value == str(path) and "bars.npz" in picker.options
    assert not at.warning
    path.write_bytes(npz_bytes(seed=5))
    at = app("likelihood")
    assert "changed since run" in texts(at.warning)
