"""scripts/mutation_report.py: scores per module from mutmut results, equivalents, staleness."""

import json
import pathlib

import pytest

# mutmut's exit-code table, the part these fixtures use (the script reads mutmut's own by default)
STATUSES = {
    0: "survived",
    1: "killed",
    5: "no tests",
    36: "timeout",
    34: "skipped",
    None: "not checked",
}


@pytest.fixture(scope="module")
def report(load_script):
    return load_script("mutation_report")


def write_meta(root: pathlib.Path, module: str, codes: dict[str, int | None]) -> None:
    path = root / (module + ".meta")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {}}))


def test_scores_count_timeouts_as_kills_and_exclude_equivalents(report, tmp_path):
    m = "pyrodyn.likelihoods.poisson.x_f__mutmut_"
    codes = {f"{m}{i}": c for i, c in enumerate([1, 1, 1, 36, 0, 0, 5, 34])}
    write_meta(tmp_path, "pyrodyn/likelihoods/poisson.py", codes)
    base = "pyrodyn.metrics.base.x_g__mutmut_"
    write_meta(tmp_path, "pyrodyn/metrics/base.py", {f"{base}1": 1, f"{base}2": None})
    write_meta(tmp_path, "pyrodyn/metrics/_arrays.py", {})  # no mutants: not a row
    results = report.load_results(tmp_path, STATUSES)
    assert sorted(results) == ["pyrodyn/likelihoods/poisson.py", "pyrodyn/metrics/base.py"]
    equiv = {f"{m}5": {"change": "x = 1", "reason": "r"}}
    rows, survivors, stale = report.score_table(results, equiv, diff_of=lambda n: "y\nx = 1")
    row = next(r for r in rows if r["module"] == "pyrodyn/likelihoods/poisson.py")
    # 8 mutants: 4 killed (one by time-out), 1 survivor, 1 equivalent, 1 unreached, 1 skipped
    assert (row["mutants"], row["killed"], row["survived"], row["no tests"]) == (8, 4, 1, 1)
    assert row["equivalent"] == 1
    assert report.score(row) == pytest.approx(4 / 6)
    assert survivors == [f"{m}4", f"{m}6"] and stale == []
    group = next(r for r in rows if r["module"] == "**pyrodyn/likelihoods/ (all)**")
    assert group["mutants"] == 8 and report.score(group) == pytest.approx(4 / 6)
    unchecked = next(r for r in rows if r["module"] == "pyrodyn/metrics/base.py")
    assert unchecked["not checked"] == 1 and report.score(unchecked) == 1.0  # over checked ones
    text = report.render(rows, survivors, stale, mutmut_version="3.8.1")
    assert "| pyrodyn/likelihoods/poisson.py | 8 | 4 | 1 | 1 | 1 | 0 | 66.7 % |" in text
    assert "Surviving mutants not listed as equivalent: 2." in text


def test_stale_equivalents_are_reported(report, tmp_path):
    m = "pyrodyn.dynamics.base.x_h__mutmut_"
    write_meta(tmp_path, "pyrodyn/dynamics/base.py", {f"{m}1": 1, f"{m}2": 0})
    results = report.load_results(tmp_path, STATUSES)
    equiv = {
        f"{m}1": {"change": "a", "reason": "r"},  # a test kills it now
        f"{m}2": {"change": "b = 2", "reason": "r"},  # renumbered: its diff writes other code
        f"{m}9": {"change": "c", "reason": "r"},  # gone
    }
    rows, survivors, stale = report.score_table(results, equiv, diff_of=lambda n: "a")
    assert survivors == []
    assert any(s.startswith(f"{m}1: listed as equivalent but killed") for s in stale)
    assert any(s.startswith(f"{m}2: its diff no longer writes 'b = 2'") for s in stale)
    assert any(s.startswith(f"{m}9: listed as equivalent but no such mutant") for s in stale)
    assert rows[0]["killed"] == 1 and rows[0]["equivalent"] == 1


def test_equivalent_entries_need_change_and_reason(report, tmp_path):
    path = tmp_path / "eq.toml"
    path.write_text('[[equivalent]]\nmutant = "a"\nchange = "x"\n')
    with pytest.raises(ValueError, match=r"entry 'a' lacks \['reason'\]"):
        report.load_equivalents(path)
    path.write_text('[[equivalent]]\nmutant = "a"\nchange = "x"\nreason = "why"\n')
    assert report.load_equivalents(path) == {"a": {"change": "x", "reason": "why"}}


def test_write_section_replaces_only_its_own_section(report, tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text(f"# B\n\n## Other\n\nkeep\n\n{report.SECTION}\n\nold\n\n## After\n\nkeep too\n")
    report.write_section(doc, f"{report.SECTION}\n\nnew\n")
    text = doc.read_text()
    assert "old" not in text and "new" in text
    assert text.index("## Other") < text.index(report.SECTION) < text.index("## After")
    assert text.endswith("## After\n\nkeep too\n")
    fresh = tmp_path / "C.md"
    fresh.write_text("# C\n")
    report.write_section(fresh, f"{report.SECTION}\n\nx\n")
    assert fresh.read_text() == f"# C\n\n{report.SECTION}\n\nx\n"
