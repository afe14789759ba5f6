import numpy as np
import pytest

from pyrodyn.diagnostics.importance import importance_from_draws
from pyrodyn.diagnostics.sampling import PosteriorDraws
from pyrodyn.plots import plot_calibration, plot_history, plot_khat, plot_ppc


def _check(fig, path, min_axes=1):
    assert path.stat().st_size > 1000
    assert sum(ax.has_data() for ax in fig.axes) >= min_axes


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
