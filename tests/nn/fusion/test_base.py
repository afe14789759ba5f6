import pyro.distributions as dist
import pytest
import torch

from pyrodyn.nn.fusion import Mean
from pyrodyn.nn.fusion.base import stack_experts


def test_stack_experts_shapes():
    post = {m: dist.Normal(torch.zeros(2, 5, 3), torch.ones(2, 5, 3)) for m in "ab"}
    pres = {m: torch.ones(2, 5, dtype=torch.bool) for m in "ab"}
    locs, scales, p = stack_experts(post, pres)
    assert locs.shape == (2, 5, 2, 3) and scales.shape == (2, 5, 2, 3) and p.shape == (2, 5, 2)


def test_sequence_without_any_observed_step_raises():
    post = {m: dist.Normal(torch.zeros(2, 4, 3), torch.ones(2, 4, 3)) for m in "ab"}
    pres = {m: torch.ones(2, 4, dtype=torch.bool) for m in "ab"}
    for m in "ab":
        pres[m][1] = False
    with pytest.raises(ValueError, match=r"every modality is missing in rows \[1\]"):
        Mean()(post, pres)


def test_present_shape_must_match():
    post = {m: dist.Normal(torch.zeros(2, 3), torch.ones(2, 3)) for m in "ab"}
    pres = {"a": torch.ones(2, dtype=torch.bool), "b": torch.ones(3, dtype=torch.bool)}
    with pytest.raises(ValueError, match=r"present\['b'\] has shape \(3,\)"):
        Mean()(post, pres)


def test_empty_posteriors_raise():
    with pytest.raises(ValueError, match="at least one modality"):
        Mean()({}, {})
