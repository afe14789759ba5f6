from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from pyrodyn.infer.checkpoint import atomic_save, get_rng_state, load_checkpoint, set_rng_state


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
