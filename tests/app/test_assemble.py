from __future__ import annotations

import numpy as np
import pytest

from pyrodyn.app.assemble import build_likelihoods, build_model, prepare_data
from pyrodyn.app.config import ConfigError, resolve


def _cfg(path, **mods):
    return resolve(
        {
            "data": {
                "path": str(path),
                "modalities": mods
                or {
                    "g": {"likelihood": {"type": "Gaussian"}},
                    "o": {"likelihood": {"type": "Ordinal", "num_categories": 4}},
                    "c": {"likelihood": {"type": "Categorical", "num_categories": 3}},
                },
                "window": 10,
                "valid_fraction": 0.25,
                "standardize": ["g"],
            },
            "model": {"type": "SVAE", "latent_dim": 2},
        }
    )


@pytest.fixture
def npz(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "d.npz"
    np.savez(
        p,
        g=rng.normal(3.0, 2.0, size=(4, 40, 2)),
        o=rng.integers(1, 5, size=(4, 40, 5)),
        c=rng.integers(0, 3, size=(4, 40, 1)),
    )
    return p


def test_sizes_derived_from_data_and_recorded(npz):
    cfg = _cfg(npz)
    train, valid, std = prepare_data(cfg)
    liks = build_likelihoods(cfg, train)
    assert liks["g"].feature_shape == (2,) and liks["o"].feature_shape == (5,)
    assert liks["c"].feature_shape == (1,)
    mods = cfg["data"]["modalities"]
    assert mods["g"]["likelihood"]["feature_shape"] == [2]
    assert mods["o"]["likelihood"]["num_channels"] == 5
    # trial split 3/1, standardised on the training trials only
    assert train.num_trials == 3 and valid.num_trials == 1
    assert std.mean["g"].shape == (2,)
    assert abs(float(train.data["g"].mean())) < 1e-5
    # rebuilt from the recorded specs without the data
    again = build_likelihoods(cfg)
    assert again["o"].feature_shape == (5,)


def test_window_longer_than_trials(npz):
    cfg = _cfg(npz)
    cfg["data"]["window"] = 100
    with pytest.raises(ConfigError, match=r"data.window is 100 but the training trials have 40"):
        prepare_data(cfg)


def test_feature_mismatch_is_reported(npz):
    cfg = _cfg(npz, g={"likelihood": {"type": "Gaussian", "feature_shape": 3}})
    train, _, _ = prepare_data(cfg)
    with pytest.raises(ConfigError, match=r"modality 'g' expects features \(3,\).*data has \(2,\)"):
        build_likelihoods(cfg, train)


def test_objective_spec_becomes_model_elbo(npz):
    from pyrodyn.objectives import MeanFieldELBO, TraceELBO

    cfg = _cfg(npz)
    likelihoods = build_likelihoods(cfg, prepare_data(cfg)[0])
    assert type(build_model(cfg, likelihoods).elbo) is TraceELBO  # SVAE's default objective
    cfg["objective"] = {"type": "meanfieldelbo", "num_particles": 3}
    model = build_model(cfg, likelihoods)
    assert isinstance(model.elbo, MeanFieldELBO) and model.elbo.num_particles == 3
    cfg["objective"] = {"type": "MeanFieldELBOO"}
    with pytest.raises(
        ValueError, match=r"unknown Objective type 'MeanFieldELBOO' \(did you mean MeanFieldELBO"
    ):
        build_model(cfg, likelihoods)
    cfg["objective"] = {"type": "TraceELBO", "num_particle": 3}
    with pytest.raises(ValueError, match=r"objective: building TraceELBO failed"):
        build_model(cfg, likelihoods)


def test_select_defaults_to_the_first_continuous_modality(npz):
    from pyrodyn.app.assemble import build_selection

    cfg = _cfg(npz)
    cfg["fit"]["select"] = {"every": 2, "steps": 20, "burn_in": 0}
    train = prepare_data(cfg)[0]
    assert build_selection(cfg, train, None).score.modality == "g"
    cfg["fit"]["select"]["modality"] = "o"
    with pytest.raises(
        ConfigError, match=r"fit.select.modality 'o': its Ordinal likelihood is not continuous"
    ):
        build_selection(cfg, train, None)
    cfg["fit"]["select"]["prediction"] = "mean"  # expected codes are continuous
    score = build_selection(cfg, train, None).score
    assert (score.modality, score.prediction) == ("o", "mean")
    cfg["fit"]["select"]["prediction"] = "mode"
    with pytest.raises(ConfigError, match="or compare its expected values"):
        build_selection(cfg, train, None)
    cfg["fit"]["select"]["prediction"] = "draw"
    with pytest.raises(ConfigError, match=r"fit.select.prediction must be one of \('default'"):
        build_selection(cfg, train, None)
    del cfg["fit"]["select"]["prediction"]
    cfg["fit"]["select"]["modality"] = "x"
    with pytest.raises(ConfigError, match=r"'x' is not a modality; have \['g', 'o', 'c'\]"):
        build_selection(cfg, train, None)
    del cfg["fit"]["select"]["modality"]
    cfg["data"]["modalities"] = {"o": cfg["data"]["modalities"]["o"]}
    with pytest.raises(ConfigError, match="no modality has a continuous likelihood"):
        build_selection(cfg, train, None)


@pytest.mark.parametrize("bad", [0, 1.0, -0.5, True, "0.9"])
def test_select_average_is_a_decay(npz, bad):
    from pyrodyn.app.assemble import build_selection

    cfg = _cfg(npz)
    cfg["fit"]["select"] = {"every": 2, "steps": 20, "burn_in": 0, "average": 0.98}
    train = prepare_data(cfg)[0]
    assert build_selection(cfg, train, None).average == 0.98
    cfg["fit"]["select"]["average"] = bad
    with pytest.raises(
        ConfigError, match=r"fit.select.average must be a decay in \(0, 1\) or null, got"
    ):
        build_selection(cfg, train, None)
