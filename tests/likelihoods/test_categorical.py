import numpy as np
import pytest
import torch
from scipy import special

from pyrodyn.likelihoods import Categorical
from pyrodyn.testing.likelihood import LikelihoodConformance


def ref_logp(eta, reference_class):
    if reference_class:
        eta = np.concatenate([eta, np.zeros((*eta.shape[:-1], 1))], axis=-1)
    return special.log_softmax(eta, axis=-1)


class TestCategoricalIndex(LikelihoodConformance):
    reference_class = False

    def make_likelihood(self):
        return Categorical(4, num_channels=2, reference_class=self.reference_class)

    def make_params(self, batch_shape):
        k = 3 if self.reference_class else 4
        return {"logits": 2 * torch.randn(*batch_shape, 2, k)}

    def reference_log_prob(self, lik, params, obs):
        logp = ref_logp(params["logits"], self.reference_class)
        return np.take_along_axis(logp, obs.astype(np.int64)[..., None], -1)[..., 0]

    def invalid_values(self):
        return [-1.0, 4.0, 1.5]


class TestCategoricalIndexReference(TestCategoricalIndex):
    reference_class = True


class TestCategoricalOneHotReference(LikelihoodConformance):
    """The MTF symbolic modality: one-hot (B, T, C), last class as reference."""

    def make_likelihood(self):
        return Categorical(5, one_hot=True, reference_class=True)

    def make_params(self, batch_shape):
        return {"logits": 2 * torch.randn(*batch_shape, 4)}

    def reference_log_prob(self, lik, params, obs):
        return (ref_logp(params["logits"], True) * obs).sum(-1)

    def invalid_values(self):
        return [2.0, -1.0, 0.5]


class TestCategoricalOneHotChannels(TestCategoricalOneHotReference):
    def make_likelihood(self):
        return Categorical(3, num_channels=2, one_hot=True)

    def make_params(self, batch_shape):
        return {"logits": torch.randn(*batch_shape, 2, 3)}

    def reference_log_prob(self, lik, params, obs):
        return (ref_logp(params["logits"], False) * obs).sum(-1)


def test_param_and_feature_shapes():
    assert Categorical(8, one_hot=True).feature_shape == (8,)
    assert Categorical(8, one_hot=True, reference_class=True).param_shapes == {"logits": (7,)}
    assert Categorical(8, num_channels=3).feature_shape == (3,)
    assert Categorical(8, num_channels=3).param_shapes == {"logits": (3, 8)}
    assert Categorical(8, num_channels=3, one_hot=True).feature_shape == (3, 8)


def test_reference_class_is_invariant_to_a_max_shift():
    # the reference's bug 3c: shifting only the free logits changes the likelihood
    lik = Categorical(3, one_hot=True, reference_class=True)
    eta = torch.tensor([[5.0, 3.0]])
    lp = lik.logits({"logits": eta})
    expected = torch.log_softmax(torch.tensor([[5.0, 3.0, 0.0]]), -1)
    torch.testing.assert_close(lp, expected)
    assert float(lp[0, 2]) < -5.0


def test_one_hot_mask_is_per_step():
    lik = Categorical(3, one_hot=True)
    params = {"logits": torch.zeros(1, 2, 3)}
    obs = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])
    mask = torch.tensor([[[True, True, True], [True, False, True]]])  # step 2 partly missing
    lp = lik.log_prob(params, obs, mask)
    torch.testing.assert_close(lp, torch.tensor([[np.log(1 / 3), 0.0]], dtype=torch.float32))
    lik.validate(torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]), mask)  # unscored step


def test_predictions():
    lik = Categorical(3, one_hot=True)
    params = {"logits": torch.tensor([[0.0, 2.0, 1.0]])}
    torch.testing.assert_close(lik.predict(params), torch.tensor([[0.0, 1.0, 0.0]]))
    torch.testing.assert_close(lik.mean(params).sum(-1), torch.ones(1))
    idx = Categorical(3, num_channels=1)
    p = {"logits": torch.tensor([[[0.0, 2.0, 1.0]]])}
    torch.testing.assert_close(idx.predict(p), torch.tensor([[1.0]]))
    probs = idx.probs(p)
    torch.testing.assert_close(idx.mean(p), (probs * torch.arange(3.0)).sum(-1))


def test_mode_of_nan_logits_is_nan_not_class_zero():
    nan = float("nan")
    lik = Categorical(3, one_hot=True)
    out = lik.mode({"logits": torch.tensor([[nan, nan, nan], [0.0, 2.0, 1.0]])})
    assert torch.isnan(out[0]).all()
    torch.testing.assert_close(out[1], torch.tensor([0.0, 1.0, 0.0]))
    idx = Categorical(3, num_channels=2)
    codes = idx.mode({"logits": torch.tensor([[[nan, 0.0, 1.0], [3.0, 0.0, 1.0]]])})
    assert torch.isnan(codes[0, 0]) and float(codes[0, 1]) == 0.0


def test_validation_message_one_hot():
    lik = Categorical(3, one_hot=True, name="symbols")
    with pytest.raises(ValueError, match=r"'symbols'.*one-hot vectors over 3 classes"):
        lik.validate(torch.tensor([[[1.0, 1.0, 0.0]]]))


@pytest.mark.parametrize(("c", "n"), [(1, 1), (3, 0)])
def test_bad_sizes(c, n):
    with pytest.raises(ValueError, match="num_"):
        Categorical(c, num_channels=n)


def test_one_hot_fill_and_sample_dtype():
    """Missing one-hot vectors become class 0; draws come in the dtype of the logits."""
    lik = Categorical(3, one_hot=True)
    obs = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, True]])
    filled = lik.fill(obs, mask)
    torch.testing.assert_close(filled, torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    for one_hot in (False, True):
        lik = Categorical(3, num_channels=2, one_hot=one_hot)
        for dtype in (torch.float32, torch.float64):
            logits = torch.zeros(4, 2, 3, dtype=dtype)
            x = lik.sample({"logits": logits})
            assert x.dtype == dtype
            assert x.shape == ((4, 2, 3) if one_hot else (4, 2))
