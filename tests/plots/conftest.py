import pytest
import torch

from pyrodyn.diagnostics.sampling import draw_posterior
from pyrodyn.testing.linear_gaussian import LinearGaussianModel


@pytest.fixture
def lg_draws():
    w = torch.randn(4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model = LinearGaussianModel(w, noise=0.5, guide_scale=1.1)
    return draw_posterior(model, model.simulate(6, 20), 30)


def _missing_labels(fig):
    """(axes index, axis) of every drawn axis of ``fig`` without a label (3-D: z too)."""
    missing = []
    for i, ax in enumerate(fig.axes):
        if not ax.axison:  # a text panel
            continue
        getters = [("x", ax.get_xlabel), ("y", ax.get_ylabel)]
        if hasattr(ax, "get_zlabel"):
            getters.append(("z", ax.get_zlabel))
        missing += [(i, name) for name, get in getters if not get().strip()]
    return missing


@pytest.fixture
def missing_labels():
    """A function listing the unlabelled axes of a figure (empty when every axis is labelled)."""
    return _missing_labels


@pytest.fixture
def figure_text():
    """A function joining every text of a figure (titles, suptitles, text panels), unwrapped."""

    def text(fig):
        parts = [t.get_text() for ax in fig.axes for t in ax.texts]
        parts += [ax.get_title() for ax in fig.axes]
        for f in [fig, *fig.subfigs]:
            if f._suptitle is not None:
                parts.append(f._suptitle.get_text())
        return " ".join(" ".join(parts).split())

    return text
