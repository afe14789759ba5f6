"""MTF: multimodal teacher forcing (Brenner, Hess, Koppe & Durstewitz, ICML 2024).

* :class:`MTF` (:mod:`.model`): the model/guide pair, encoders, forced rollout, generation;
* :class:`MTFObjective` (:mod:`.objective`): the ELBO it is trained with, holding the recipe
  (loss weights, input noise) as options;
* :class:`MTFReferenceObjective` (:mod:`.reference`): the reference code's loss with its quirks,
  for parity checks (``reference_compat``).
"""

from pyrodyn.models.mtf.model import MTF
from pyrodyn.models.mtf.objective import MTFObjective
from pyrodyn.models.mtf.recipe import InputNoise, Recipe
from pyrodyn.models.mtf.reference import MTFReferenceObjective

__all__ = ["MTF", "InputNoise", "MTFObjective", "MTFReferenceObjective", "Recipe"]
