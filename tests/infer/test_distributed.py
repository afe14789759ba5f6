"""Multi-process fitting on Lightning Fabric: 2 CPU processes over gloo (CUDA with --device cuda).

Each test that launches ranks costs a few seconds (one fork per launch on CPU).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
import yaml
from torch import nn

pytest.importorskip("lightning.fabric")

from pyrodyn.app.cli import main
from pyrodyn.data.dataset import MultimodalDataset
from pyrodyn.exceptions import NonFiniteLossError, NumericsWarning
from pyrodyn.infer import Callback, fit
from pyrodyn.infer.distributed import (
    DistributedFitResult,
    check_devices,
    check_strategy,
    fit_distributed,
)
from pyrodyn.infer.history import read_history
from pyrodyn.likelihoods.gaussian import Gaussian
from pyrodyn.models.base import GenerativeModel
from pyrodyn.models.params import in_local_params
from pyrodyn.nn.decoders import LinearDecoder

from .conftest import FaultyVAE, ToyVAE, make_data


class DeterministicAE(GenerativeModel):
    """A non-ELBO objective without Monte-Carlo noise: Gaussian reconstruction through the
    encoder mean (``is_elbo = False``). Without sampling noise, one step on 2 ranks x b rows can
    be compared with one step on 2b rows of the same data."""

    is_elbo = False

    def __init__(self) -> None:
        super().__init__({"x": Gaussian(2)})
        self.enc = nn.Linear(2, 2)
        self.decoder = LinearDecoder(2, self.likelihoods["x"])
        self.init_batches: list = []

    def init_from_data(self, batch) -> None:
        self.init_batches.append(batch)

    def model(self, batch, **_):
        return None

    def guide(self, batch, **_):
        return None

    def encode(self, batch):
        return {"latent": self.enc(batch.obs["x"])}

    def loss(self, batch, **_):
        params = self.decoder(self.enc(batch.obs["x"]))
        nll = -self.likelihoods["x"].log_prob(params, batch.obs["x"], batch.mask["x"]).sum()
        total = nll / self.normaliser(batch)
        return total, {"nll.x": total.detach()}


class ExitAt(Callback):
    """Callback that kills the rank-0 process at a step, as a crash or ``kill -9`` would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state) -> None:
        if state.step == self.step:
            os._exit(3)


@pytest.fixture
def dist_device(device) -> str:
    if device.type == "cuda" and torch.cuda.device_count() < 2:
        pytest.skip("two processes on CUDA need two GPUs")
    return device.type


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().cpu().flatten() for p in model.parameters()])


def test_two_ranks_equal_one_process_with_double_batch(dist_device):
    data = make_data(trials=8, steps=30)
    torch.manual_seed(0)
    single = DeterministicAE()
    torch.manual_seed(0)
    multi = DeterministicAE()
    kw = dict(steps=3, lr=1e-2, window=10, seed=3, device=dist_device, clip_norm=None)
    r1 = fit(single, data, batch_size=8, **kw)
    r2 = fit(multi, data, batch_size=4, devices=2, **kw)
    # the data-dependent initialisation saw the same first (global) batch, once
    assert len(single.init_batches) == len(multi.init_batches) == 1
    assert torch.equal(single.init_batches[0].obs["x"], multi.init_batches[0].obs["x"])
    assert isinstance(r2, DistributedFitResult) and r2.world_size == 2
    assert r2.rank_divergence == 0.0  # ranks hold bit-identical parameters
    assert r2.steps_done == 3 and multi is r2.model
    # same global batch, gradients averaged over ranks: equal up to float32 summation order
    torch.testing.assert_close(_flat(multi), _flat(single), rtol=1e-5, atol=1e-6)
    for a, b in zip(r1.history, r2.history):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)


def test_killed_run_resumes_exactly(tmp_path, dist_device):
    # step 2 diverges once on every rank (rolled back, lr halved) before the checkpoint of
    # step 3; the rank is then killed at step 4, and the resumed run must match the reference
    data = make_data(trials=8, steps=30)
    kw = dict(
        steps=6, lr=1e-2, batch_size=3, window=10, devices=2, checkpoint_every=3, seed=1,
        device=dist_device, schedules={"at": float},
    )  # fmt: skip
    torch.manual_seed(0)
    ref = FaultyVAE({1: "nan"})
    torch.manual_seed(0)
    resumed = FaultyVAE({1: "nan"})
    with pytest.warns(NumericsWarning, match="step 2: nll.x = nan"):
        r_ref = fit(ref, data, checkpoint_dir=tmp_path / "ref", **kw)
    assert r_ref.rank_divergence == 0.0 and r_ref.rollbacks == 1
    with pytest.raises(RuntimeError, match="exited with code 3"):
        fit(resumed, data, checkpoint_dir=tmp_path / "run", callbacks=[ExitAt(4)], **kw)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 3 and ckpt["world_size"] == 2 and len(ckpt["rng_ranks"]) == 2
    assert ckpt["lr_factor"] == 0.5
    r = fit(resumed, data, checkpoint_dir=tmp_path / "run", resume=True, **kw)
    assert r.steps_done == 6 and r.rank_divergence == 0.0
    assert torch.equal(_flat(resumed), _flat(ref))  # bit-identical to the uninterrupted run
    assert [h["loss"] for h in r.history] == [h["loss"] for h in r_ref.history]
    assert [h["lr"] for h in r.history] == [h["lr"] for h in r_ref.history]
    assert [h["step"] for h in read_history(tmp_path / "run" / "history.csv")] == list(range(1, 7))


def test_non_finite_loss_rolls_back_then_raises_its_own_error(dist_device):
    torch.manual_seed(0)
    model = ToyVAE()
    model.nan_at = {2}  # call 1 is the materialising evaluation: step 1 is non-finite once
    with pytest.warns(NumericsWarning, match=r"non-finite value at step 1: nll\.x = nan"):
        r = fit(model, make_data(), steps=3, batch_size=2, window=5, devices=2, device=dist_device)
    assert r.rollbacks == 1 and r.steps_done == 3 and r.history[0]["lr"] == pytest.approx(5e-4)
    torch.manual_seed(0)
    model = ToyVAE()
    model.nan_at = {2, 3, 4, 5}  # call 1 is the materialising evaluation
    with pytest.raises(NonFiniteLossError, match=r"non-finite value at step 1: nll\.x = nan"):
        fit(model, make_data(), steps=4, batch_size=2, window=5, devices=2, device=dist_device)


def test_large_model_with_an_unused_parameter(dist_device):
    # 160 KB of parameters (more than a pipe holds) that no loss uses: DDP must be told
    torch.manual_seed(0)
    model = ToyVAE()
    model.unused = nn.Parameter(torch.ones(40_000))
    r = fit(model, make_data(), steps=2, batch_size=2, window=5, devices=2, device=dist_device)
    assert r.steps_done == 2 and r.rank_divergence == 0.0
    assert torch.equal(model.unused.detach().cpu(), torch.ones(40_000))


class StopAt(Callback):
    """Callback asking to stop after a step (rank 0 decides, every rank must follow); checks
    that the rank trains with module-local parameters."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state) -> bool:
        if not in_local_params(state.model):
            raise AssertionError("the rank trains outside module-local parameters")
        return state.step >= self.step


def test_stops_agree_across_ranks(dist_device):
    kw = dict(steps=10, batch_size=2, window=5, devices=2, device=dist_device)
    r = fit(ToyVAE(), make_data(), callbacks=[StopAt(2)], **kw)
    assert (r.steps_done, r.stopped_reason, r.rank_divergence) == (2, "callback", 0.0)
    r = fit(ToyVAE(), make_data(), max_time=1e-6, **kw)
    assert (r.steps_done, r.stopped_reason) == (0, "max_time")


def test_resume_on_another_number_of_processes_warns(tmp_path, dist_device):
    kw = dict(batch_size=2, window=5, checkpoint_dir=tmp_path, device=dist_device)
    fit(ToyVAE(), make_data(), steps=2, **kw)
    with pytest.warns(RuntimeWarning, match="written by 1 process"):
        r = fit(ToyVAE(), make_data(), steps=4, devices=2, resume=True, **kw)
    assert r.steps_done == 4 and [h["step"] for h in r.history] == [1, 2, 3, 4]


def _composed(name: str):
    """A small instance of each composed model and data for it."""
    from pyrodyn.likelihoods import Poisson

    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 30, 3, generator=g)
    counts = torch.poisson(torch.ones(6, 30, 2), generator=g)
    liks = {"g": Gaussian(3), "p": Poisson(2)}
    seq = MultimodalDataset({"g": x.numpy(), "p": counts.numpy()})
    if name == "MTF":
        from pyrodyn.dynamics.plrnn import ClippedDendPLRNN
        from pyrodyn.models.mtf import MTF

        return MTF(liks, ClippedDendPLRNN(4, num_bases=2), 4, tau=5), seq
    if name == "MMGPVAE":
        from pyrodyn.models.mmgpvae import MMGPVAE

        return MMGPVAE(liks, encoder_hidden=(8,), lengthscale=4.0), seq
    if name == "MultimodalVAE":
        from pyrodyn.models.mmvm import MultimodalVAE
        from pyrodyn.nn.encoders.static_mlp import StaticMLPEncoder
        from pyrodyn.nn.fusion import MMVM

        encs = {"g": StaticMLPEncoder(3, 2, (8,)), "p": StaticMLPEncoder(2, 2, (8,))}
        static = MultimodalDataset({"g": x[:, 0].numpy(), "p": counts[:, 0].numpy()}, static=True)
        return MultimodalVAE(liks, encs, MMVM(), decoder_hidden=(8,), static=True), static
    if name == "LaDID":
        from pyrodyn.dynamics.query import QueryDynamics
        from pyrodyn.models.ladid import LaDID
        from pyrodyn.nn.encoders.ct_transformer import ContinuousTimeTransformer

        encs = {
            "g": ContinuousTimeTransformer(3, 4, model_dim=8, num_layers=1),
            "p": ContinuousTimeTransformer(2, 4, model_dim=8, num_layers=1),
        }
        dyn = QueryDynamics(4, 4, max_period=100.0, hidden=(8,), dropout=0.0)
        return LaDID(liks, encs, dyn, context=4), seq
    from pyrodyn.models.svae import SVAE

    return SVAE(liks, latent_dim=2), seq


@pytest.mark.parametrize("name", ["SVAE", "MTF", "MMGPVAE", "MultimodalVAE", "LaDID"])
def test_every_composed_model_trains_on_two_ranks(name, dist_device):
    torch.manual_seed(0)
    model, data = _composed(name)
    window = None if data.static else 20
    r = fit(model, data, steps=2, batch_size=2, window=window, devices=2, device=dist_device)
    assert r.steps_done == 2 and r.rank_divergence == 0.0
    assert all(math.isfinite(h["loss"]) for h in r.history)


def test_cli_devices_writes_one_run_directory(tmp_path, capsys, dist_device):
    rng = np.random.default_rng(0)
    t = np.arange(300) * 0.3
    x = np.stack([np.sin(t), np.cos(t)], 1) + 0.1 * rng.normal(size=(300, 2))
    np.savez(tmp_path / "train.npz", gaussian=x)
    cfg = {
        "data": {
            "path": str(tmp_path / "train.npz"),
            "modalities": {"gaussian": {"likelihood": {"type": "Gaussian"}}},
            "window": 20,
            "valid_fraction": 0.2,
        },
        "model": {"type": "SVAE", "latent_dim": 2},
        "fit": {"steps": 6, "lr": 1e-2, "batch_size": 2, "checkpoint_every": 3, "valid_every": 3},
        "device": dist_device,
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "runs" / "svae"
    assert main(["fit", str(tmp_path / "cfg.yaml"), "--devices", "2", "--out", str(run)]) == 0
    assert "fitted 6 steps" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "runs")) == ["svae"]
    for name in ("config.yaml", "history.csv", "checkpoint.pt"):
        assert (run / name).exists()
    rows = read_history(run / "history.csv")
    assert [r["step"] for r in rows] == list(range(1, 7)) and "valid_loss" in rows[-1]
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["fit"]["devices"] == 2


# ---------------------------------------------------------------------------- bad input
def test_cli_bad_devices_fail_before_a_run_directory(tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"type": "SVAE", "latent_dim": 2}}))
    run = tmp_path / "run"
    n = os.cpu_count() or 1
    assert main(["fit", str(cfg), "--devices", str(n + 1), "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert f"ValueError: devices={n + 1} processes were asked for but this machine offers" in err
    if n >= 2:
        bad = ["--set", "fit.strategy=horovod", "--devices", "2", "--out", str(run)]
        assert main(["fit", str(cfg), *bad]) == 1
        assert "unknown strategy 'horovod'" in capsys.readouterr().err
    assert not run.exists()


def test_more_devices_than_cpu_cores():
    n = os.cpu_count() or 1
    with pytest.raises(ValueError, match=rf"devices={n + 1} .* offers {n} CPU cores"):
        fit(ToyVAE(), make_data(), steps=1, devices=n + 1)


def test_cuda_where_none_exists():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit(ToyVAE(), make_data(), steps=1, devices=2, device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit(ToyVAE(), make_data(), steps=1, device="cuda")  # one process: the same check


@pytest.mark.parametrize(
    ("strategy", "match"),
    [
        ("dpp", "unknown strategy 'dpp': Lightning Fabric knows"),
        ("fsdp", "'fsdp' is a Lightning Fabric strategy that pyrodyn does not run"),
        ("dp", "'dp' is a Lightning Fabric strategy that pyrodyn does not run"),
    ],
)
def test_unknown_or_unsupported_strategy(strategy, match):
    with pytest.raises(ValueError, match=match):
        fit(ToyVAE(), make_data(), steps=1, devices=2, strategy=strategy)


def test_bad_devices_values():
    with pytest.raises(ValueError, match="devices must be >= 1, got 0"):
        check_devices(0, "cpu")
    with pytest.raises(TypeError, match="devices must be an int"):
        check_devices("2", "cpu")
    with pytest.raises(ValueError, match="not a torch device"):
        check_devices(2, "gpu")
    with pytest.raises(TypeError, match="strategy must be a string"):
        check_strategy(None, "cpu")


def test_ddp_start_method():
    assert check_strategy("ddp", "cpu") == "fork"
    assert check_strategy("ddp", "cuda") == "spawn"
    assert check_strategy("ddp_spawn", "cpu") == "spawn"
    with pytest.raises(ValueError, match="forks processes, which CUDA does not support"):
        check_strategy("ddp_fork", "cuda")


def test_mixed_devices_named_at_fit_boundary():
    model = ToyVAE()
    model.decoder.stray = torch.zeros(2, device="meta")  # a plain attribute, not a buffer
    with pytest.raises(ValueError, match=r"mixes devices: .*decoder\.stray \(meta; a plain"):
        fit(model, make_data(), steps=1)


def test_single_process_unchanged_by_devices_one(toy_data):
    torch.manual_seed(0)
    a = ToyVAE()
    torch.manual_seed(0)
    b = ToyVAE()
    ra = fit(a, toy_data, steps=3, batch_size=4, window=10)
    rb = fit(b, toy_data, steps=3, batch_size=4, window=10, devices=1, strategy="fsdp")
    assert type(rb).__name__ == "FitResult"
    assert torch.equal(_flat(a), _flat(b)) and ra.history[-1]["loss"] == rb.history[-1]["loss"]


def test_dataset_for_sharding_needs_enough_rows():
    data = make_data(trials=1, steps=30).batch()
    with pytest.raises(ValueError, match="fewer than devices=2"):
        fit(ToyVAE(), data, steps=1, devices=2)


def test_bad_options_fail_before_any_process_starts():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adagrad'"):
        fit(ToyVAE(), make_data(), steps=1, devices=2, optimizer="adagrad")
    with pytest.raises(ValueError, match="lr must be positive and finite, got nan"):
        fit(ToyVAE(), make_data(), steps=1, devices=2, lr=math.nan)
    with pytest.raises(
        TypeError, match=r"fit_distributed got unexpected keyword arguments \['stpes'\]"
    ):
        fit_distributed(ToyVAE(), make_data(), devices=2, stpes=3)
    with pytest.raises(TypeError, match="model must be a pyrodyn GenerativeModel"):
        fit(nn.Linear(2, 2), make_data(), steps=1, devices=2)
