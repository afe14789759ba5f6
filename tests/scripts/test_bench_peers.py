"""Pure helpers of scripts/bench_peers.py and scripts/peer_models.py (no peer package needed)."""

import importlib.util
import itertools
import math
import pathlib
from types import SimpleNamespace

import numpy as np
import pytest

SCRIPTS = pathlib.Path(__file__).resolve().parents[2] / "scripts"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("bench_peers")


@pytest.fixture(scope="module")
def models():
    return _load("peer_models")


DOC = "# Benchmarks\n\nintro\n\n## Newest (2026)\n\nnew text\n\n## Older\n\nold text\n"


def test_replace_section_inserts_before_the_first_section(bench):
    out = bench.replace_section(DOC, "## Peers", "## Peers\n\nfigures")
    assert out == (
        "# Benchmarks\n\nintro\n\n## Peers\n\nfigures\n\n## Newest (2026)\n\nnew text\n\n"
        "## Older\n\nold text\n"
    )


def test_replace_section_replaces_only_its_own_section(bench):
    once = bench.replace_section(DOC, "## Newest (2026)", "## Newest (2026)\n\nrewritten")
    assert (
        once == "# Benchmarks\n\nintro\n\n## Newest (2026)\n\nrewritten\n\n## Older\n\nold text\n"
    )
    last = bench.replace_section(DOC, "## Older", "## Older\n\nv2\n")
    assert last.endswith("## Older\n\nv2\n\n") and "new text" in last and "old text" not in last
    # a subsection of the replaced section goes with it; writing twice changes nothing more
    doc = DOC.replace("new text", "new text\n\n### sub\n\nsub text")
    twice = doc
    for _ in range(2):
        twice = bench.replace_section(twice, "## Newest (2026)", "## Newest (2026)\n\nx")
    assert twice == "# Benchmarks\n\nintro\n\n## Newest (2026)\n\nx\n\n## Older\n\nold text\n"


def test_replace_section_appends_to_a_file_without_sections(bench):
    for doc in ("# B\n\nintro", "# B\n\nintro\n\n\n"):
        assert bench.replace_section(doc, "## P", "## P\n\nx") == "# B\n\nintro\n\n## P\n\nx\n\n"
    assert bench.replace_section("", "## P", "## P\n\nx") == "## P\n\nx\n\n"


def test_spike_times_bin_back_to_the_counts(models):
    counts = np.random.default_rng(0).poisson(1.5, size=(50, 7))
    counts[:, 3] = 0  # a silent neuron
    times = models.spike_times(counts, 20.0)
    assert len(times) == 7 and times[3].size == 0
    edges = np.arange(51) * 20.0
    for n, t in enumerate(times):
        np.testing.assert_array_equal(np.histogram(t, bins=edges)[0], counts[:, n])
        # strictly inside the bins: never on an edge, where a binner may round either way
        assert np.all(np.abs(t[:, None] - edges[None, :]) > 1e-6)
        assert np.all(np.diff(t) > 0)


@pytest.mark.parametrize("bad", [np.ones(5), -np.ones((3, 2)), np.full((3, 2), 0.5)])
def test_spike_times_rejects_non_counts(models, bad):
    with pytest.raises(ValueError, match=r"counts must be a \(T, neurons\) array of non-negative"):
        models.spike_times(bad, 1.0)


def test_search_order_is_the_whole_grid_in_a_fixed_order(models):
    order = models.search_order()
    sp = models.SPACE
    assert sorted(order) == sorted(itertools.product(sp["units"], sp["sr"], sp["leak"]))
    assert order == models.search_order() and order != sorted(order)
    assert "(36 configurations;" in models.space_text()


def test_require_peers_names_the_extra_in_one_line(bench, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        bench.importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("reservoirpy", "neo") else real(name, *a),
    )
    with pytest.raises(SystemExit) as err:
        bench.require_peers(["lorenz63", "digits"])
    msg = str(err.value)
    assert "\n" not in msg and 'pip install "pyrodyn[peers]"' in msg
    assert "neo, reservoirpy" in msg.replace("reservoirpy, neo", "neo, reservoirpy")
    with pytest.raises(SystemExit, match="reservoirpy not installed"):
        bench.require_peers(["rossler"])


def test_task_table_medians_count_divergence_as_worst(bench):
    args = SimpleNamespace(budget=180.0, valid_steps=10000, steps=50000, burn_in=1000)
    peer = {"configs_tried": 30, "configs_skipped": 6, "configs_total": 36, "search_s": 170.0}
    peer["wall_s"] = 181.0
    peer["chosen"] = {"units": 500, "sr": 1.0, "leak": 0.3, "ridge": 1e-6}
    rows = [
        {"seed": 0, "peer": {**peer, "d_stsp": 0.1, "d_h": 0.2}, "pyrodyn": {"error": "exit 1"}},
        {"seed": 1, "peer": {**peer, "d_stsp": math.nan, "d_h": math.nan}},
        {"seed": 2, "peer": {**peer, "d_stsp": 0.3, "d_h": 0.05}},
    ]
    text = bench.task_table("lorenz63", rows, args, floor=(0.0076, 0.056))
    lines = text.splitlines()
    assert "| 1 | diverged | diverged | 30 | 181 | — | — | — | — |" in lines
    # medians of (0.1, inf, 0.3) and (0.2, inf, 0.05); the pyrodyn side has no finished run
    assert "| **median** | **0.300** | **0.200** |  | **181** |  |  |  |  |" in lines
    assert "- seed 0 pyrodyn failed: exit 1" in lines
    assert any(line.startswith("- floor") and "0.0076" in line for line in lines)
