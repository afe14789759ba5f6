"""The prior slot contract: contexts from batches, slot checks, sample-dim expansion."""

from __future__ import annotations

import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.priors.base import STATIC, PriorContext, check_slot
from pyrodyn.priors.mixture import MMVMMixturePrior
from pyrodyn.priors.normal import StandardNormalPrior
from pyrodyn.priors.ou import OrnsteinUhlenbeckPrior


def test_context_of_a_batch_per_slot_shape():
    batch = MultimodalBatch.from_tensors(
        {"x": torch.randn(3, 5, 2)}, lengths=torch.tensor([5, 4, 2]), inputs=torch.randn(3, 5, 1)
    )
    seq = PriorContext.of_batch(batch)
    assert (seq.num_sequences, seq.num_steps) == (3, 5)
    assert torch.equal(seq.step_mask(), batch.valid_steps())
    assert seq.inputs is batch.inputs and seq.posteriors is None
    static = PriorContext.of_batch(batch, slot=STATIC, present={"x": torch.ones(3, dtype=bool)})
    assert static.num_steps is None and static.lengths is None and static.step_mask() is None
    assert static.times is batch.times and set(static.present) == {"x"}
    flat = MultimodalBatch.from_tensors({"x": torch.randn(4, 2)}, static=True)
    ctx = PriorContext.of_batch(flat)
    assert ctx.num_steps is None and ctx.times is None and ctx.dtype == torch.float32


def test_check_slot_names_the_slot_and_the_shape():
    assert check_slot(StandardNormalPrior(3), "prior", STATIC, 3) is not None
    with pytest.raises(ValueError, match=r"MyModel slot 'code' is a static slot .*\(B, D\)"):
        check_slot(OrnsteinUhlenbeckPrior(3), "code", STATIC, 3, "MyModel")
    with pytest.raises(ValueError, match="slot 'prior' needs latent_dim 4, StandardNormalPrior"):
        check_slot(StandardNormalPrior(3), "prior", "sequence", 4)
    with pytest.raises(TypeError, match="slot 'prior' needs a LatentPrior, got Linear"):
        check_slot(torch.nn.Linear(1, 1), "prior", "sequence")


def test_data_dependent_prior_needs_a_slot_with_posteriors():
    with pytest.raises(ValueError, match="unimodal posteriors"):
        check_slot(MMVMMixturePrior(3), "prior", "sequence", 3, "SVAE", posteriors=False)


def test_whole_sequence_distributions_expand_over_sample_dims_only():
    prior = OrnsteinUhlenbeckPrior(2)
    ctx = PriorContext(num_sequences=3, num_steps=4, like=torch.zeros(()))
    d = prior.distribution(ctx)
    big = d.expand(torch.Size([5, 3]))
    assert big.batch_shape == (5, 3) and big.sample().shape == (5, 3, 4, 2)
    torch.testing.assert_close(big.log_prob(big.sample())[0].shape, torch.Size([3]))
    with pytest.raises(ValueError, match="only leading sample dimensions"):
        d.expand(torch.Size([6]))
