"""`Likelihood.validate` refuses wrong shapes, masks, dtypes and inexact counts (issue 15)."""

import pytest
import torch

from pyrodyn.exceptions import DataError, ShapeError
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

EVERY = [
    lambda: Gaussian(3, name="m"),
    lambda: Laplace(3, name="m"),
    lambda: Poisson(3, name="m"),
    lambda: NegativeBinomial(3, name="m"),
    lambda: ZeroInflatedPoisson(3, name="m"),
    lambda: Bernoulli(3, name="m"),
    lambda: Categorical(4, num_channels=3, name="m"),
    lambda: Ordinal(3, 4, name="m"),
]
IDS = ["gaussian", "laplace", "poisson", "negbin", "zip", "bernoulli", "categorical", "ordinal"]
COUNTS = [
    lambda: Poisson(2, name="spikes"),
    lambda: NegativeBinomial(2, name="spikes"),
    lambda: ZeroInflatedPoisson(2, name="spikes"),
]


def _valid(lik, shape):
    """Observations in every family's support (1 is a valid value of all of them)."""
    return torch.ones(shape)


@pytest.mark.parametrize("make", EVERY, ids=IDS)
def test_wrong_feature_shape_is_a_shape_error(make):
    lik = make()
    with pytest.raises(ShapeError, match=r"'m'.*feature shape \(4,\).*expected \(3,\)"):
        lik.validate(torch.ones(2, 5, 4))
    with pytest.raises(ShapeError, match=r"'m'.*feature shape \(\).*expected \(3,\)"):
        lik.validate(torch.ones(()))
    lik.validate(_valid(lik, (2, 5, 3)))


@pytest.mark.parametrize("make", EVERY, ids=IDS)
def test_wrong_mask_shape_is_a_shape_error(make):
    lik = make()
    obs = _valid(lik, (2, 5, 3))
    with pytest.raises(ShapeError, match=r"'m'.*mask.*\(2, 4, 3\).*observations.*\(2, 5, 3\)"):
        lik.validate(obs, torch.ones(2, 4, 3, dtype=torch.bool))


@pytest.mark.parametrize("make", EVERY, ids=IDS)
def test_non_bool_mask_is_refused(make):
    with pytest.raises(DataError, match=r"'m'.*mask must be bool.*torch\.float32") as err:
        make().validate(torch.ones(2, 5, 3), torch.ones(2, 5, 3))
    assert isinstance(err.value, TypeError)


@pytest.mark.parametrize("make", EVERY, ids=IDS)
def test_complex_or_non_tensor_observations_are_refused(make):
    with pytest.raises(DataError, match=r"'m'.*complex"):
        make().validate(torch.ones(2, 5, 3, dtype=torch.complex64))
    with pytest.raises(DataError, match=r"'m'.*torch\.Tensor.*list"):
        make().validate([[1.0, 1.0, 1.0]])


def test_one_hot_categorical_wrong_mask_is_a_shape_error():
    lik = Categorical(3, one_hot=True, name="c")
    obs = torch.nn.functional.one_hot(torch.zeros(2, 5, dtype=torch.long), 3).float()
    with pytest.raises(ShapeError, match=r"'c'.*mask.*\(2, 5, 2\)"):
        lik.validate(obs, torch.ones(2, 5, 2, dtype=torch.bool))


@pytest.mark.parametrize("make", COUNTS, ids=["poisson", "negbin", "zip"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.int64])
def test_counts_float32_cannot_hold_exactly_are_refused(make, dtype):
    lik = make()
    biggest = 2**24 - 1  # every integer up to 2**24 is exact in float32; 2**24 + 1 is not
    lik.validate(torch.tensor([[3, biggest]], dtype=dtype))
    assert float(torch.tensor(2**24 + 1, dtype=torch.float32)) == 2**24  # the rounding refused
    with pytest.raises(DataError, match=r"'spikes'.*16777216.*index \(0, 1\).*below 2\*\*24"):
        lik.validate(torch.tensor([[3, 2**24]], dtype=dtype))
    # a masked-out huge count is fine
    lik.validate(torch.tensor([[3, 2**30]], dtype=dtype), torch.tensor([[True, False]]))


def test_integer_and_bool_observations_are_checked_by_value():
    Bernoulli(2, name="b").validate(torch.tensor([[True, False]]))
    with pytest.raises(DataError, match=r"'o'.*5.*integer codes 1\.\.4"):
        Ordinal(2, 4, name="o").validate(torch.tensor([[1, 5]], dtype=torch.int16))
    with pytest.raises(DataError, match=r"'g'.*nan.*index \(0, 1\)"):
        Gaussian(2, name="g").validate(torch.tensor([[0.0, float("nan")]], dtype=torch.float16))


@pytest.mark.parametrize(
    ("lik", "bad", "support"),
    [
        (Gaussian(2, name="m"), float("inf"), "finite real numbers"),
        (Bernoulli(2, name="m"), 2.0, "binary values 0 or 1"),
        (Categorical(4, num_channels=2, name="m"), 7.0, r"integer class codes 0\.\.3$"),
    ],
)
def test_errors_describe_the_support(lik, bad, support):
    with pytest.raises(DataError, match=rf"'m'.*expected {support}"):
        lik.validate(torch.tensor([[0.0, bad]]))


def test_one_hot_vectors_are_checked_when_fully_observed():
    lik = Categorical(3, one_hot=True, name="c")
    obs = torch.tensor([[1.0, 1.0, 0.0], [5.0, 0.0, 0.0]])
    partly = torch.tensor([[True, True, True], [True, False, True]])
    with pytest.raises(DataError, match="'c'"):
        lik.validate(obs, partly)  # the first vector is fully observed and invalid
    lik.validate(obs[1:], partly[1:])  # a partly observed vector is not checked
