from __future__ import annotations

from pathlib import Path

import pytest

from pyrodyn.app.config import (
    DEFAULTS,
    ConfigError,
    apply_overrides,
    dump_yaml,
    load_yaml,
    parse_override,
    resolve,
)


def _cfg(**extra):
    cfg = {
        "data": {"path": "x.npz", "modalities": {"a": {"likelihood": {"type": "Gaussian"}}}},
        "model": {"type": "SVAE", "latent_dim": 2},
    }
    cfg.update(extra)
    return cfg


def test_resolve_fills_defaults():
    out = resolve(_cfg())
    assert out["fit"]["steps"] == DEFAULTS["fit"]["steps"]
    assert out["evaluate"]["metrics"] == ["d_stsp", "d_h", "pe"]
    assert out["data"]["standardize"] == [] and out["seed"] == 0


def test_overrides_are_yaml_typed_and_create_sections():
    out = apply_overrides(
        _cfg(),
        [
            "fit.steps=20",
            "fit.lr=1e-2",
            "fit.max_time=null",
            "data.standardize=[a]",
            "model.decoder=mlp",
            "fit.schedules.beta={type: constant, value: 0.5}",
        ],
    )
    assert out["fit"]["steps"] == 20 and out["fit"]["lr"] == pytest.approx(0.01)
    assert out["fit"]["max_time"] is None and out["data"]["standardize"] == ["a"]
    assert out["fit"]["schedules"]["beta"] == {"type": "constant", "value": 0.5}
    assert parse_override("a.b=hello world") == (["a", "b"], "hello world")


def test_likelihood_shorthand():
    cfg = _cfg()
    cfg["data"]["modalities"]["a"]["likelihood"] = "Poisson"
    assert resolve(cfg)["data"]["modalities"]["a"]["likelihood"] == {"type": "Poisson"}


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda c: c.update(extra=1), r"unknown key\(s\) \['extra'\] in the top level"),
        (lambda c: c["data"].update(windw=3), r"in section 'data'.*'window'"),
        (
            lambda c: c.update(fit={"step": 3}),
            r"in section 'fit' of the config; valid keys: \['steps'",
        ),
        (lambda c: c.update(evaluate={"burnin": 3}), r"section 'evaluate'.*'burn_in'"),
        (lambda c: c["data"].update(path=None), "data.path is not set"),
        (lambda c: c["data"].update(modalities={}), "data.modalities must map"),
        (lambda c: c["data"]["modalities"].update(b={"lik": 1}), "data.modalities.b must be"),
        (lambda c: c["data"]["modalities"]["a"].update(weight=2), r"unknown key\(s\) \['weight'\]"),
        (lambda c: c.update(model={"latent_dim": 2}), "model must be a mapping with a 'type'"),
        (lambda c: c["model"].update(likelihoods={}), "built from data.modalities"),
        (lambda c: c["data"].update(valid_fraction=1.5), r"valid_fraction must lie in \[0, 1\)"),
        (lambda c: c.update(fit=3), "fit must be a mapping"),
    ],
)
def test_invalid_configs(mutate, match):
    cfg = _cfg()
    mutate(cfg)
    with pytest.raises(ConfigError, match=match):
        resolve(cfg)


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="--set expects key=value"):
        apply_overrides(_cfg(), ["fit.steps"])
    with pytest.raises(ConfigError, match=r"model.type is 'SVAE', not a section"):
        apply_overrides(_cfg(), ["model.type.x=1"])


def test_yaml_roundtrip_and_errors(tmp_path):
    import numpy as np

    p = tmp_path / "c.yaml"
    dump_yaml({"a": np.float32(1.5), "b": (1, 2), "c": np.arange(2)}, p)
    assert load_yaml(p) == {"a": 1.5, "b": [1, 2], "c": [0, 1]}
    (tmp_path / "sci.yaml").write_text("lr: 1e-3\nsteps: 10\n")
    assert load_yaml(tmp_path / "sci.yaml") == {"lr": 0.001, "steps": 10}
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_yaml(tmp_path / "list.yaml")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_yaml(tmp_path / "none.yaml")


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")), ids=str
)
def test_shipped_configs_resolve_without_migration(path):
    import warnings

    from pyrodyn.app import factory
    from pyrodyn.app.migrate import ConfigMigrationWarning, legacy_keys

    raw = load_yaml(path)
    raw["data"]["path"] = raw["data"].get("path") or "data.npz"  # set on the command line
    # recipe options belong under objective:, not model: (a shipped config needs no migration)
    assert legacy_keys(raw["model"])[1] == {}, f"move these keys of {path.name} to objective:"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigMigrationWarning)
        cfg = resolve(raw)
    assert factory.resolve(cfg["model"]["type"], "GenerativeModel") is not None
    if cfg["objective"] is not None:
        assert factory.resolve(cfg["objective"]["type"], "Objective") is not None


def test_objective_section():
    assert resolve(_cfg())["objective"] is None  # the model's default objective
    assert resolve(_cfg(objective="MeanFieldELBO"))["objective"] == {"type": "MeanFieldELBO"}
    spec = {"type": "TraceELBO", "num_particles": 2}
    assert resolve(_cfg(objective=spec))["objective"] == spec
    with pytest.raises(ConfigError, match=r"objective must be a mapping with a 'type'"):
        resolve(_cfg(objective={"num_particles": 2}))
