import numpy as np
import pytest

from pyrodyn.diagnostics.importance import importance_from_draws
from pyrodyn.diagnostics.sampling import PosteriorDraws
from pyrodyn.plots import (
    plot_attractor,
    plot_calibration,
    plot_history,
    plot_khat,
    plot_latents,
    plot_power_spectra,
    plot_ppc,
)


def _check(fig, path, min_axes=1):
    assert path.stat().st_size > 1000
    assert sum(ax.has_data() for ax in fig.axes) >= min_axes


def test_attractor_3d_and_pairs(tmp_path):
    t = np.linspace(0, 20, 500)
    x = np.stack([np.sin(t), np.cos(t), np.sin(2 * t)], 1)
    fig = plot_attractor(x, x + 0.1, path=tmp_path / "a.png", title="test")
    _check(fig, tmp_path / "a.png", 4)
    fig2 = plot_attractor(x[:, :2], x[:, :2], path=tmp_path / "b.png")
    _check(fig2, tmp_path / "b.png", 1)
    with pytest.raises(ValueError, match="same dims"):
        plot_attractor(x, x[:, :2])
    with pytest.raises(ValueError, match="out of range"):
        plot_attractor(x, x, dims=(0, 5))


def test_latents_with_bands(lg_draws, tmp_path):
    z = lg_draws.latents["z"][:, 0]
    fig = plot_latents(z, true=lg_draws.extras["true_latent"][0], path=tmp_path / "z.png")
    _check(fig, tmp_path / "z.png", 2)
    with pytest.raises(ValueError, match="draws, time, latent"):
        plot_latents(z[0])
    with pytest.raises(ValueError, match="level must lie"):
        plot_latents(z, level=1.0)


def test_power_spectra(tmp_path):
    f = np.fft.rfftfreq(64)
    spec = np.abs(np.random.default_rng(0).standard_normal((f.size, 2))) + 1e-3
    fig = plot_power_spectra(
        {"x": {"freq": f, "spectrum_obs": spec, "spectrum_gen": spec * 1.1, "d_h": 0.1}},
        path=tmp_path / "s.png",
    )
    _check(fig, tmp_path / "s.png")
    with pytest.raises(ValueError, match="no spectra"):
        plot_power_spectra({"_generated": {}})


def test_history_from_csv(tmp_path):
    csv = tmp_path / "history.csv"
    lines = ["step,time,lr,loss,nll.x,kl.z,valid_loss"]
    for i in range(20):
        v = f"{5 - 0.1 * i}" if i % 5 == 0 else ""
        lines.append(f"{i},{0.1 * i},0.01,{4 - 0.1 * i},{3 - 0.1 * i},{1 + 0.01 * i},{v}")
    csv.write_text("\n".join(lines) + "\n")
    fig = plot_history(csv, path=tmp_path / "h.png")
    _check(fig, tmp_path / "h.png", 2)
    with pytest.raises(FileNotFoundError, match="no history file"):
        plot_history(tmp_path / "none.csv")


def test_ppc_and_calibration_panels(lg_draws, tmp_path):
    fig = plot_ppc(lg_draws, path=tmp_path / "ppc.png")
    _check(fig, tmp_path / "ppc.png")
    fig = plot_calibration(lg_draws, path=tmp_path / "cal.png")
    _check(fig, tmp_path / "cal.png", 2)


def _discrete_draws(kind, pred, obs):
    s, n = pred.shape
    return PosteriorDraws(
        latents={},
        global_latents={},
        deterministic={},
        log_lik={"m": np.zeros((s, n, 1))},
        log_prior=np.zeros((s, n)),
        log_q=np.zeros((s, n)),
        predictive={"m": pred.reshape(s, n, 1, 1).astype(float)},
        observed={"m": obs.reshape(n, 1, 1).astype(float)},
        kind={"m": kind},
        static=False,
    )


@pytest.mark.parametrize("kind", ["count", "categorical"])
def test_discrete_ppc_panels(kind, tmp_path):
    rng = np.random.default_rng(0)
    d = _discrete_draws(kind, rng.poisson(1.5, (50, 300)), rng.poisson(1.5, 300))
    fig = plot_ppc(d, path=tmp_path / f"{kind}.png")
    _check(fig, tmp_path / f"{kind}.png")


def test_khat_panel(lg_draws, tmp_path):
    fig = plot_khat(importance_from_draws(lg_draws), path=tmp_path / "k.png")
    _check(fig, tmp_path / "k.png", 2)
