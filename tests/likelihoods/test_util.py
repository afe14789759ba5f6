"""Private helpers shared by the likelihood families."""

import math

import pytest
import torch

from pyrodyn.likelihoods._util import inverse_softplus


@pytest.mark.parametrize("x", [1e-6, 0.3, 1.0, 25.0])
def test_inverse_softplus_inverts_softplus(x):
    y = inverse_softplus(x)
    assert math.log1p(math.exp(y)) == pytest.approx(x, rel=1e-12)
    assert float(torch.nn.functional.softplus(torch.tensor(y, dtype=torch.float64))) == (
        pytest.approx(x, rel=1e-12)
    )


@pytest.mark.parametrize("x", [0.0, -1.0])
def test_inverse_softplus_refuses_non_positive_values(x):
    # softplus is positive everywhere: 0 (the boundary) has no preimage either
    with pytest.raises(ValueError, match="positive value"):
        inverse_softplus(x)
