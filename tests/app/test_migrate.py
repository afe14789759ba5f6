"""Configs of older pyrodyn versions: recipe keys under ``model:`` move into ``objective:``."""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
import pytest
import yaml

from pyrodyn.app.cli import main
from pyrodyn.app.config import ConfigError, resolve
from pyrodyn.app.fitrun import fit_run
from pyrodyn.app.migrate import ConfigMigrationWarning, legacy_keys
from pyrodyn.app.rundir import convert_run, load_run
from pyrodyn.models.svae import SVAE
from pyrodyn.objectives import TraceELBO


class RecipeObjective(TraceELBO):
    """An objective that took over the model key ``recipe_weight``."""

    legacy_model_keys = frozenset({"recipe_weight"})

    def __init__(self, *, recipe_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.recipe_weight = recipe_weight

    @classmethod
    def legacy_spec(cls, moved):
        return {"type": "legacy_pkg:RecipeObjective", **moved}


class RecipeSVAE(SVAE):
    default_objective = RecipeObjective


@pytest.fixture
def legacy(monkeypatch, tmp_path):
    mod = types.ModuleType("legacy_pkg")
    mod.RecipeObjective, mod.RecipeSVAE = RecipeObjective, RecipeSVAE
    monkeypatch.setitem(sys.modules, "legacy_pkg", mod)
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(4, 20, 2)))
    return {
        "data": {
            "path": str(tmp_path / "d.npz"),
            "modalities": {"x": {"likelihood": {"type": "Gaussian"}}},
            "valid_fraction": 0,
        },
        "model": {"type": "legacy_pkg:RecipeSVAE", "latent_dim": 2, "recipe_weight": 0.5},
        "fit": {"steps": 2, "batch_size": 2, "progress": False},
    }


def test_legacy_model_keys_move_into_the_objective(legacy):
    assert legacy_keys(legacy["model"])[1] == {"recipe_weight": 0.5}
    with pytest.warns(ConfigMigrationWarning, match=r"\['recipe_weight'\] of RecipeSVAE"):
        cfg = resolve(legacy)
    assert cfg["model"] == {"type": "legacy_pkg:RecipeSVAE", "latent_dim": 2}
    assert cfg["objective"] == {"type": "legacy_pkg:RecipeObjective", "recipe_weight": 0.5}
    # an explicit objective of the same class is merged; a current config is left alone
    legacy["objective"] = {"type": "legacy_pkg:RecipeObjective", "num_particles": 2}
    with pytest.warns(ConfigMigrationWarning):
        merged = resolve(legacy)["objective"]
    assert merged == {
        "type": "legacy_pkg:RecipeObjective",
        "recipe_weight": 0.5,
        "num_particles": 2,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigMigrationWarning)
        assert resolve(cfg)["objective"] == cfg["objective"]


def test_contradicting_objective_is_an_error(legacy):
    legacy["objective"] = {"type": "MeanFieldELBO"}
    with pytest.raises(ConfigError, match=r"options of the RecipeObjective objective now, but"):
        resolve(legacy)
    legacy["objective"] = {"type": "legacy_pkg:RecipeObjective", "recipe_weight": 2.0}
    with pytest.raises(ConfigError, match=r"model.recipe_weight and objective.recipe_weight"):
        resolve(legacy)


def test_old_config_fits_old_run_loads_and_convert_rewrites_it(legacy, tmp_path, capsys):
    run = tmp_path / "run"
    with pytest.warns(ConfigMigrationWarning):
        fit_run(legacy, run)
    written = yaml.safe_load((run / "config.yaml").read_text())
    assert written["objective"]["recipe_weight"] == 0.5
    # the run directory of an older pyrodyn: the recipe key under model:, no objective
    written["model"]["recipe_weight"] = 0.25
    del written["objective"]
    (run / "config.yaml").write_text(yaml.safe_dump(written))
    with pytest.warns(ConfigMigrationWarning):
        loaded = load_run(run, trusted_modules=["legacy_pkg"])  # the run names the user's module
    assert isinstance(loaded.model.elbo, RecipeObjective)
    assert loaded.model.elbo.recipe_weight == 0.25
    assert (
        main(["convert", str(run), "--trust", "legacy_pkg"]) == 0
    )  # reports the migration instead of warning
    assert "moved to objective: recipe_weight" in capsys.readouterr().out
    assert "recipe_weight" in yaml.safe_load((run / "config.yaml.orig").read_text())["model"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigMigrationWarning)
        again = load_run(run, trusted_modules=["legacy_pkg"])
    assert again.config["objective"]["recipe_weight"] == 0.25
    assert convert_run(run, trusted_modules=["legacy_pkg"])["converted"] is False
