from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from pyrodyn.infer.checkpoint import (
    CHECKPOINT_FORMAT,
    atomic_save,
    forked_rng,
    get_rng_state,
    load_checkpoint,
    read_fit_checkpoint,
    set_rng_state,
)
from pyrodyn.infer.state import LoopState


def test_atomic_save_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "sub" / "c.pt"
    atomic_save({"a": torch.ones(2)}, p)
    atomic_save({"a": torch.zeros(2)}, p)
    assert torch.equal(load_checkpoint(p)["a"], torch.zeros(2))
    assert [f.name for f in p.parent.iterdir()] == ["c.pt"]


def test_failed_write_keeps_previous(tmp_path):
    p = tmp_path / "c.pt"
    atomic_save({"a": 1}, p)

    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_save({"a": Boom()}, p)
    assert load_checkpoint(p) == {"a": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["c.pt"]


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "none.pt")


def test_rng_state_roundtrip_through_weights_only_file(tmp_path):
    state = get_rng_state()
    atomic_save({"rng": state}, tmp_path / "r.pt")
    a = (torch.rand(3), random.random(), np.random.rand())  # noqa: NPY002
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    b = (torch.rand(3), random.random(), np.random.rand())  # noqa: NPY002
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]


FIXTURE = Path(__file__).parents[1] / "fixtures" / "runs" / "demo_tiny" / "checkpoint.pt"


def test_checkpoint_of_an_old_run_directory_reads_back():
    # written before the loop was shared: no rng_ranks / world_size
    ckpt = read_fit_checkpoint(FIXTURE)
    assert ckpt["format"] == CHECKPOINT_FORMAT and "rng_ranks" not in ckpt
    state = LoopState.from_checkpoint(ckpt)
    assert (state.step, state.lr_factor, state.bad_count) == (2, 1.0, 0)
    assert state.elapsed == ckpt["elapsed"] and len(state.history) == 2
    assert state.to_checkpoint()["history"] == ckpt["history"]


def test_read_fit_checkpoint_rejects_other_files(tmp_path):
    atomic_save({"state_dict": {}}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"model.pt' is not a resumable pyrodyn fit checkpoint"):
        read_fit_checkpoint(tmp_path / "model.pt")


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002


def _draw() -> tuple:
    return torch.rand(2), random.random(), np.random.rand()  # noqa: NPY002


def test_forked_rng_gives_the_streams_back():
    _seed_all(1)
    expected = _draw()
    _seed_all(1)
    with forked_rng():
        _draw(), _draw()  # whatever the body draws from torch, Python and NumPy
    got = _draw()
    assert torch.equal(expected[0], got[0]) and expected[1:] == got[1:]


def test_rng_state_for_a_cpu_device_has_no_cuda_entry_and_roundtrips():
    state = get_rng_state("cpu")
    assert sorted(state) == ["numpy", "python", "torch"]
    # NumPy's uint32 keys are stored exactly, as int64 (a dtype every torch version serialises)
    keys = state["numpy"]["keys"]
    assert keys.dtype == torch.int64
    np.testing.assert_array_equal(keys.numpy(), np.random.get_state()[1])  # noqa: NPY002
    a = _draw()
    set_rng_state(state, "cpu")
    b = _draw()
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


class _CudaRngSpy:
    """Stands in for torch.cuda's RNG getters and setters (no GPU needed)."""

    def __init__(self):
        self.state = torch.arange(8, dtype=torch.uint8)
        self.got: list = []
        self.set: list = []

    def get_rng_state(self, device):
        self.got.append(device)
        return self.state

    def set_rng_state(self, state, device):
        self.set.append((state, device))


@pytest.fixture
def cuda_rng(monkeypatch):
    spy = _CudaRngSpy()
    monkeypatch.setattr(torch.cuda, "get_rng_state", spy.get_rng_state)
    monkeypatch.setattr(torch.cuda, "set_rng_state", spy.set_rng_state)
    return spy


def test_cuda_rng_state_is_stored_and_restored_for_a_cuda_device(cuda_rng):
    state = get_rng_state("cuda:1")
    assert cuda_rng.got == [torch.device("cuda", 1)] and state["cuda"] is cuda_rng.state
    set_rng_state(state, "cuda:1")
    assert len(cuda_rng.set) == 1
    restored, device = cuda_rng.set[0]
    assert restored is cuda_rng.state and device == torch.device("cuda", 1)


def test_cuda_rng_state_is_left_alone_off_cuda(cuda_rng):
    assert "cuda" not in get_rng_state() and "cuda" not in get_rng_state("cpu")
    # a checkpoint written on a GPU resumes on the CPU: its CUDA state is not applied
    state = {**get_rng_state(), "cuda": cuda_rng.state}
    set_rng_state(state)
    set_rng_state(state, "cpu")
    # and a CUDA run resuming a CPU checkpoint keeps its own CUDA stream
    set_rng_state(get_rng_state(), "cuda:0")
    assert cuda_rng.got == [] and cuda_rng.set == []
