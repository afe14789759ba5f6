"""LaDIDObjective: option validation, legacy config keys, the recipe it draws, the encoding cache,
and the regularisers as vectorised factor sites of the model."""

import pyro
import pyro.poutine as poutine
import pytest
import torch

from pyrodyn.data.batch import MultimodalBatch
from pyrodyn.dynamics.query import QueryDynamics
from pyrodyn.likelihoods import Gaussian
from pyrodyn.models.ladid import LaDID, LaDIDObjective, LaDIDReferenceObjective
from pyrodyn.models.ladid.windows import cut_windows
from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer
from pyrodyn.nn.fusion.mmvm import MMVM
from pyrodyn.objectives.elbo import TraceELBO

K = 4


def make_model(shapes=None, *, split=False, fusion=None):
    shapes = shapes or {"x": 5}
    liks = {m: Gaussian(s) for m, s in shapes.items()}
    k_c = K - 2 if split else K
    encs = {
        m: ContinuousTimeTransformer(s, k_c, model_dim=16, num_layers=1, window=0.3)
        for m, s in shapes.items()
    }
    states = None
    if split:
        states = {
            m: ContinuousTimeTransformer(s, 2, model_dim=8, num_layers=1, window=0.3)
            for m, s in shapes.items()
        }
    dyn = QueryDynamics(K, K, max_period=4.0, hidden=(16,), dropout=0.0)
    return LaDID(liks, encs, dyn, fusion=fusion, context=4, state_encoders=states)


def vector_batch(b=3, t=14, shapes=None):
    shapes = shapes or {"x": 5}
    obs = {m: torch.randn(b, t, s) for m, s in shapes.items()}
    return MultimodalBatch.from_tensors(obs, times=torch.arange(t) * 0.1)


# ---------------------------------------------------------------------------- options
def test_unknown_and_bad_options_are_refused_naming_the_option():
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['embeding_weight'\]; valid"):
        LaDIDObjective(embeding_weight=1.0)
    with pytest.raises(ValueError, match="option embedding_weight must be >= 0, got -1"):
        LaDIDObjective(embedding_weight=-1)
    with pytest.raises(ValueError, match="option overlap_scale must be > 0, got 0"):
        LaDIDObjective(overlap_scale=0)
    with pytest.raises(ValueError, match="option windows_per_sequence must be an int >= 1"):
        LaDIDObjective(windows_per_sequence=0)
    with pytest.raises(ValueError, match="option overlap must be an int >= 0, got -2"):
        LaDIDObjective(overlap=-2)
    with pytest.raises(ValueError, match="option constants_crop must be a bool"):
        LaDIDObjective(constants_crop="yes")
    with pytest.raises(ValueError, match="option obs_scale must be > 0"):
        LaDIDReferenceObjective(obs_scale=0.0)
    with pytest.raises(ValueError, match="option num_train must be None or an int >= 1"):
        LaDIDReferenceObjective(num_train=0)
    with pytest.raises(ValueError, match="frames_per_window must be None"):
        LaDIDReferenceObjective(embedding_weight=0.0, frames_per_window=2)
    # Pyro's own ELBO arguments pass through
    assert LaDIDObjective(num_particles=2).num_particles == 2


def test_options_incompatible_with_the_model_are_refused_on_assignment():
    split = make_model(split=True)
    with pytest.raises(ValueError, match="use embedding_weight=0 with state_encoders"):
        split.elbo = LaDIDObjective(embedding_weight=1.0)
    plain = make_model()
    with pytest.raises(ValueError, match="constants_crop needs state_encoders"):
        plain.elbo = LaDIDObjective(constants_crop=True)
    liks = {"x": Gaussian(5)}
    encs = {"x": ContinuousTimeTransformer(5, 3, model_dim=8, num_layers=1)}
    other = LaDID(liks, encs, QueryDynamics(3, 5, max_period=4.0, hidden=(8,)), context=4)
    with pytest.raises(ValueError, match="use equal sizes or embedding_weight=0"):
        other.elbo = LaDIDObjective(embedding_weight=1.0)
    # the default objective turns reg.embedding off where it does not apply
    assert split.elbo.options["embedding_weight"] == 0.0 and split.is_elbo
    assert other.elbo.options["embedding_weight"] == 0.0
    assert plain.elbo.options["embedding_weight"] == 1.0 and not plain.is_elbo


def test_recipe_arguments_of_the_constructor_point_to_the_objective():
    liks = {"x": Gaussian(5)}
    encs = {"x": ContinuousTimeTransformer(5, K, model_dim=8, num_layers=1)}
    dyn = QueryDynamics(K, K, max_period=4.0, hidden=(8,))
    with pytest.raises(TypeError, match=r"\['embedding_weight'\] are training-recipe options"):
        LaDID(liks, encs, dyn, embedding_weight=1.0)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['contxt'\]"):
        LaDID(liks, encs, dyn, contxt=3)


def test_legacy_model_keys_map_to_the_objective_spec():
    keys = LaDIDObjective.legacy_model_keys
    assert {"windows_per_sequence", "embedding_weight", "constants_crop", "reference_compat"} <= (
        keys
    )
    assert LaDID.default_objective is LaDIDObjective
    spec = LaDIDObjective.legacy_spec({"windows_per_sequence": 3, "embedding_weight": 0.0})
    assert spec == {"type": "LaDIDObjective", "windows_per_sequence": 3, "embedding_weight": 0.0}
    ref = LaDIDObjective.legacy_spec(
        {"reference_compat": True, "reference_obs_scale": 0.01, "reference_num_train": 40}
    )
    assert ref == {"type": "LaDIDReferenceObjective", "obs_scale": 0.01, "num_train": 40}
    built = LaDIDReferenceObjective(**{k: v for k, v in ref.items() if k != "type"})
    assert (built.obs_scale, built.num_train, built.is_elbo) == (0.01, 40, False)
    assert LaDIDObjective.legacy_spec({"reference_compat": False, "overlap": 1}) == {
        "type": "LaDIDObjective",
        "overlap": 1,
    }


def test_is_elbo_follows_the_objective():
    model = make_model()
    assert model.is_elbo is False  # reg.embedding by default
    model.elbo = LaDIDObjective(embedding_weight=0.0)
    assert model.is_elbo is True
    model.elbo = LaDIDObjective(embedding_weight=0.0, overlap=1, overlap_weight=0.1)
    assert model.is_elbo is False
    model.elbo = TraceELBO()  # the pair's plain ELBO on whole sequences
    assert model.is_elbo is True


# ---------------------------------------------------------------------------- the recipe
def test_prepare_hands_model_and_guide_the_windows_and_draws():
    model = make_model(split=True)
    model.elbo = LaDIDObjective(
        embedding_weight=0.0, constants_crop=True, frames_per_window=3, windows_per_sequence=2
    )
    batch = vector_batch()
    pyro.set_rng_seed(0)
    out = model.elbo.loss_and_terms(model.model, model.guide, batch, horizon=3)
    (wb,), kw = out.args, out.kwargs
    assert wb.num_sequences == 6 and wb.num_steps == 7
    assert kw["constants_start"].shape == (6,) and int(kw["constants_start"].max()) <= 3
    assert kw["frames"].shape == (6, 3) and kw["pairs"] is None
    assert "horizon" not in kw and "windows_per_sequence" not in kw
    # the normaliser counts the scored steps of the windows (all of them: score_context)
    assert model.normaliser(wb) == 6 * 7
    model.elbo = LaDIDObjective(embedding_weight=0.0, score_context=False)
    assert model.normaliser(wb) == 6 * 3
    model.elbo = LaDIDReferenceObjective(embedding_weight=0.0)
    assert model.normaliser(wb) == 1.0


def test_a_plain_trace_elbo_trains_the_pair_on_whole_sequences():
    model = make_model()
    model.elbo = TraceELBO()
    batch = vector_batch()
    pyro.set_rng_seed(0)
    total, terms = model.loss(batch, horizon=3)  # horizon is ignored by the pair
    assert set(terms) == {"nll.x", "kl.psi"}
    assert model.normaliser(batch) == 3 * 14
    assert torch.isfinite(total)


def test_objective_refuses_a_foreign_pair():
    def model(batch):
        pass

    with pytest.raises(TypeError, match="trains a LaDID's own pair"):
        LaDIDObjective().loss(model, model, vector_batch())


# ---------------------------------------------------------------------------- the cache
def _count_calls(module):
    calls = []
    module.register_forward_hook(lambda *a: calls.append(1))
    return calls


def test_the_encoders_run_once_per_evaluation_with_reg_embedding():
    model = make_model({"x": 5, "y": 3}, fusion=MMVM(alpha=0.5))
    calls = _count_calls(model.encoders["x"])
    batch = vector_batch(shapes={"x": 5, "y": 3})
    model.loss(batch, horizon=3)
    assert len(calls) == 1  # the guide's; the model reads it for the prior, factor, regulariser
    # a model run on its own encodes by itself
    wb = cut_windows(batch, model.context, 3)[0]
    poutine.trace(model.model).get_trace(wb, embedding_weight=1.0)
    assert len(calls) == 2


def test_the_cache_never_serves_an_encoding_from_before_an_update():
    model = make_model()
    wb = cut_windows(vector_batch(), model.context, 3)[0]
    calls = _count_calls(model.encoders["x"])
    tr = poutine.trace(model.guide).get_trace(wb, embedding_weight=1.0)
    with torch.no_grad():
        for p in model.encoders.parameters():
            p.add_(0.01)
    poutine.trace(poutine.replay(model.model, trace=tr)).get_trace(wb, embedding_weight=1.0)
    assert len(calls) == 2  # re-encoded: the parameters changed since the guide ran
    tr = poutine.trace(model.guide).get_trace(wb, embedding_weight=1.0)
    other = cut_windows(vector_batch(), model.context, 3)[0]
    poutine.trace(poutine.replay(model.model, trace=tr)).get_trace(other, embedding_weight=1.0)
    assert len(calls) == 4  # another batch object
    poutine.trace(model.guide).get_trace(wb, embedding_weight=1.0)
    model.model(wb, embedding_weight=1.0)
    model.model(wb, embedding_weight=1.0)
    assert len(calls) == 6  # the entry is taken once


# ---------------------------------------------------------------------------- vectorisation
def test_regularisers_are_per_row_factors_vectorised_over_samples():
    model = make_model({"x": 5, "y": 3}, fusion=MMVM(alpha=0.5))
    batch = vector_batch(shapes={"x": 5, "y": 3})
    pyro.set_rng_seed(0)
    wb, pairs = cut_windows(batch, model.context, 3, overlap=1, pair_windows=True)
    kw = {"pairs": pairs, "overlap": 1, "overlap_weight": 0.5, "embedding_weight": 2.0}
    s, b = 3, wb.num_sequences
    psi = {n: torch.randn(s, b, K) for n in ("psi_x", "psi_y")}
    cond = poutine.condition(model.model, data=psi)
    with pyro.plate("samples", s, dim=-2):
        tr = poutine.trace(cond).get_trace(wb, **kw)
    for i in range(s):
        one = poutine.trace(poutine.condition(model.model, data={n: v[i] for n, v in psi.items()}))
        tr1 = one.get_trace(wb, **kw)
        for site in ("reg.embedding", "reg.overlap", "reg.fusion"):
            full = tr.nodes[site]["fn"].log_factor
            assert full.shape[-1] == b
            torch.testing.assert_close(
                full.expand(s, b)[i], tr1.nodes[site]["fn"].log_factor, rtol=1e-5, atol=1e-5
            )
    # the overlap term sits on the first window of each pair only
    ov = tr1.nodes["reg.overlap"]["fn"].log_factor
    assert set(torch.nonzero(ov).flatten().tolist()) <= set(pairs[:, 0].tolist())
