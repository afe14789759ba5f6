"""LaDID (Lagemann, Lagemann & Mukherjee, ICLR 2024; specs/ladid.md) as a Pyro model/guide pair.

* :class:`LaDID` (:mod:`.model`): the pair over multiple-shooting windows, its encoders
  (:mod:`.encoding`), regularisers (:mod:`.regularisers`) and outputs (``encode``, ``forecast``,
  ``generate``);
* :class:`LaDIDObjective` (:mod:`.objective`): the training recipe, i.e. the windows, crops and
  frame subsets drawn per evaluation (:mod:`.windows`) and the regulariser weights;
* :class:`LaDIDReferenceObjective` (:mod:`.reference`): the reference code's loss, for parity.

The horizon curriculum is a fitting schedule:
:func:`pyrodyn.infer.schedules.horizon_curriculum`.
"""

from pyrodyn.models.ladid.model import LaDID
from pyrodyn.models.ladid.objective import LaDIDObjective
from pyrodyn.models.ladid.reference import LaDIDReferenceObjective
from pyrodyn.models.ladid.structure import default_decoder
from pyrodyn.models.ladid.windows import shooting_starts

__all__ = [
    "LaDID",
    "LaDIDObjective",
    "LaDIDReferenceObjective",
    "default_decoder",
    "shooting_starts",
]
