"""Run directories written by earlier versions (tests/fixtures/runs, scripts/make_run_fixtures.py)
still load: the run-directory format is a contract."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pyrodyn.run import load_run

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "runs"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_every_shipped_config_has_a_fixture():
    assert {p.stem for p in CONFIGS.glob("*.yaml")} <= {p.name for p in FIXTURES.iterdir()}


@pytest.mark.parametrize("run", sorted(p.name for p in FIXTURES.iterdir()))
def test_fixture_run_loads(run):
    model, cfg, _ = load_run(FIXTURES / run)
    assert cfg["model"]["type"] == type(model).__name__
    ckpt = torch.load(FIXTURES / run / "checkpoint.pt", weights_only=True)
    state = model.state_dict()
    assert set(state) == set(ckpt["state_dict"])
    for k, v in ckpt["state_dict"].items():
        torch.testing.assert_close(state[k], v)
