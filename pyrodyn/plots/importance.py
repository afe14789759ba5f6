"""Per-trial importance diagnostics: PSIS k-hat with the 0.7 threshold, and ESS."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from pyrodyn.diagnostics.importance import ImportanceDiagnostics
from pyrodyn.diagnostics.psis import KHAT_THRESHOLD
from pyrodyn.plots._figure import finish, new_figure


def plot_khat(
    diag: ImportanceDiagnostics,
    *,
    threshold: float = KHAT_THRESHOLD,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """k-hat per trial (flagged above ``threshold``) and the relative ESS per trial."""
    fig = new_figure(9.0, 3.2)
    ax_k, ax_e = fig.subplots(1, 2)
    pos = np.arange(diag.khat.shape[0])
    k = np.where(np.isfinite(diag.khat), diag.khat, np.nan)
    bad = k > threshold
    ax_k.scatter(pos[~bad], k[~bad], s=12, color="tab:blue", label="k-hat")
    ax_k.scatter(pos[bad], k[bad], s=16, color="tab:red", marker="x", label=f"> {threshold}")
    ax_k.axhline(threshold, color="tab:red", lw=1, ls="--")
    ax_k.axhline(0.5, color="0.5", lw=0.8, ls=":")
    ax_k.set_xlabel("trial (position)")
    ax_k.set_ylabel("PSIS k-hat")
    ax_k.legend(fontsize="small")
    ax_e.bar(pos, diag.ess / diag.num_particles, color="tab:blue", alpha=0.7)
    ax_e.set_ylim(0, 1)
    ax_e.set_xlabel("trial (position)")
    ax_e.set_ylabel(f"ESS / K (K = {diag.num_particles})")
    if title:
        fig.suptitle(title)
    return finish(fig, path)
