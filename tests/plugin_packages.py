"""Installed-looking plugin packages for tests: a ``.dist-info`` with entry points in the
``genzoo`` group and the modules they name, on a folder the test puts on ``sys.path``."""

from __future__ import annotations

import textwrap


def make_distribution(root, dist_name: str, entry_points: dict[str, str],
                      modules: dict[str, str], version: str = "0.1") -> None:
    """A minimal installed distribution on ``root`` (as pip would leave it) with entry points."""
    info = root / f"{dist_name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[genzoo]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


def pip_install(package, root):
    """pip-install the package folder ``package`` (non-editable, no dependencies, offline) into
    ``root/site`` as a user's ``pip install`` would, built from a copy under ``root/src`` so the
    source stays clean; returns the site folder, which the caller puts on ``sys.path``."""
    import shutil
    import subprocess
    import sys

    source, target = root / "src", root / "site"
    shutil.copytree(package, source, ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                   "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "--target", str(target), str(source)],
                   check=True, capture_output=True, text=True)
    return target
