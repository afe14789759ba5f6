"""Run directories written by earlier versions (tests/fixtures/runs, scripts/make_run_fixtures.py)
still load through ``pyrodyn.load_run``: the run-directory format is a contract.

Fixtures written before recipe options moved into objectives hold them under ``model:``; loading
migrates them into ``objective:`` (the objective class's ``legacy_model_keys`` / ``legacy_spec``)
with a warning, and the model trains with that objective.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

import pyrodyn
from pyrodyn.app import factory
from pyrodyn.app.config import load_yaml
from pyrodyn.app.migrate import ConfigMigrationWarning

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_every_shipped_config_has_a_fixture():
    assert {p.stem for p in CONFIGS.glob("*.yaml")} <= {p.name for p in FIXTURES.iterdir()}


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir()))
def test_fixture_run_loads(name):
    raw = load_yaml(FIXTURES / name / "config.yaml")
    cls = factory.resolve(raw["model"]["type"], "GenerativeModel")
    accepted, _, _ = factory.accepted_parameters(cls)
    legacy = cls.default_objective.legacy_model_keys
    moved = {k: v for k, v in raw["model"].items() if k not in accepted and k in legacy}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigMigrationWarning)
        run = pyrodyn.load_run(FIXTURES / name)
    migrated = [w for w in caught if issubclass(w.category, ConfigMigrationWarning)]
    assert bool(migrated) == bool(moved), [str(w.message) for w in migrated]
    assert type(run.model) is cls and run.config["model"]["type"] == raw["model"]["type"]
    assert set(run.config["model"]) - {"type"} <= set(accepted)
    if moved:
        spec = cls.default_objective.legacy_spec(moved)
        assert run.config["objective"] == spec
        assert isinstance(run.model.elbo, factory.resolve(spec["type"], "Objective"))
    ckpt = torch.load(FIXTURES / name / "checkpoint.pt", weights_only=True)
    state = run.model.state_dict()
    assert set(state) == set(ckpt["state_dict"])
    for k, v in ckpt["state_dict"].items():
        torch.testing.assert_close(state[k], v)
    # the fixtures ship without their tiny data files: the error says how to pass one
    with pytest.raises(FileNotFoundError, match=r"does not exist; pass another file"):
        _ = run.data
