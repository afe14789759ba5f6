from __future__ import annotations

import torch

from pyrodyn.infer.sampler import BatchSampler, ShardedSampler

from .conftest import make_data


def test_peek_returns_the_next_batch_without_advancing():
    data = make_data()
    sampler = BatchSampler(data, 4, 10, torch.Generator().manual_seed(3))
    peeked = sampler.peek()
    first, second = sampler(), sampler()
    assert torch.equal(peeked.obs["x"], first.obs["x"])
    assert not torch.equal(first.obs["x"], second.obs["x"])


def test_ranks_share_one_global_batch():
    data = make_data()
    whole = BatchSampler(data, 6, 10, torch.Generator().manual_seed(0))()
    parts = [ShardedSampler(data, 3, 10, torch.Generator().manual_seed(0), r, 2)() for r in (0, 1)]
    assert torch.equal(torch.cat([p.obs["x"] for p in parts]), whole.obs["x"])
    one = ShardedSampler(data, 6, 10, torch.Generator().manual_seed(0))()
    assert torch.equal(one.obs["x"], whole.obs["x"])


def test_small_batch_is_split_unevenly_and_never_drawn():
    batch = make_data(trials=3).batch()
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    rows = [ShardedSampler(batch, 2, None, gen, r, 2)().num_sequences for r in (0, 1)]
    assert rows == [2, 1] and torch.equal(gen.get_state(), state)
