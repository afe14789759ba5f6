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
        (
            lambda c: c["data"].update(valid_fraction=1.5),
            r"data\.valid_fraction must be a float in \[0, 1\), got 1\.5 \(float\)",
        ),
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


# ---------------------------------------------------------------------------- typed values
@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("fit.lr=fast", r"^fit\.lr must be a float > 0, got 'fast' \(str\)$"),
        ("fit.steps=ten", r"^fit\.steps must be an int >= 0, got 'ten' \(str\)$"),
        (
            "data.window='20'",
            r"^data\.window must be an int >= 1 or null, got '20' \(str\); quoted, it is a "
            "string in YAML: write it without quotes$",
        ),
        ("fit.batch_size=2.9", r"^fit\.batch_size must be an int >= 1, got 2\.9 \(float\)$"),
        (
            "data.static='false'",
            r"^data\.static must be a bool \(true or false\), got 'false' \(str\); quoted",
        ),
        ("data.static=1", r"^data\.static must be a bool \(true or false\), got 1 \(int\)$"),
        ("fit.devices=true", r"^fit\.devices must be an int >= 1, got True \(bool\)$"),
        ("fit.clip_norm=.nan", r"^fit\.clip_norm must be a float > 0 or null, got nan \(float\)$"),
        ("fit.max_time=-5", r"^fit\.max_time must be a float > 0 or null, got -5 \(int\)$"),
        (
            "fit.progress='yes'",
            r"^fit\.progress must be a bool \(true or false\) or null, got 'yes'",
        ),
        ("data.dt=0", r"^data\.dt must be a float > 0, got 0 \(int\)$"),
        (
            "data.valid_fraction=null",
            r"^data\.valid_fraction must be a float in \[0, 1\), got None",
        ),
        ("data.path=5", r"^data\.path must be a file path \(str\), got 5 \(int\)$"),
        (
            "data.standardize=[a, 1]",
            r"^data\.standardize\[1\] must be a name \(str\), got 1 \(int\)$",
        ),
        ("seed=-1", r"^seed must be an int >= 0, got -1 \(int\)$"),
        ("seed=1.5", r"^seed must be an int >= 0, got 1\.5 \(float\)$"),
        (
            "device=gpu",
            r"^device must be a torch device name such as 'cpu', 'cuda' or 'cuda:1' \(str\)",
        ),
        ("device=null", r"^device must be a torch device name .*, got None \(NoneType\)$"),
        (
            "fit.optimizer=adamm",
            r"^fit\.optimizer must be one of \['adam', 'adamw', 'radam', "
            r"'sgd'\] \(str\), got 'adamm' \(str\) \(did you mean 'adam'\?\)$",
        ),
        (
            "fit.strategy=dp",
            r"^fit\.strategy must be one of \['ddp', .*\] \(str\), got 'dp' \(str\)",
        ),
        ("fit.schedule_clock=clock", r"^fit\.schedule_clock must be one of \['steps', 'time'\]"),
        ("fit.schedule_clock=time", r"fit\.schedule_clock is 'time', which needs fit\.max_time"),
        ("evaluate.steps=0", r"^evaluate\.steps must be an int >= 1 or null, got 0 \(int\)$"),
        ("evaluate.noise=1", r"^evaluate\.noise must be a bool \(true or false\) or null, got 1"),
        ("evaluate.prediction=3", r"^evaluate\.prediction must be a str, got 3 \(int\)$"),
        ("evaluate.options=[d_h]", r"^evaluate\.options must be a mapping or null, got \['d_h'\]"),
    ],
)
def test_a_value_of_the_wrong_type_or_range_names_key_expected_type_and_value(override, match):
    with pytest.raises(ConfigError, match=match):
        resolve(apply_overrides(_cfg(), [override]))


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (
            "evaluate.metrics=[d_stsp, dh]",
            r"^evaluate\.metrics\[1\] is 'dh', which is not a registered metric \(did you mean "
            r"'d_h'\?\); registered metrics: \[.*'d_h', 'd_stsp'.*'pe'",
        ),
        ("evaluate.metrics=[7]", r"^evaluate\.metrics\[0\] must be a name \(str\), got 7 \(int\)$"),
        ("evaluate.metrics={pe: 1}", r"^evaluate\.metrics must be a list of names \(str\), got"),
        (
            "evaluate.options.d_hh={sigma: 2}",
            r"^evaluate\.options\.d_hh: 'd_hh' is not a registered metric \(did you mean 'd_h'",
        ),
        (
            "evaluate.options.d_h={sigmaa: 2}",
            r"^evaluate\.options\.d_h has unknown keys \['sigmaa'\] \(did you mean 'sigma'\?\); "
            r"d_h accepts \['sigma'\]$",
        ),
        (  # the evaluator supplies x_true/forecasts; n is pe's option
            "evaluate.options.pe={x_true: 1}",
            r"^evaluate\.options\.pe has unknown keys \['x_true'\]; pe accepts \['n'\]$",
        ),
        ("evaluate.options.d_h=3", r"^evaluate\.options\.d_h must be a mapping of option"),
    ],
)
def test_metric_names_and_options_are_checked_when_resolving(override, match):
    with pytest.raises(ConfigError, match=match):
        resolve(apply_overrides(_cfg(), [override]))


def test_valid_values_are_kept_or_normalised():
    out = resolve(
        apply_overrides(
            _cfg(),
            [
                "fit.steps=1e4",  # YAML reads a float: an integral one is the int
                "fit.lr=1",  # an int where a float is expected is kept
                "fit.max_time=600",
                "fit.schedule_clock=time",
                "fit.optimizer=AdamW",  # optimizer names are case-insensitive (as in fit)
                "data.standardize=a",
                "evaluate.metrics=pe",
                "evaluate.options={d_h: null, pe: {n: 3}}",
                "evaluate.steps=null",
                "device=cuda:1",  # a name is checked here; fit checks that the device exists
            ],
        )
    )
    assert out["fit"]["steps"] == 10000 and type(out["fit"]["steps"]) is int
    assert out["fit"]["lr"] == 1 and type(out["fit"]["lr"]) is int
    assert out["fit"]["max_time"] == 600 and out["fit"]["optimizer"] == "AdamW"
    assert out["data"]["standardize"] == ["a"] and out["evaluate"]["metrics"] == ["pe"]
    assert out["evaluate"]["options"] == {"d_h": None, "pe": {"n": 3}}
    assert out["device"] == "cuda:1"
    assert resolve(apply_overrides(_cfg(), ["data.standardize=null"]))["data"]["standardize"] == []


def test_defaults_are_unchanged():
    # the defaults as pyrodyn documented them before the schema (written out: the reference)
    assert DEFAULTS == {
        "data": {
            "path": None,
            "modalities": None,
            "static": False,
            "dt": 1.0,
            "window": None,
            "valid_fraction": 0.1,
            "standardize": [],
        },
        "model": None,
        "objective": None,
        "fit": {
            "steps": 1000,
            "lr": 1e-3,
            "optimizer": "adam",
            "lr_schedule": None,
            "schedules": {},
            "batch_size": 16,
            "valid_every": 100,
            "clip_norm": 5.0,
            "checkpoint_every": 500,
            "max_time": None,
            "progress": None,
            "max_nonfinite": 3,
            "devices": 1,
            "strategy": "ddp",
            "schedule_clock": "steps",
            "select": None,
            "calibrate": None,
            "init": None,
            "restarts": 1,
            "logger": None,
        },
        "evaluate": {
            "steps": None,
            "burn_in": 0,
            "trials": 1,
            "pe_steps": 10,
            "max_points": 10000,
            "prediction": "default",
            "gmm_above": 5,
            "noise": None,
            "metrics": ["d_stsp", "d_h", "pe"],
            "options": {},
        },
        "seed": 0,
        "device": "cpu",
        "run": {},
    }
    for section in ("data", "fit", "evaluate"):  # key order is the order errors list them in
        assert list(DEFAULTS[section]) == list(resolve(_cfg())[section])


def test_a_fully_specified_valid_config_resolves_to_itself():
    cfg = {
        "data": {
            "path": "x.npz",
            "modalities": {"a": {"likelihood": {"type": "Gaussian"}}},
            "static": True,
            "dt": 0.05,
            "window": 20,
            "valid_fraction": 0.0,
            "standardize": ["a"],
        },
        "model": {"type": "SVAE", "latent_dim": 2},
        "objective": {"type": "TraceELBO", "num_particles": 2},
        "fit": {
            "steps": 0,
            "lr": 0.5,
            "optimizer": "sgd",
            "lr_schedule": {"type": "cosine", "min_factor": 0.1},
            "schedules": {"beta": {"type": "constant", "value": 0.5}},
            "batch_size": 1,
            "valid_every": 1,
            "clip_norm": None,
            "checkpoint_every": 7,
            "max_time": 1.5,
            "progress": False,
            "max_nonfinite": 1,
            "devices": 2,
            "strategy": "ddp_spawn",
            "schedule_clock": "time",
            "select": {"every": 10},
            "calibrate": {"factors": [0.99, 1.01]},
            "init": {"type": "ridge"},
            "restarts": 1,
            "logger": "tensorboard",
        },
        "evaluate": {
            "steps": 5,
            "burn_in": 1,
            "trials": 2,
            "pe_steps": 1,
            "max_points": 1,
            "prediction": "mean",
            "gmm_above": 0,
            "noise": True,
            "metrics": [],
            "options": {"d_stsp": {"n_bins": 10}},
        },
        "seed": 123,
        "device": "cpu",
        "run": {"note": 1},
    }
    import copy

    assert resolve(copy.deepcopy(cfg)) == cfg


@pytest.mark.parametrize(
    ("override", "match"),
    [("fit.lr=fast", r"^fit\.lr must be"), ("evaluate.metrics=[dh]", r"evaluate\.metrics\[0\]")],
)
def test_fit_run_refuses_a_bad_value_before_reading_data_or_writing(tmp_path, override, match):
    from pyrodyn.app.fitrun import fit_run

    cfg = apply_overrides(_cfg(), [override, f"data.path={tmp_path / 'absent.npz'}"])
    with pytest.raises(ConfigError, match=match):
        fit_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
