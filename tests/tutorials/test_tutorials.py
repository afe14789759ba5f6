"""Executes every tutorial notebook in smoke mode (PYRODYN_SMOKE=1) and checks what it prints."""

from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[2] / "tutorials"

# notebook -> lines its smoke run must print (each proves a section ran to its end)
EXPECTED = {
    "01_mtf_lorenz63.ipynb": [
        "D_stsp =",
        "all modalities missing is refused",
        "labels-only latent D_stsp",
    ],
    "02_mmgpvae.ipynb": [
        "max |implied - kernel matrix|",
        "closed form for periodic+RBF? False",
        "plain PeriodicKernel is refused",
        "behaviour only",
    ],
    "03_fusion_mmvm.ipynb": [
        "alpha = 1 equals independent VAEs: True",
        "all modalities missing is refused",
        "imputed m1, m2 from m0",
    ],
    "04_custom_priors.ipynb": [
        "AR1Prior passes the PriorConformance kit",
        "StudentTPrior passes the PriorConformance kit",
        "MM-GPVAE + Student-t private",
        "highest held-out IWAE",
        "1. Is the posterior calibrated?",
        "4. Can importance-weighted numbers be trusted?",
    ],
    "05_swap_likelihoods.ipynb": [
        "difference to best",
        "held-out ratings from spikes alone",
        "elpd(spikes) from `pyrodyn diagnose`",
        "NegativeBinomial: Do replicated data look like the data?",
    ],
    "06_ladid.ipynb": ["refused:"],
}


def test_every_tutorial_is_executed_here():
    assert sorted(p.name for p in TUTORIALS.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tutorial_runs_in_smoke_mode(name, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("PYRODYN_SMOKE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    path = TUTORIALS / name
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(TUTORIALS)}}
    )
    client.execute()
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "smoke mode" in outputs
    for line in EXPECTED[name]:
        assert line in outputs, f"{name}: expected output {line!r} is missing"
