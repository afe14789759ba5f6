"""Objectives: Pyro ELBOs with named terms, options and argument preparation (a recipe).

Models declare the ELBO they are trained with (``model.elbo``); training recipes (loss weights,
windows, crops, curricula inputs) are objective options or scheduled values, never model
constructor arguments.
"""

from pyrodyn.objectives.elbo import (
    LossOutput,
    MeanFieldELBO,
    TermsELBO,
    TraceELBO,
    observed_term_name,
)

__all__ = ["LossOutput", "MeanFieldELBO", "TermsELBO", "TraceELBO", "observed_term_name"]
