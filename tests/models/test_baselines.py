import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics import ClippedDendPLRNN, sparse_forcing_rollout
from pyrodyn.likelihoods import Gaussian, Poisson
from pyrodyn.models.bptt_tf import BPTTTF, IdentityEncoder


def gaussian_batch(device, b=3, t=20):
    x = torch.randn(b, t, 3, generator=torch.Generator().manual_seed(0))
    return MultimodalBatch.from_tensors({"x": x}).to(device)


@pytest.mark.parametrize("m", [3, 5])
def test_bptt_tf_is_forcing_on_observations(m, device):
    model = BPTTTF({"x": Gaussian(3, learn_scale=False)}, ClippedDendPLRNN(m, num_bases=2), tau=4)
    model = model.to(device)
    batch = gaussian_batch(device)
    torch.manual_seed(0)
    total, terms = model.loss(batch)
    assert torch.isfinite(total)
    # the objective is the Gaussian NLL of the forced rollout's predictions, nothing else
    torch.manual_seed(0)
    pred = sparse_forcing_rollout(model.dynamics, batch.obs["x"], 4)
    nll = -torch.distributions.Normal(pred[:, :-1, :3], 1.0).log_prob(batch.obs["x"][:, 1:])
    torch.testing.assert_close(total, nll.sum(-1).mean())
    assert terms["obs.x"] == pytest.approx(total.item(), rel=1e-5)
    out = model.generate(15, init=batch, num_trials=2)
    torch.testing.assert_close(out["x"][:, 0], batch.obs["x"][:2, 0])


def test_bptt_tf_bad_inputs():
    with pytest.raises(ValueError, match="exactly one Gaussian modality"):
        BPTTTF({"c": Poisson(3)}, ClippedDendPLRNN(3, num_bases=2))
    with pytest.raises(ValueError, match="forcing_dim K=3 must lie in"):
        BPTTTF({"x": Gaussian(3)}, ClippedDendPLRNN(2, num_bases=2))
    with pytest.raises(ValueError, match="IdentityEncoder expects 3 channels"):
        IdentityEncoder(3)(torch.zeros(1, 2, 4))


def test_multiple_shooting_windows_use_their_node(device):
    from pyrodyn.data.dataset import MultimodalDataset
    from pyrodyn.models.multiple_shooting import MultipleShooting

    x = torch.randn(60, 3, generator=torch.Generator().manual_seed(0))
    ds = MultimodalDataset({"x": x.numpy()}, dt=0.5)
    model = MultipleShooting(
        {"x": Gaussian(3)}, ClippedDendPLRNN(4, num_bases=2), num_steps=60, interval=10, dt=0.5
    ).to(device)
    batch = ds.batch(torch.tensor([0, 0]), start=torch.tensor([20, 25]), window=8).to(device)
    window, gap = model._rollout(batch)
    # window 0 starts at node 2 itself; window 1 five steps into node 2's free rollout
    torch.testing.assert_close(window[0, 0], model.nodes[0, 2])
    roll = model.dynamics.rollout(model.nodes[0, 2][None], 12)[0]
    torch.testing.assert_close(window[1, 0], roll[4])
    torch.testing.assert_close(gap[0], (roll[9] - model.nodes[0, 3]).square().mean())
    total, terms = model.loss(batch)
    assert torch.isfinite(total)
    assert set(terms) == {"obs.x", "continuity"}
    total.backward()
    assert model.nodes.grad[0, 2].abs().sum() > 0
    assert model.nodes.grad[0, 3].abs().sum() > 0  # through the continuity penalty
    out = model.generate(5, init=batch, num_trials=2)
    assert out["x"].shape == (2, 5, 3)
    far = MultimodalBatch.from_tensors(
        {"x": torch.zeros(1, 5, 3)}, times=torch.arange(200.0, 205.0)
    )
    with pytest.raises(ValueError, match="outside the recording"):
        model.loss(far.to(device))
