"""Figures (matplotlib, no pyplot state).

Each function returns the ``Figure`` and saves a PNG when given ``path``.
"""

from pyrodyn.plots.attractor import plot_attractor
from pyrodyn.plots.diagnosis import diagnosis_figures
from pyrodyn.plots.generated import plot_generated
from pyrodyn.plots.history import plot_history, read_history
from pyrodyn.plots.importance import plot_khat
from pyrodyn.plots.latents import plot_latents
from pyrodyn.plots.lfo import plot_lfo
from pyrodyn.plots.ppc import plot_calibration, plot_ppc
from pyrodyn.plots.sbc import plot_sbc
from pyrodyn.plots.spectra import plot_power_spectra

__all__ = [
    "diagnosis_figures",
    "plot_attractor",
    "plot_calibration",
    "plot_generated",
    "plot_history",
    "plot_khat",
    "plot_latents",
    "plot_lfo",
    "plot_power_spectra",
    "plot_ppc",
    "plot_sbc",
    "read_history",
]
