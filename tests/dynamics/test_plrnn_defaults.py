"""PLRNN and DendPLRNN: documented defaults, initial ranges and the no-input guard."""

import math

import numpy as np
import pytest
import torch

from pyrodyn.dynamics import PLRNN, DendPLRNN
from pyrodyn.dynamics.plrnn import normalized_positive_definite


def test_normalized_positive_definite_is_talathi_vartak_from_the_given_generator():
    m = 6
    r = torch.randn(m, m, generator=torch.Generator().manual_seed(5)).double().numpy()
    mat = np.eye(m) + r.T @ r / m
    expected = mat / np.abs(np.linalg.eigvalsh(mat)).max()
    torch.manual_seed(123)  # the global stream must not matter
    got = normalized_positive_definite(m, generator=torch.Generator().manual_seed(5))
    np.testing.assert_allclose(got.double().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert np.linalg.eigvalsh(got.double().numpy()).max() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("make", [lambda: PLRNN(3), lambda: DendPLRNN(3)])
def test_documented_defaults(make):
    dyn = make()
    assert dyn.input_dim == 0 and dyn.C is None
    assert dyn.mean_centering is True
    assert dyn.noise_scale is None and dyn.log_noise_scale is None


def test_dend_plrnn_defaults_to_five_bases_and_accepts_one():
    dyn = DendPLRNN(3)
    assert dyn.num_bases == 5 and dyn.thresholds.shape == (3, 5) and dyn.alpha.shape == (5,)
    one = DendPLRNN(3, num_bases=1)
    assert one.num_bases == 1 and one.alpha.shape == (1,)


def test_noise_is_a_buffer_unless_asked_to_learn_it():
    fixed = PLRNN(3, noise_scale=0.1)
    assert "log_noise_scale" in dict(fixed.named_buffers())
    assert "log_noise_scale" not in dict(fixed.named_parameters())


def test_initial_offsets_and_weights_are_symmetric_around_zero():
    torch.manual_seed(0)
    m, b = 400, 400
    h = PLRNN(m).h.detach()
    assert h.abs().max() <= 1 / math.sqrt(m) and h.min() < 0 < h.max()
    alpha = DendPLRNN(2, num_bases=b).alpha.detach()
    assert alpha.abs().max() <= 1 / math.sqrt(b) and alpha.min() < 0 < alpha.max()


def test_the_off_diagonal_mask_is_not_part_of_the_state_dict():
    dyn = PLRNN(3)
    assert "_offdiag" not in dyn.state_dict()
    assert set(dyn.state_dict()) == {"AW", "h"}


def test_a_model_without_inputs_accepts_empty_inputs_and_refuses_real_ones():
    dyn = PLRNN(3)
    z = torch.randn(2, 3)
    with torch.no_grad():
        ref = dyn.step(z)
        # empty input vectors (last dim 0), also with more leading dims, change nothing
        torch.testing.assert_close(dyn.step(z, torch.zeros(2, 0)), ref)
        z3 = torch.randn(1, 2, 3)
        torch.testing.assert_close(dyn.step(z3, torch.zeros(1, 2, 0)), dyn.step(z3))
    with pytest.raises(ValueError, match=r"PLRNN was built with input_dim=0 but got inputs"):
        dyn.step(z, torch.zeros(2, 1))
