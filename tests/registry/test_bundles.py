"""Run bundles: ``genzoo export RUN_ID... --bundle FILE.zip`` and ``genzoo import FILE.zip``.

Round trips into a second store (records, curves, checkpoints, samples equal), parent runs that
come along, id collisions, and hostile bundles: each refused in one line that names the problem,
with nothing written to the store (no run, no folder, no leftover).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import pytest
import torch

from genzoo.registry import bundle_checks
from genzoo.registry.bundles import import_bundle, read_bundle
from genzoo.registry.checkpoints import meta_digest
from genzoo.registry.errors import GenzooError
from genzoo.registry.runs import load_run
from genzoo.registry.store import RunStore

from cli_helpers import last_json, run

TINY = {"pixelcnn": {"hidden": "8", "layers": "1"},
        "vqvae": {"hidden": "8", "codebook_size": "4", "code_dim": "4"},
        "vqvae-prior": {"hidden": "8"}}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A store with a tiny PixelCNN and a VQ-VAE with a prior trained on it (its parent)."""
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.training import LoopSettings, start_run

    registry = get_registry(environ={"GENZOO_PLUGINS": ""})
    store = RunStore(tmp_path_factory.mktemp("source") / "home")
    quiet = LoopSettings(progress=False, log_seconds=0)
    pixel = start_run(registry, store, "pixelcnn", "digits", steps=2, overrides=TINY["pixelcnn"],
                      device="cpu", settings=quiet, run_id="px")
    vqvae = start_run(registry, store, "vqvae", "digits", steps=1, overrides=TINY["vqvae"],
                      device="cpu", settings=quiet, run_id="vq")
    prior = start_run(registry, store, "vqvae-prior", None, parent=vqvae.run_id, steps=1,
                      overrides=TINY["vqvae-prior"], device="cpu", settings=quiet,
                      run_id="vq-prior")
    assert all(r.status == "completed" for r in (pixel, vqvae, prior))
    return store


@pytest.fixture(scope="module")
def bundle(source, tmp_path_factory) -> Path:
    """The three runs of ``source`` in one bundle (the prior's parent added by export)."""
    from genzoo.registry.bundles import export_bundle

    path = tmp_path_factory.mktemp("bundle") / "class.zip"
    summary = export_bundle(source, ["px", "vq-prior"], path)
    assert [r["run_id"] for r in summary["runs"]] == ["px", "vq", "vq-prior"]
    return path


def snapshot(home: Path) -> dict:
    """Every file and folder under a store's home (but its SQLite files), and its runs."""
    files = sorted(str(p.relative_to(home)) for p in home.rglob("*")
                   if not p.name.startswith("runs.sqlite")) if home.exists() else []
    return {"files": files, "runs": [r.run_id for r in RunStore(home).list_runs()]}


def samples(store: RunStore, registry, run_id: str) -> torch.Tensor:
    loaded = load_run(run_id, store, registry)
    with torch.no_grad():
        return loaded.model.sample(6, generator=torch.Generator().manual_seed(3))


# -- round trips --------------------------------------------------------------------------------


def test_a_bundle_round_trips_through_the_cli_into_another_store(source, registry, tmp_path,
                                                                 monkeypatch):
    target_home = RunStore().home
    path = tmp_path / "class.zip"
    monkeypatch.setenv("GENZOO_HOME", str(source.home))
    result = run("export", "px", "vq-prior", "--bundle", path)
    lines = result.stdout.strip().splitlines()
    points = len(source.curves("px"))
    assert points > 3  # a point of each loss part at each step
    assert lines[0].startswith(f"px: {points} logged points, checkpoint of step 2")
    assert "vq: " in lines[1] and "(added: the parent run vq-prior builds on)" in lines[1]
    assert lines[-1].startswith(f"wrote {path} (3 runs")
    manifest = read_bundle(path)
    assert manifest["format"] == "genzoo-bundle" and manifest["version"] == 1
    assert manifest["genzoo_version"] == bundle_checks.genzoo_version()
    assert set(manifest["runs"][0]["files"]) == {
        "curves.json", "ckpt-00000002.json", "ckpt-00000002.safetensors"}

    monkeypatch.setenv("GENZOO_HOME", str(target_home))
    rows = last_json(run("import", path, "--json"))
    assert [(r["run_id"], r["imported_as"], r["status"]) for r in rows] == [
        ("px", "px", "imported"), ("vq", "vq", "imported"), ("vq-prior", "vq-prior", "imported")]
    target = RunStore(target_home)
    for run_id in ("px", "vq", "vq-prior"):
        assert target.get(run_id) == source.get(run_id)  # every field, data_info included
        assert target.curves(run_id) == source.curves(run_id)
        files = {item["run_id"]: set(item["files"]) for item in manifest["runs"]}[run_id]
        assert {p.name for p in target.run_dir(run_id).iterdir()} == files - {"curves.json"}
    for run_id in ("px", "vq-prior"):  # the imported model samples what the original does
        assert torch.equal(samples(target, registry, run_id), samples(source, registry, run_id))
    assert [p.name for p in (target_home / "runs").iterdir() if p.name.startswith(".")] == []


def test_export_takes_the_last_readable_checkpoint_only(source, tmp_path):
    from genzoo.registry.bundles import export_bundle

    summary = export_bundle(source, ["px"], tmp_path / "one.zip")
    assert [(r["run_id"], r["checkpoint_step"], r["points"]) for r in summary["runs"]] == [
        ("px", 2, len(source.curves("px")))]
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        assert sorted(archive.namelist()) == [
            "manifest.json", "runs/px/ckpt-00000002.json", "runs/px/ckpt-00000002.safetensors",
            "runs/px/curves.json"]
        assert json.loads(archive.read("runs/px/curves.json")) == source.curves("px")


def test_export_refuses_a_run_still_training_and_a_missing_run(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    store = RunStore()
    store.create_run(model="pixelcnn", dataset="digits", config={}, seed=0, device="cpu",
                     data_info={}, run_id="busy")
    result = run("export", "busy", "--bundle", out / "b.zip", ok=False)
    assert result.exit_code == 2 and "'busy' is still training" in result.stderr
    result = run("export", "nope", "--bundle", out / "b.zip", ok=False)
    assert result.exit_code == 2 and "no run with id 'nope'" in result.stderr
    for options in ([], ["--bundle", out / "b.zip", "--tensorboard", out / "tb"]):
        result = run("export", "busy", *options, ok=False)
        (line,) = result.stderr.strip().splitlines()
        assert line == "error: give exactly one of --bundle FILE.zip and --tensorboard DIR"
    assert list(out.iterdir()) == []


def test_a_run_trained_on_a_users_file_imports_with_a_note(tmp_path):
    from genzoo.registry.bundles import export_bundle

    home = RunStore(tmp_path / "teacher")
    home.create_run(model="pixelcnn", dataset="/nowhere/flowers", config={}, seed=0,
                    device="cpu", data_info={"kind": "image"}, run_id="flowers",
                    dataset_identity={"name": "flowers", "path": "/nowhere/flowers",
                                      "format": "folder", "sha256": "ab" * 32})
    home.update("flowers", status="completed", metrics={"test_bits_per_dim": 4.5})
    export_bundle(home, ["flowers"], tmp_path / "f.zip")
    (row,) = import_bundle(RunStore(), tmp_path / "f.zip")
    assert row["status"] == "imported"
    assert ("trained on /nowhere/flowers, which is not on this machine: its numbers show, "
            "loading its model needs the file") in row["notes"]
    assert any("no checkpoint" in note for note in row["notes"])
    assert RunStore().get("flowers").metrics == {"test_bits_per_dim": 4.5}


# -- collisions ---------------------------------------------------------------------------------


def test_collisions_rename_refuse_and_skip(source, bundle, registry):
    store = RunStore()
    import_bundle(store, bundle)
    renamed = import_bundle(store, bundle)
    assert [(r["imported_as"], r["status"]) for r in renamed] == [
        ("px-imported", "renamed"), ("vq-imported", "renamed"), ("vq-prior-imported", "renamed")]
    prior = store.get("vq-prior-imported")
    assert prior.config["parent_run"] == "vq-imported"  # the second stage names its new parent
    assert prior.config["parent_config"] == source.get("vq-prior").config["parent_config"]
    assert any("parent_run now names 'vq-imported'" in n for n in renamed[2]["notes"])
    assert torch.equal(samples(store, registry, "vq-prior-imported"),
                       samples(source, registry, "vq-prior"))
    again = import_bundle(store, bundle, on_collision="rename")
    assert [r["imported_as"] for r in again] == [
        "px-imported-2", "vq-imported-2", "vq-prior-imported-2"]

    before = snapshot(store.home)
    with pytest.raises(GenzooError, match="run 'px' is already in the runs store .*rename"):
        import_bundle(store, bundle, on_collision="refuse")
    skipped = import_bundle(store, bundle, on_collision="skip")
    assert {r["status"] for r in skipped} == {"skipped"}
    assert snapshot(store.home) == before


def test_skip_refuses_a_different_run_under_the_same_id(bundle):
    store = RunStore()
    store.create_run(model="pixelcnn", dataset="digits", config={"hidden": 99}, seed=0,
                     device="cpu", data_info={}, run_id="px")
    store.update("px", status="completed")
    with pytest.raises(GenzooError, match="'px' is in the runs store .* not the bundle's"):
        import_bundle(store, bundle, on_collision="skip")
    assert [r.run_id for r in store.list_runs()] == ["px"]
    result = run("import", bundle, "--on-collision", "refuse", ok=False)
    (line,) = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and "run 'px' is already in the runs store" in line


def test_a_read_only_store_takes_no_bundle(bundle):
    store = RunStore()
    store.read_only = True
    with pytest.raises(GenzooError, match="read-only"):
        import_bundle(store, bundle)
    assert snapshot(store.home)["runs"] == []


def test_unknown_record_fields_are_dropped_with_a_note(bundle, tmp_path):
    entries = read_entries(bundle)
    manifest = json.loads(entries["manifest.json"])
    manifest["runs"][0]["record"]["from_the_future"] = {"x": 1}
    entries["manifest.json"] = json.dumps(manifest).encode()
    rows = import_bundle(RunStore(), write_zip(tmp_path / "f.zip", entries))
    assert "fields this genzoo does not know were dropped: from_the_future" in rows[0]["notes"]
    assert not hasattr(RunStore().get("px"), "from_the_future")


# -- hostile bundles ----------------------------------------------------------------------------


def read_entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path: Path, entries: dict, *, attrs: dict | None = None) -> Path:
    """A zip of ``entries`` ({name: bytes}), names as given; ``attrs`` sets an entry's mode."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, payload in entries.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (attrs or {}).get(name, 0o100644) << 16
            archive.writestr(info, payload)
    return path


def manifest_of(entries: dict) -> dict:
    return json.loads(entries["manifest.json"])


def rehashed(entries: dict, manifest: dict | None = None) -> dict:
    """``entries`` with a manifest that vouches for every run file as it now is."""
    manifest = manifest or manifest_of(entries)
    for item in manifest["runs"]:
        for name in item["files"]:
            payload = entries[f"runs/{item['run_id']}/{name}"]
            item["files"][name] = {"sha256": hashlib.sha256(payload).hexdigest(),
                                   "size": len(payload)}
    return {**entries, "manifest.json": json.dumps(manifest).encode()}


CKPT = "runs/px/ckpt-00000002"


def flip_byte(entries):
    payload = bytearray(entries[f"{CKPT}.safetensors"])
    payload[len(payload) // 2] ^= 0xFF
    return {**entries, f"{CKPT}.safetensors": bytes(payload)}


def with_manifest(change):
    def mutate(entries):
        manifest = manifest_of(entries)
        change(manifest)
        return {**entries, "manifest.json": json.dumps(manifest).encode()}
    return mutate


def without(name):
    return lambda entries: {k: v for k, v in entries.items() if k != name}


def plus(name, payload=b"{}"):
    return lambda entries: {**entries, name: payload}


def curves_replaced(payload: bytes):
    return lambda entries: rehashed({**entries, "runs/px/curves.json": payload})


HOSTILE = {
    "zip slip": (plus("../evil.json"), ["'../evil.json'", "climbs out"]),
    "zip slip inside": (plus("runs/px/../../evil.json"), ["climbs out"]),
    "absolute path": (plus("/tmp/evil.json"), ["'/tmp/evil.json'", "absolute path"]),
    "pickle entry": (plus("runs/px/model.pkl", pickle.dumps({"a": 1})),
                     ["'runs/px/model.pkl'", "unexpected name or extension"]),
    "python entry": (plus("runs/px/ckpt-00000002.py", b"import os"), ["ckpt-00000002.py"]),
    "backslash": (plus("runs\\px\\curves.json"), ["backslash"]),
    "folder entry": (plus("runs/px/"), ["not a regular file"]),
    "foreign run folder": (plus("runs/../x/curves.json"), ["climbs out"]),
    "hash mismatch": (flip_byte, [f"'{CKPT}.safetensors'", "SHA-256"]),
    "missing file": (without(f"{CKPT}.json"), [f"'{CKPT}.json'", "does not hold"]),
    "unlisted file": (plus("runs/px/ckpt-00000001.json"),
                      ["'runs/px/ckpt-00000001.json'", "not listed"]),
    "bad JSON": (curves_replaced(b"[{not json"), ["runs/px/curves.json", "not valid JSON"]),
    "NaN in JSON": (curves_replaced(
        b'[{"step": 1, "name": "loss", "value": NaN, "wall_time": 1.0}]'), ["NaN"]),
    "huge number in JSON": (curves_replaced(
        b'[{"step": 1, "name": "loss", "value": 1e999, "wall_time": 1.0}]'), ["1e999"]),
    "not curves": (curves_replaced(b'{"loss": 1}'), ["not a list of points"]),
    "NaN in manifest": (lambda e: {**e, "manifest.json": e["manifest.json"].replace(
        b'"created_at": ', b'"created_at": NaN, "x": ', 1)}, ["manifest.json", "NaN"]),
    "newer version": (with_manifest(lambda m: m.update(version=2)),
                      ["version 2", "reads version 1", "upgrade genzoo"]),
    "version not a number": (with_manifest(lambda m: m.update(version="1")), ["'1'"]),
    "wrong format": (with_manifest(lambda m: m.update(format="pytorch-lightning")),
                     ["not a genzoo bundle", "'pytorch-lightning'"]),
    "missing record field": (with_manifest(lambda m: m["runs"][1]["record"].pop("model")),
                             ["the record of run 'vq' lacks model"]),
    "record of a running run": (with_manifest(
        lambda m: m["runs"][0]["record"].update(status="running")), ["'running'"]),
    "record naming another run": (with_manifest(
        lambda m: m["runs"][0]["record"].update(run_id="vq")), ["names run 'vq'"]),
    "bad run id": (with_manifest(lambda m: m["runs"][0].update(run_id="../px")),
                   ["no valid run id"]),
    "size mismatch": (with_manifest(
        lambda m: m["runs"][0]["files"]["curves.json"].update(size=1)), ["not the 1"]),
    "no manifest": (without("manifest.json"), ["no manifest.json"]),
}


def assert_refused(path: Path, words: list[str], **options) -> str:
    """Importing ``path`` fails with one line holding ``words``, and the store is untouched."""
    store = RunStore()
    store.create_run(model="pixelcnn", dataset="digits", config={}, seed=0, device="cpu",
                     data_info={}, run_id="mine")  # a run already there, left as it is
    before = snapshot(store.home)
    with pytest.raises(GenzooError) as caught:
        import_bundle(store, path, **options)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message
    assert snapshot(store.home) == before
    assert [p.name for p in (store.home / "runs").iterdir()] == ["mine"]
    return message


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_bundle_is_refused_naming_the_problem_and_nothing_lands(bundle, tmp_path,
                                                                           case):
    mutate, words = HOSTILE[case]
    path = write_zip(tmp_path / "hostile.zip", mutate(read_entries(bundle)))
    message = assert_refused(path, words)
    assert message.startswith("bundle ") and str(path) in message


def test_a_symbolic_link_entry_is_refused(bundle, tmp_path):
    entries = {**read_entries(bundle), "runs/px/ckpt-00000003.json": b"/etc/passwd"}
    path = write_zip(tmp_path / "link.zip", entries,
                     attrs={"runs/px/ckpt-00000003.json": 0o120777})
    assert_refused(path, ["'runs/px/ckpt-00000003.json'", "symbolic link"])


def test_a_repeated_entry_is_refused(bundle, tmp_path):
    path = write_zip(tmp_path / "twice.zip", read_entries(bundle))
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate"):
        archive.writestr("runs/px/curves.json", b"[]")
    assert_refused(path, ["'runs/px/curves.json'", "appears twice"])


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "notes.zip"
    path.write_bytes(b"PK but not really a zip file")
    assert_refused(path, [str(path), "not a zip file"])
    result = run("import", path, ok=False)
    (line,) = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and "is not a zip file" in line
    result = run("import", tmp_path / "missing.zip", ok=False)
    assert result.exit_code == 2 and "missing.zip: the file does not exist" in result.stderr


@pytest.mark.parametrize("cap, words", [
    ("MAX_CHECKPOINT_BYTES", [f"'{CKPT}.safetensors'", "more than such a file may hold"]),
    ("MAX_JSON_BYTES", ["'manifest.json'", "more than such a file may hold"]),
    ("MAX_TOTAL_BYTES", ["unpacks to", "more than a bundle may hold"]),
])
def test_a_bundle_past_a_size_cap_is_refused_before_it_is_read(bundle, monkeypatch, cap, words):
    monkeypatch.setattr(bundle_checks, cap, 1000)
    assert_refused(bundle, words)


def test_a_zip_header_that_lies_about_a_size_is_caught(bundle, tmp_path, monkeypatch):
    """A central directory that declares 500 bytes for a 40 kB entry (and a manifest that
    agrees), under a cap of 1,000: the entry passes the header check, and the read stops."""
    entries = {name: payload for name, payload in read_entries(bundle).items()
               if not name.startswith("runs/vq")}  # the PixelCNN run alone
    manifest = manifest_of(entries)
    del manifest["runs"][1:]
    manifest["runs"][0]["files"]["ckpt-00000002.safetensors"]["size"] = 500
    entries["manifest.json"] = json.dumps(manifest).encode()
    path = write_zip(tmp_path / "liar.zip", entries)
    data = bytearray(path.read_bytes())
    name = f"{CKPT}.safetensors".encode()
    at = -1
    while True:  # the entry's record in the central directory
        at = data.find(b"PK\x01\x02", at + 1)
        assert at >= 0
        length = struct.unpack("<H", data[at + 28:at + 30])[0]
        if data[at + 46:at + 46 + length] == name:
            break
    data[at + 24:at + 28] = struct.pack("<I", 500)  # its uncompressed size
    path.write_bytes(bytes(data))
    monkeypatch.setattr(bundle_checks, "MAX_CHECKPOINT_BYTES", 1000)
    assert_refused(path, [f"'{CKPT}.safetensors'", "damaged or its zip header lies"])


def test_bytes_past_the_header_are_counted_while_reading(bundle, monkeypatch):
    """Whatever the zip library returns, no more bytes are taken than the header declares."""
    real_open = zipfile.ZipFile.open

    def lying_open(self, info, *args, **kwargs):
        if info.filename.endswith(".safetensors"):
            return io.BytesIO(b"\0" * (info.file_size + 100))
        return real_open(self, info, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", lying_open)
    assert_refused(bundle, [f"'{CKPT}.safetensors'", "more bytes than its zip header says"])


class Plant:
    """What a malicious checkpoint carries: unpickling it creates the file at ``path``."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_in_place_of_safetensors_is_refused_and_never_run(bundle, tmp_path):
    canary = tmp_path / "canary"
    pickle.loads(pickle.dumps({"w": Plant(canary)}))
    assert canary.exists()  # the payload is live: an unpickling loader would run it
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"model.net.0.weight": Plant(marker)})
    entries = read_entries(bundle)
    meta = json.loads(entries[f"{CKPT}.json"])
    meta["sha256"] = hashlib.sha256(payload).hexdigest()  # the checkpoint vouches for it
    meta["meta_sha256"] = meta_digest(meta)
    entries = rehashed({**entries, f"{CKPT}.safetensors": payload,
                        f"{CKPT}.json": json.dumps(meta).encode()})
    path = write_zip(tmp_path / "planted.zip", entries)
    message = assert_refused(path, ["checkpoint runs/px/ckpt-00000002.safetensors is not a "
                                    "readable safetensors file"])
    assert ".bundle-import-" not in message  # the staging folder stays hidden
    assert not marker.exists()


def test_a_safetensors_file_no_checkpoint_names_is_refused(bundle, tmp_path):
    entries = read_entries(bundle)
    entries["runs/px/ckpt-00000001.safetensors"] = entries[f"{CKPT}.safetensors"]
    manifest = manifest_of(entries)
    manifest["runs"][0]["files"]["ckpt-00000001.safetensors"] = {}
    path = write_zip(tmp_path / "orphan.zip", rehashed(entries, manifest))
    assert_refused(path, ["ckpt-00000001.safetensors is named by no checkpoint JSON"])


def test_a_failure_while_landing_leaves_nothing(bundle, monkeypatch):
    """The last rename fails: the records roll back and the folders already moved go back."""
    real_rename = Path.rename

    def failing_rename(self, target):
        if Path(target).name == "vq-prior":
            raise OSError(28, "No space left on device")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(GenzooError, match="No space left on device; nothing was imported"):
        import_bundle(RunStore(), bundle)
    assert snapshot(RunStore().home) == {"files": [], "runs": []}


def test_the_version_check_reads_every_readable_version(monkeypatch):
    monkeypatch.setattr(bundle_checks, "READABLE_VERSIONS", frozenset({1, 2}))
    for version in (1, 2):
        bundle_checks.check_version({"format": "genzoo-bundle", "version": version}, "b.zip")
    with pytest.raises(GenzooError, match=r"version 3, written by a newer genzoo; .* reads "
                                          r"version 1, 2: upgrade genzoo"):
        bundle_checks.check_version({"format": "genzoo-bundle", "version": 3}, "b.zip")
    with pytest.raises(GenzooError, match="version 0, which this genzoo .* does not read"):
        bundle_checks.check_version({"format": "genzoo-bundle", "version": 0}, "b.zip")


def test_a_renamed_id_is_cut_to_fit_a_run_id():
    from genzoo.registry.bundles import _free_id

    long = "a" * 128
    assert _free_id(long, lambda run_id: False) == "a" * 119 + "-imported"
    taken = {"a" * 119 + "-imported"}
    assert _free_id(long, taken.__contains__) == "a" * 117 + "-imported-2"
