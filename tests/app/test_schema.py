"""Property tests of the config schema through ``resolve``: every value either resolves or is a
ConfigError that names its dotted key.

The expected verdicts come from :data:`SPEC`, the documented type and range of every key written
out here (independent of :mod:`pyrodyn.app.schema`).
"""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrodyn.app.config import ConfigError, resolve


def _base():
    return {
        "data": {"path": "x.npz", "modalities": {"a": {"likelihood": {"type": "Gaussian"}}}},
        "model": {"type": "SVAE", "latent_dim": 2},
    }


def _finite(v):
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _is_int(v):
    """An int, or a float with an integral value (YAML's 1e4); never a bool."""
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and _finite(v) and v.is_integer())


def _is_float(v):
    return not isinstance(v, bool) and isinstance(v, (int, float)) and _finite(v)


#: key -> (kind, null allowed, range): the documented schema of the scalar keys.
SPEC = {
    "data.static": ("bool", False, None),
    "data.dt": ("float", False, lambda x: x > 0),
    "data.window": ("int", True, lambda x: x >= 1),
    "data.valid_fraction": ("float", False, lambda x: 0 <= x < 1),
    "fit.steps": ("int", False, lambda x: x >= 0),
    "fit.lr": ("float", False, lambda x: x > 0),
    "fit.batch_size": ("int", False, lambda x: x >= 1),
    "fit.valid_every": ("int", False, lambda x: x >= 1),
    "fit.clip_norm": ("float", True, lambda x: x > 0),
    "fit.checkpoint_every": ("int", False, lambda x: x >= 1),
    "fit.max_time": ("float", True, lambda x: x > 0),
    "fit.progress": ("bool", True, None),
    "fit.max_nonfinite": ("int", False, lambda x: x >= 1),
    "fit.devices": ("int", False, lambda x: x >= 1),
    "evaluate.steps": ("int", True, lambda x: x >= 1),
    "evaluate.burn_in": ("int", False, lambda x: x >= 0),
    "evaluate.trials": ("int", False, lambda x: x >= 1),
    "evaluate.pe_steps": ("int", False, lambda x: x >= 1),
    "evaluate.max_points": ("int", False, lambda x: x >= 1),
    "evaluate.gmm_above": ("int", False, lambda x: x >= 0),
    "evaluate.noise": ("bool", True, None),
    "seed": ("int", False, lambda x: x >= 0),
}
#: key -> the valid strings (None: any string).
CHOICES = {
    "fit.optimizer": {"adam", "adamw", "radam", "sgd"},  # case-insensitive
    "fit.strategy": {"ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"},
    "fit.schedule_clock": {"steps"},  # "time" needs fit.max_time, null here
    "evaluate.prediction": None,
}

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(min_value=10**300, max_value=10**320),  # beyond a float
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e4, max_value=1e4).map(float.__round__).map(float),  # integral floats
    st.sampled_from(["1", "0.5", "true", "false", "null", "", "fast", "1e-3"]),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
WORDS = st.one_of(
    st.sampled_from(
        ["adam", "ADAM", "radam", "sgd", "adamm", "ddp", "ddp_spawn", "dp", "steps", "time"]
    ),
    VALUES,
)


def _with(key, value):
    cfg = _base()
    *sections, name = key.split(".")
    node = cfg
    for s in sections:
        node = node.setdefault(s, {})
    node[name] = value
    return cfg


def _get(cfg, key):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def _accepted(kind, nullable, ok, value):
    if value is None:
        return nullable
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return _is_int(value) and ok(value)
    return _is_float(value) and ok(value)


def _refused(cfg, key, value):
    with pytest.raises(ConfigError) as err:
        resolve(cfg)
    message = str(err.value)
    assert message.startswith(f"{key} must be "), message
    assert repr(value) in message and f"({type(value).__name__})" in message, message


@given(key=st.sampled_from(sorted(SPEC)), value=VALUES)
def test_every_scalar_key_resolves_or_names_key_type_and_value(key, value):
    kind, nullable, ok = SPEC[key]
    cfg = _with(key, copy.deepcopy(value))
    if not _accepted(kind, nullable, ok, value):
        _refused(cfg, key, value)
        return
    got = _get(resolve(cfg), key)
    if value is None:
        assert got is None
    elif kind == "int":  # an integral float becomes its int
        assert type(got) is int and got == int(value)
    else:  # floats and ints kept as given
        assert got == value and type(got) is type(value)


@given(key=st.sampled_from(sorted(CHOICES)), value=WORDS)
def test_every_choice_key_resolves_or_names_key_type_and_value(key, value):
    choices = CHOICES[key]
    cfg = _with(key, copy.deepcopy(value))
    valid = isinstance(value, str) and (
        choices is None or (value.lower() if key == "fit.optimizer" else value) in choices
    )
    if valid:
        assert _get(resolve(cfg), key) == value
    elif key == "fit.schedule_clock" and value == "time":
        with pytest.raises(ConfigError, match=r"^fit\.schedule_clock is 'time', which needs"):
            resolve(cfg)
    else:
        _refused(cfg, key, value)


_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-2.0, 2.0),
    st.sampled_from(["a", "d_h", "pe", "dh", "adam", "cpu", "steps"]),
)
_NESTED = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["a", "d_h", "pe", "n", "sigma", "type"]), inner, max_size=3
        ),
    ),
    max_leaves=6,
)
#: Keys a random config sets: every fixed key, the free-form sections, and misspelt ones.
_KEYS = [*SPEC, *CHOICES, "data", "fit", "evaluate", "objective", "fit.schedules"]
_KEYS += ["fit.lr_schedule", "fit.select", "evaluate.metrics", "evaluate.options"]
_KEYS += ["evaluate.options.d_h", "data.standardize", "data.path", "device", "fit.step", "sed"]


@given(st.dictionaries(st.sampled_from(_KEYS), _NESTED, max_size=4))
def test_random_configs_resolve_or_raise_a_config_error_naming_a_key(overrides):
    cfg = _base()
    for key, value in sorted(overrides.items()):  # sections first, then keys inside them
        *sections, name = key.split(".")
        node = cfg
        for s in sections:
            if not isinstance(node.get(s), dict):
                node[s] = {}
            node = node[s]
        node[name] = value
    try:
        resolve(copy.deepcopy(cfg))
    except ConfigError as err:
        message = str(err)
        named = {k.split(".")[0] for k in overrides} | set(overrides)
        assert any(k in message for k in named) or "top level" in message, message
