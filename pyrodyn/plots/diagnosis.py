"""The figures of a :func:`pyrodyn.diagnostics.diagnose` report, written to its folder."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from pyrodyn.diagnostics.diagnose import Diagnosis
from pyrodyn.diagnostics.trajectory import failure_note
from pyrodyn.plots.attractor import plot_attractor
from pyrodyn.plots.history import plot_history
from pyrodyn.plots.importance import plot_khat
from pyrodyn.plots.latents import plot_latents
from pyrodyn.plots.lfo import plot_lfo
from pyrodyn.plots.ppc import plot_calibration, plot_ppc
from pyrodyn.plots.sbc import plot_sbc
from pyrodyn.plots.spectra import plot_power_spectra

log = logging.getLogger(__name__)


def diagnosis_figures(diagnosis: Diagnosis, out_dir: str | os.PathLike) -> list[str]:
    """Writes the figures that apply to a diagnosis; returns their file names.

    ``sbc.png`` (rank histograms) and ``lfo.png`` (elpd and k-hat per origin) where SBC and LFO
    ran; ``ppc.png`` and ``calibration.png`` always; ``khat.png`` with importance diagnostics;
    ``latents.png`` for latent trajectories; ``spectra.png`` and ``attractor.png`` with dynamics
    checks; ``history.png`` with a history file. A figure that cannot be drawn is skipped with a
    warning in the log (it never sinks the report).

    Pass it to :func:`pyrodyn.diagnostics.diagnose` as ``figures=``.
    """
    out = os.fspath(out_dir)
    draws, dynamics = diagnosis.draws, diagnosis.dynamics
    files: list[str] = []

    def save(name: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        try:
            fn(*args, path=os.path.join(out, name), **kw)
        except (ValueError, KeyError, IndexError) as err:
            log.warning("figure %s skipped: %s", name, err)
            return
        files.append(name)

    if diagnosis.sbc is not None:
        save("sbc.png", plot_sbc, diagnosis.sbc)
    if diagnosis.lfo is not None:
        save("lfo.png", plot_lfo, diagnosis.lfo)
    save("ppc.png", plot_ppc, draws, title="posterior predictive checks", summaries=diagnosis.ppc)
    save("calibration.png", plot_calibration, draws)
    if diagnosis.importance is not None:
        save("khat.png", plot_khat, diagnosis.importance, title="importance diagnostics per trial")
    traj = next(
        (v for v in draws.latents.values() if v.ndim == 4 and not draws.static),
        next((v for v in draws.deterministic.values() if v.ndim == 4), None),
    )
    if traj is not None:
        save(
            "latents.png",
            plot_latents,
            traj[:, 0],
            times=None if draws.times is None else draws.times[0],
            title="latent trajectory of trial 0 (posterior draws)",
        )
    if dynamics:
        spectra = {m: r for m, r in dynamics.items() if not m.startswith("_")}
        if spectra:
            save("spectra.png", plot_power_spectra, spectra)
        gen = dynamics.get("_generated_mean") or dynamics.get("_generated", {})
        for m, g in gen.items():
            if draws.kind.get(m) == "continuous" and g.shape[-1] >= 2:
                obs = np.nan_to_num(draws.observed[m][0].reshape(-1, g.shape[-1]))
                save(
                    "attractor.png",
                    plot_attractor,
                    obs,
                    g[0],
                    labels=("observed (trial 0)", "generated mean read-out"),
                    names=[f"{m}[{i}]" for i in range(g.shape[-1])],
                    note=failure_note(obs, g[0]),  # a collapse or blow-up, in words
                    title=f"{m}: observed vs generated",
                )
                break
    if diagnosis.history and os.path.exists(diagnosis.history):
        save("history.png", plot_history, diagnosis.history, title="training history")
    return files


__all__ = ["diagnosis_figures"]
