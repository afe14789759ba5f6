"""Executes tutorials/03_fusion_mmvm.ipynb in smoke mode (PYRODYN_SMOKE=1)."""

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "tutorials" / "03_fusion_mmvm.ipynb"


def test_fusion_tutorial_runs_in_smoke_mode(monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    if not NOTEBOOK.exists():
        pytest.skip(f"{NOTEBOOK} not found")
    monkeypatch.setenv("PYRODYN_SMOKE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "smoke mode" in outputs
    assert "alpha = 1 equals independent VAEs: True" in outputs
    assert "all modalities missing is refused" in outputs
    assert "imputed m1, m2 from m0" in outputs
