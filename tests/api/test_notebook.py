"""The example notebook cannot rot: the test suite runs it from top to bottom, in a kernel of
this environment, on an empty runs store; a failing cell fails the test with its error."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOK = EXAMPLES / "notebooks" / "compare_on_digits.ipynb"


@pytest.mark.slow
def test_the_example_notebook_runs_every_cell_and_draws_its_figures(isolated_home, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel and the trainers it starts
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(isolated_home.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:  # the failing cell's source and traceback, shortened
        pytest.fail(f"a cell of {NOTEBOOK.name} failed:\n{str(exc)[-3000:]}")
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "a cell did not run"
    figures = [output for cell in code for output in cell.outputs
               if "application/vnd.plotly.v1+json" in output.get("data", {})]
    assert len(figures) >= 4  # bits/dim bars, samples, curves, the VAE's loss terms
    # the runs went to the store the test gave the kernel, not the user's
    runs = [path.name for path in (isolated_home / "runs").iterdir()]
    assert any(name.startswith("vae-digits") for name in runs)
    assert sum(1 for name in runs if "pixelcnn" in name) == 1
