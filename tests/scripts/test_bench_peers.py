"""Pure helpers of scripts/bench_peers.py and scripts/peer_models.py (no peer package needed)."""

import importlib.util
import itertools
import math
import pathlib
from types import SimpleNamespace

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("bench_peers")


@pytest.fixture(scope="module")
def models(load_script):
    return load_script("peer_models")


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
    peers = {p for group in bench.PEER_PACKAGES.values() for p in group}
    monkeypatch.setattr(
        bench.importlib.util,
        "find_spec",
        # the other peer packages count as present whether or not they are installed here
        lambda name, *a: (
            None
            if name in ("reservoirpy", "neo")
            else object()
            if name in peers
            else real(name, *a)
        ),
    )
    with pytest.raises(SystemExit) as err:
        bench.require_peers(["lorenz63", "digits"])
    msg = str(err.value)
    assert "\n" not in msg and 'pip install "pyrodyn[peers]"' in msg
    assert "peer package(s) neo, reservoirpy not installed" in msg.replace(
        "reservoirpy, neo", "neo, reservoirpy"
    )
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


def test_read_inputs_stacks_the_named_arrays_in_order(bench, tmp_path):
    rng = np.random.default_rng(0)
    ordinal, poisson, labels = rng.integers(1, 8, (20, 8)), rng.poisson(1.0, (20, 3)), np.arange(20)
    path = tmp_path / "d.npz"
    np.savez(path, ordinal=ordinal, poisson=poisson, labels=labels, gaussian=np.zeros((20, 3)))
    u = bench.read_inputs(str(path), ("ordinal", "poisson"))
    assert u.dtype == np.float64 and u.shape == (20, 11)
    np.testing.assert_array_equal(u, np.hstack([ordinal, poisson]))
    np.testing.assert_array_equal(bench.read_inputs(str(path), ("labels",)), labels[:, None])
    with pytest.raises(ValueError, match=r"has no array \['octant'\]; it holds \['gaussian', "):
        bench.read_inputs(str(path), ("octant",))
    np.savez(path, a=np.zeros((20, 2)), b=np.zeros((19, 2)))
    with pytest.raises(ValueError, match=r"are not \(T, channels\) of one length T"):
        bench.read_inputs(str(path), ("a", "b"))


def test_item3_tasks_read_their_data_and_configs(bench):
    args = SimpleNamespace(l63_data="noisy.npz", l63_truth="clean.npz", out="out")
    assert bench.dsr_files("lorenz63_op", args) == ("noisy.npz", "clean.npz", "gaussian")
    sym = str(pathlib.Path("out", "data", "lorenz63_symbolic.npz"))
    assert bench.dsr_files("lorenz63_labels", args) == (sym, sym, "true_state")
    assert bench.INPUTS["lorenz63_op"] == ("ordinal", "poisson")
    configs = pathlib.Path(__file__).resolve().parents[2] / "pyrodyn" / "configs"
    shipped = {p.stem for p in configs.glob("*.yaml")}
    assert set(bench.CONFIGS.values()) <= shipped
    assert set(bench.LATENT_TASKS) <= set(bench.TASKS)


def test_pyrodyn_config_overrides_one_task_and_refuses_bad_values(bench):
    args = SimpleNamespace(pyrodyn_config=["lorenz63=mtf_lorenz63_gaussian_3min"])
    assert bench.config_of("lorenz63", args) == "mtf_lorenz63_gaussian_3min"
    assert bench.config_of("rossler", args) == "mtf_rossler"
    assert bench.config_of("lorenz63", SimpleNamespace(pyrodyn_config=None)) == "mtf_lorenz63"
    for bad in ("lorenz63", "digits=mtf_lorenz63", "lorenz63=no_such_config"):
        with pytest.raises(SystemExit, match="--pyrodyn-config takes TASK=CONFIG"):
            bench.config_of("lorenz63", SimpleNamespace(pyrodyn_config=[bad]))


def test_standardise_z_scores_columns_and_only_centres_constant_ones(models):
    rng = np.random.default_rng(1)
    u = np.c_[rng.integers(1, 8, (500, 2)), np.full(500, 3.0)]
    z = models.standardise(u)
    ref = (u[:, :2] - u[:, :2].mean(0)) / u[:, :2].std(0)
    np.testing.assert_allclose(z[:, :2], ref, rtol=1e-12)
    np.testing.assert_array_equal(z[:, 2], 0.0)
    for bad in (np.ones(5), np.ones((1, 3)), np.array([[1.0, np.nan], [2.0, 3.0]])):
        with pytest.raises(ValueError, match=r"inputs must be a finite \(T >= 2, channels\)"):
            models.standardise(bad)


def test_run_esn_latent_needs_one_state_row_per_step(models):
    args = SimpleNamespace(budget=1.0, valid_steps=10, burn_in=0, steps=10)
    codes = np.ones((10, 2)) * np.arange(10)[:, None]
    with pytest.raises(ValueError, match="state_fit must have one row per training step: 9 rows"):
        models.run_esn_latent(codes, np.zeros((9, 3)), np.zeros((5, 3)), 0, args, 0.0)


def test_ridges_default_override_and_bad_values(models):
    assert models.ridges() == models.SPACE["ridge"] == models.ridges(SimpleNamespace())
    wide = SimpleNamespace(esn_ridges=[1e-6, 1e-4, 1e-2, 1.0])
    assert models.ridges(wide) == (1e-6, 1e-4, 1e-2, 1.0)
    assert "ridge {1e-06, 0.0001, 0.01, 1} (72 configurations;" in models.space_text(wide)
    for bad in ([0.0], [-1.0], [math.inf], [math.nan]):
        with pytest.raises(ValueError, match="ESN ridges must be positive finite numbers"):
            models.ridges(SimpleNamespace(esn_ridges=bad))


def test_latent_task_table(bench, load_script):
    args = SimpleNamespace(budget=180.0, valid_steps=10000, steps=50000, burn_in=1000)
    peer = {"d_stsp": 0.8, "d_stsp_outputs": math.nan, "configs_tried": 12, "wall_s": 179.0}
    mtf = {"d_stsp": 0.25, "fit_steps": 2000, "selected_step": 2000, "wall_s": 185.0}
    rows = [{"seed": 0, "peer": peer, "pyrodyn": mtf}]
    lines = bench.task_table("lorenz63_op", rows, args, floor=(0.0078, None)).splitlines()
    assert lines[0].startswith("### Lorenz-63 from the 8 ordinal (codes 1..7) + 3 Poisson")
    assert "configs/mtf_lorenz63_ordinal_poisson.yaml with fit.max_time=180; the map" in lines[2]
    args.pyrodyn_set = ["fit.lr=0.006", "fit.select.prediction=mean"]
    text = bench.task_table("lorenz63_op", rows, args, floor=(0.0078, None)).splitlines()[2]
    assert "fit.max_time=180, fit.lr=0.006, fit.select.prediction=mean; the map" in text
    assert "| 0 | 0.800 | diverged | 12 | 179 | 0.250 | 2000 (2000) | 185 |" in lines
    assert "- floor (the noise-free training half against the tail): D_stsp 0.0078" in lines
    tables = load_script("peer_tables")
    with pytest.raises(ValueError, match="kind must be 'dsr', 'latent' or 'digits', got 'x'"):
        tables.task_table("lorenz63", rows, args, kind="x", config="c", space="s")
    with pytest.raises(ValueError, match="no description of the latent task 'rossler'"):
        tables.task_table("rossler", rows, args, kind="latent", config="c", space="s")


def test_writing_some_tasks_keeps_the_tables_of_the_others(bench):
    from datetime import datetime, timezone

    when = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)

    def block(task, text):
        return bench.task_block(task, f"### {task}\n\n{text}\n", f"run {task}", when)

    doc = bench.write_tasks(DOC, {"lorenz63_op": block("lorenz63_op", "op v1")})
    doc = bench.write_tasks(
        doc, {"lorenz63": block("lorenz63", "l63 v1"), "digits": block("digits", "d")}
    )
    doc = bench.write_tasks(doc, {"lorenz63_op": block("lorenz63_op", "op v2")})
    assert set(bench.task_blocks(doc)) == {"lorenz63", "lorenz63_op", "digits"}
    assert "op v2" in doc and "op v1" not in doc and "l63 v1" in doc
    # the order of TASKS, whatever the order of the runs; the other sections untouched
    assert doc.index("l63 v1") < doc.index("op v2") < doc.index("### digits")
    assert doc.count(bench.SECTION) == 1 and doc.endswith("## Older\n\nold text\n")
    assert "    run lorenz63_op\n" in doc and "Run 2026-12-06 12:00 UTC on " in doc
    assert bench.task_blocks(DOC) == {}
