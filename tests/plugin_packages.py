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
