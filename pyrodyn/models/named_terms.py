"""A mean-field ELBO whose terms may be named by the model's sites (``infer={"term": name}``).

:class:`~pyrodyn.objectives.elbo.TermsELBO` names a latent site's term ``kl.<site>`` and a factor
site's term by its name. A model whose history columns predate its Pyro sites keeps them by
declaring the term of a site in the site's ``infer`` dict (``pyro.sample("z_a", d,
infer={"term": "kl.a"})``, or ``poutine.infer_config`` around a prior's sites); sites with the
same term name are summed into one term. A latent site declares it in the guide too: replaying
the guide's trace gives the model's site the guide's ``infer`` dict.
"""

from __future__ import annotations

from pyro.poutine import Trace
from pyro.poutine.util import site_is_factor, site_is_subsample
from torch import Tensor

from pyrodyn.objectives.elbo import LATENT_PREFIX, MeanFieldELBO, observed_term_name

#: The ``infer`` key a model site names its term with.
TERM_KEY = "term"


def term_renames(model_trace: Trace, modalities: list[str] | None = None) -> dict[str, str]:
    """Default term name -> the name a site declares in ``infer["term"]``."""
    out = {}
    for name, site in model_trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        term = (site.get("infer") or {}).get(TERM_KEY)
        if term is None:
            continue
        if site_is_factor(site):
            key = name
        elif site["is_observed"]:
            key = observed_term_name(name, modalities)
        else:
            key = LATENT_PREFIX + name
        out[key] = str(term)
    return out


class NamedTermsELBO(MeanFieldELBO):
    """``MeanFieldELBO`` (closed-form KLs where registered) with site-declared term names."""

    def site_terms(self, model_trace: Trace, guide_trace: Trace) -> dict[str, Tensor]:
        """The terms of :class:`MeanFieldELBO`, renamed (and summed) by ``infer["term"]``."""
        terms = super().site_terms(model_trace, guide_trace)
        renames = term_renames(model_trace, self.modalities)
        out: dict[str, Tensor] = {}
        for key, value in terms.items():
            new = renames.get(key, key)
            out[new] = out[new] + value if new in out else value
        return out


__all__ = ["TERM_KEY", "NamedTermsELBO", "term_renames"]
