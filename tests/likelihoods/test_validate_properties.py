"""Property: `Likelihood.validate` accepts exactly the valid observations, else a PyrodynError.

Random shapes, dtypes, values and masks; the verdict is compared with a numpy reference of each
family's support (written here, independently of the likelihoods' ``check_support``).
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrodyn.exceptions import DataError, PyrodynError, ShapeError
from pyrodyn.likelihoods import (
    Bernoulli,
    Categorical,
    Gaussian,
    Laplace,
    NegativeBinomial,
    Ordinal,
    Poisson,
    ZeroInflatedPoisson,
)


def _integer(x):
    return np.isfinite(x) & (x == np.floor(x))


def _count(x):
    return _integer(x) & (x >= 0) & (x < 2**24)


# name -> (factory, reference support of one entry); one-hot categorical is checked by rows
FAMILIES = {
    "gaussian": (lambda: Gaussian((2,), name="m"), np.isfinite),
    "laplace": (lambda: Laplace((2,), name="m"), np.isfinite),
    "poisson": (lambda: Poisson((2,), name="m"), _count),
    "negbin": (lambda: NegativeBinomial((2,), name="m"), _count),
    "zip": (lambda: ZeroInflatedPoisson((2,), name="m"), _count),
    "bernoulli": (lambda: Bernoulli((2,), name="m"), lambda x: (x == 0) | (x == 1)),
    "categorical": (
        lambda: Categorical(3, num_channels=2, name="m"),
        lambda x: _integer(x) & (x >= 0) & (x <= 2),
    ),
    "ordinal": (lambda: Ordinal(2, 3, name="m"), lambda x: _integer(x) & (x >= 1) & (x <= 3)),
    "onehot": (lambda: Categorical(2, one_hot=True, name="m"), None),
}
DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.int16, torch.bool]
FLOATS = [0.0, 1.0, 2.0, 0.5, -1.0, 2.0**24, 2.0**24 - 1, 1e30, math.nan, math.inf, -math.inf]
INTS = [0, 1, 2, 3, -1, 2**24, 40000]


def _reference_ok(family: str, x: np.ndarray, mask: np.ndarray) -> bool:
    """Whether every observed entry is valid (one-hot: every fully observed row)."""
    if family == "onehot":
        rows = np.all((x == 0) | (x == 1), -1) & (x.sum(-1) == 1)
        return bool(np.all(rows | ~mask.all(-1)))
    return bool(np.all(FAMILIES[family][1](x) | ~mask))


@st.composite
def cases(draw):
    family = draw(st.sampled_from(sorted(FAMILIES)))
    lik = FAMILIES[family][0]()
    lead = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    feature = lik.feature_shape
    if draw(st.booleans()):  # a wrong feature shape (or a scalar)
        feature = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    shape = lead + feature
    dtype = draw(st.sampled_from(DTYPES))
    pool = [0, 1] if dtype == torch.bool else (FLOATS if dtype.is_floating_point else INTS)
    size = math.prod(shape)
    values = draw(st.lists(st.sampled_from(pool), min_size=size, max_size=size))
    with np.errstate(over="ignore"):  # float16 overflow is part of what is tested
        obs = torch.tensor(np.asarray(values, dtype=np.float64).reshape(shape)).to(dtype)
    kind = draw(st.sampled_from(["none", "bool", "wrong-shape", "float"]))
    mask = None
    if kind == "bool":
        bits = draw(st.lists(st.booleans(), min_size=size, max_size=size))
        mask = torch.tensor(bits, dtype=torch.bool).reshape(shape)
    elif kind == "wrong-shape":
        mask = torch.ones((*shape, 2), dtype=torch.bool)
    elif kind == "float":
        mask = torch.ones(shape)
    return family, lik, obs, mask


def _raised(call):
    """The PyrodynError ``call`` raises, or None; any other error propagates (fails the test)."""
    try:
        call()
    except PyrodynError as err:
        return err
    return None


@settings(max_examples=300)
@given(cases())
def test_validate_accepts_exactly_the_valid_observations(case):
    family, lik, obs, mask = case
    right_shape = tuple(obs.shape[obs.dim() - len(lik.feature_shape) :]) == lik.feature_shape
    right_shape &= obs.dim() >= len(lik.feature_shape)
    err = _raised(lambda: lik.validate(obs, mask))
    if err is not None:
        assert "'m'" in str(err), str(err)
        assert isinstance(err, ValueError)
        if not right_shape or (mask is not None and mask.shape != obs.shape):
            assert isinstance(err, ShapeError), str(err)
        elif mask is not None and mask.dtype != torch.bool:
            assert isinstance(err, TypeError), str(err)
        else:
            assert isinstance(err, DataError)
            m = np.ones(obs.shape, bool) if mask is None else mask.numpy()
            assert not _reference_ok(family, obs.double().numpy(), m), str(err)
        return
    # accepted: shapes agree and every observed value is valid by the reference
    assert right_shape
    assert mask is None or (mask.dtype == torch.bool and mask.shape == obs.shape)
    m = np.ones(obs.shape, bool) if mask is None else mask.numpy()
    assert _reference_ok(family, obs.double().numpy(), m)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_reference_agrees_on_a_known_bad_value(family):
    """The reference itself can say no: one known invalid entry per family."""
    lik = FAMILIES[family][0]()
    obs = torch.full((1, *lik.feature_shape), math.nan)
    with pytest.raises(DataError, match=r"'m'.*nan"):
        lik.validate(obs)
    assert not _reference_ok(family, obs.double().numpy(), np.ones(obs.shape, bool))
