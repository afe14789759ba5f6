"""Each PLRNN variant's step against its published equation, written out here.

The reference steps read the module's parameter tensors but not its code. They are written with
``relu(x) = (x + |x|) / 2`` and plain arithmetic, so the same function runs on numpy arrays (the
step comparison) and on torch tensors (autograd gives the reference Jacobian). Definitions:

* PLRNN (Durstewitz 2017): ``z' = A z + W relu(z̄) + h_0 + C s``;
* dendPLRNN (Brenner et al., ICML 2022): ``z' = A z + W Σ_b α_b relu(z̄ − h_b) + h_0 + C s`` with
  thresholds ``h_b``; the module stores ``θ_b = −h_b`` (``thresholds``);
* clipped dendPLRNN: the basis ``α_b [relu(z̄ − h_b) − relu(z̄)]``;
* shallowPLRNN (Hess et al., ICML 2023): ``z' = A z + W_1 relu(W_2 z̄ + h_2) + h_1 + C s``;
* clipped shallowPLRNN: the hidden layer ``relu(W_2 z̄ + h_2) − relu(W_2 z̄)``.

``A = diag(a)``, ``W`` has a zero diagonal, ``z̄ = z − mean(z)`` with mean-centring (inside the
nonlinearity only) and ``z̄ = z`` without.
"""

import numpy as np
import pytest
import torch

from pyrodyn.dynamics import (
    PLRNN,
    ClippedDendPLRNN,
    ClippedShallowPLRNN,
    DendPLRNN,
    ShallowPLRNN,
)


def _relu(x):
    return (x + abs(x)) / 2


def _centred(z, centre):
    return z - z.sum(-1)[..., None] / z.shape[-1] if centre else z


def _params(model, lib):
    """The module's parameters as float64 arrays (numpy) or tensors (torch)."""
    out = {}
    for name, p in model.named_parameters():
        t = p.detach().double()
        out[name] = t.numpy() if lib is np else t
    return out


def _reference_step(model, z, s, lib):
    """The published equation of ``model``'s variant at ``z`` ``(..., M)``, inputs ``s``."""
    p = _params(model, lib)
    m = z.shape[-1]
    zc = _centred(z, model.mean_centering)
    if isinstance(model, ShallowPLRNN):
        pre = zc @ p["W2"].T
        hidden = _relu(pre + p["h2"])
        if isinstance(model, ClippedShallowPLRNN):
            hidden = hidden - _relu(pre)
        out = p["a"] * z + hidden @ p["W1"].T + p["h1"]
    else:
        aw = p["AW"]
        eye = lib.eye(m, dtype=aw.dtype) if lib is np else torch.eye(m, dtype=aw.dtype)
        a = (aw * eye).sum(-1)
        w = aw - aw * eye
        if isinstance(model, DendPLRNN):
            h = -p["thresholds"]  # (M, B): h_b = −θ_b
            phi = 0.0
            for b in range(h.shape[1]):
                term = _relu(zc - h[:, b])
                if isinstance(model, ClippedDendPLRNN):
                    term = term - _relu(zc)
                phi = phi + p["alpha"][b] * term
        else:
            phi = _relu(zc)
        out = a * z + phi @ w.T + p["h"]
    if "C" in p:
        out = out + s @ p["C"].T
    return out


VARIANTS = {
    "plrnn": lambda **kw: PLRNN(5, **kw),
    "dend": lambda **kw: DendPLRNN(5, num_bases=4, **kw),
    "clipped_dend": lambda **kw: ClippedDendPLRNN(5, num_bases=4, **kw),
    "shallow": lambda **kw: ShallowPLRNN(5, hidden_dim=7, **kw),
    "clipped_shallow": lambda **kw: ClippedShallowPLRNN(5, hidden_dim=7, **kw),
}


def _model(name, centre, inputs):
    torch.manual_seed(0)
    model = VARIANTS[name](mean_centering=centre, input_dim=inputs).double()
    with torch.no_grad():
        # thresholds and biases of one sign only would hide a sign flip in some units
        for pname in ("thresholds", "h2", "h", "h1"):
            if hasattr(model, pname):
                p = getattr(model, pname)
                p.copy_(torch.randn(p.shape, dtype=p.dtype))
        if hasattr(model, "AW"):  # initialised symmetric: a transposed W would go unnoticed
            model.AW.add_(0.3 * torch.randn(model.AW.shape, dtype=model.AW.dtype))
    return model


@pytest.mark.parametrize("centre", [True, False])
@pytest.mark.parametrize("inputs", [0, 2])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_step_matches_the_published_equation(name, centre, inputs):
    model = _model(name, centre, inputs)
    rng = np.random.default_rng(1)
    z = 1.5 * rng.standard_normal((6, 3, 5))
    s = rng.standard_normal((6, 3, inputs))
    u = torch.from_numpy(s) if inputs else None
    got = model.step(torch.from_numpy(z), u).detach().numpy()
    want = _reference_step(model, z, s, np)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # the nonlinearity is active somewhere and switched off somewhere at these states
    pre = _centred(z, centre)
    if name.startswith(("dend", "clipped_dend")):
        pre = pre[..., None] + model.thresholds.detach().numpy()
    elif "shallow" in name:
        w2 = model.W2.detach().numpy()
        pre = pre @ w2.T + model.h2.detach().numpy()
    assert 0.1 < (pre > 0).mean() < 0.9


@pytest.mark.parametrize("centre", [True, False])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_jacobian_matches_autograd_of_the_written_out_step(name, centre):
    model = _model(name, centre, 2)
    rng = np.random.default_rng(2)
    zs = torch.from_numpy(1.5 * rng.standard_normal((4, 5)))
    s = torch.from_numpy(rng.standard_normal((4, 2)))
    closed = model.jacobian(zs, s).detach()
    for i in range(zs.shape[0]):
        want = torch.autograd.functional.jacobian(
            lambda z, i=i: _reference_step(model, z, s[i], torch), zs[i]
        )
        torch.testing.assert_close(closed[i], want, rtol=1e-12, atol=1e-12)
