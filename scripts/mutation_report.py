"""Per-module mutation score of the numeric core from a finished ``mutmut run`` (``make mutation``).

Reads mutmut's result files under ``mutants/`` and the reviewed list of equivalent mutants in
``scripts/mutation_equivalents.toml`` (mutants no test can kill because the program's behaviour is
unchanged, each with its reason). The score of a module is

    killed / (mutants - equivalent),

where "killed" counts mutants a test failed on, timed out on (the mutant loops or crawls) or that
crashed the interpreter. Survivors and mutants no test reaches count against it. An equivalent
entry is stale, and reported as such, when the mutant no longer exists, when a test now kills it,
or when its diff no longer contains the change recorded with it (mutmut numbers mutants per
function, so an edit to the function renumbers them).

Usage::

    .venv/bin/python scripts/mutation_report.py             # table and survivors to stdout
    .venv/bin/python scripts/mutation_report.py --write     # also refresh BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

try:
    from tomllib import loads as toml_loads
except ModuleNotFoundError:  # Python 3.10: mutmut depends on the `toml` package there
    from toml import loads as toml_loads

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Mutation testing of the numeric core (issue 18)"
EQUIVALENTS = ROOT / "scripts" / "mutation_equivalents.toml"
KILLED = ("killed", "timeout", "segfault", "caught by type check")
GROUPS = (
    "pyrodyn/likelihoods",
    "pyrodyn/distributions",
    "pyrodyn/priors/gp",
    "pyrodyn/dynamics",
    "pyrodyn/nn/fusion",
    "pyrodyn/metrics",
    "pyrodyn/infer",
)


def mutmut_statuses() -> Mapping[int | None, str]:
    """mutmut's verdict per exit code (its own table, so the two cannot drift)."""
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code


def load_results(
    mutants: Path, statuses: Mapping[int | None, str] | None = None
) -> dict[str, dict[str, str]]:
    """``{module path: {mutant name: status}}`` from every ``*.py.meta`` under ``mutants``."""
    status_of = (statuses or mutmut_statuses()).__getitem__
    out: dict[str, dict[str, str]] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        module = str(meta.relative_to(mutants))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if codes:
            out[module] = {name: status_of(code) for name, code in codes.items()}
    return out


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, dict[str, str]]:
    """``{mutant name: {"change": ..., "reason": ...}}`` from the reviewed list."""
    if not path.exists():
        return {}
    entries = toml_loads(path.read_text())["equivalent"]
    out = {}
    for e in entries:
        missing = {"mutant", "change", "reason"} - set(e)
        if missing:
            raise ValueError(f"{path}: entry {e.get('mutant', e)!r} lacks {sorted(missing)}")
        out[e["mutant"]] = {"change": e["change"], "reason": e["reason"]}
    return out


def added_lines(name: str) -> str:
    """The ``+`` lines of a mutant's diff, stripped and joined (what the mutation wrote)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name)
    lines = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and ln[1:2] != "+"]
    return "\n".join(lines)


def score_table(
    results: dict[str, dict[str, str]],
    equivalents: dict[str, dict[str, str]],
    diff_of: Callable[[str], str] | None = None,
) -> tuple[list[dict[str, object]], list[str], list[str]]:
    """Rows per module (and per group), surviving non-equivalent mutants, stale equivalents.

    ``diff_of(name)`` gives the lines a mutant writes (default: from mutmut's ``mutants/``).
    """
    diff_of = diff_of or added_lines
    rows: list[dict[str, object]] = []
    survivors: list[str] = []
    seen = set()
    stale = []
    totals = {g: Counter() for g in GROUPS}
    for module, statuses in sorted(results.items()):
        c: Counter = Counter()
        for name, st in statuses.items():
            if name in equivalents:
                seen.add(name)
                if st in KILLED:
                    stale.append(f"{name}: listed as equivalent but {st}")
                    c["killed"] += 1
                else:
                    c["equivalent"] += 1
                continue
            c["killed" if st in KILLED else st] += 1
            if st in ("survived", "no tests", "suspicious"):
                survivors.append(name)
        c["mutants"] = len(statuses)
        rows.append({"module": module, **c})
        group = next((g for g in GROUPS if module.startswith(g + "/")), None)
        if group is not None:
            totals[group].update(c)
    stale += [f"{n}: listed as equivalent but no such mutant" for n in set(equivalents) - seen]
    for name in sorted(seen):
        if equivalents[name]["change"].strip() not in diff_of(name):
            stale.append(f"{name}: its diff no longer writes {equivalents[name]['change']!r}")
    for g in GROUPS:
        if totals[g]["mutants"]:
            rows.append({"module": f"**{g}/ (all)**", **totals[g]})
    return rows, survivors, stale


def score(row: dict[str, object]) -> float:
    """killed / (mutants - equivalent - skipped - not checked)."""
    left_out = sum(int(row.get(k, 0)) for k in ("equivalent", "skipped", "not checked"))
    live = int(row["mutants"]) - left_out
    return int(row.get("killed", 0)) / live if live else 1.0


def render(
    rows: list[dict[str, object]],
    survivors: list[str],
    stale: list[str],
    mutmut_version: str | None = None,
) -> str:
    """The BENCHMARKS.md section (``mutmut_version`` defaults to the installed one)."""
    from importlib.metadata import version

    mutmut_version = mutmut_version or version("mutmut")
    lines = [
        SECTION,
        "",
        f"{datetime.date.today().isoformat()}, {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, mutmut {mutmut_version}. Command: `make mutation` "
        "(= `OMP_NUM_THREADS=1 mutmut run --max-children 2`, then "
        "`python scripts/mutation_report.py --write`). Configuration: `[tool.mutmut]` in "
        "pyproject.toml (the modules mutated and the test directories that may kill them). "
        "Score = killed / (mutants - equivalent - not checked); killed includes time-outs. "
        "Equivalent mutants are listed with the reason in `scripts/mutation_equivalents.toml`.",
        "",
        "| module | mutants | killed | survived | no tests | equivalent | not checked | score |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['module']} | {r['mutants']} | {r.get('killed', 0)} | {r.get('survived', 0)} | "
            f"{r.get('no tests', 0)} | {r.get('equivalent', 0)} | {r.get('not checked', 0)} | "
            f"{100 * score(r):.1f} % |"
        )
    lines += ["", f"Surviving mutants not listed as equivalent: {len(survivors)}."]
    if survivors:
        lines += ["", "<details><summary>names (`mutmut show NAME` prints the diff)</summary>", ""]
        lines += [f"- `{s}`" for s in survivors] + ["", "</details>"]
    if stale:
        lines += ["", "Stale entries of the equivalent list:", ""] + [f"- {s}" for s in stale]
    return "\n".join(lines) + "\n"


def write_section(path: Path, text: str) -> None:
    """Replace (or append) ``SECTION`` in ``path``."""
    doc = path.read_text()
    start = doc.find(SECTION)
    if start < 0:
        doc = doc.rstrip("\n") + "\n\n" + text
    else:
        end = doc.find("\n## ", start + len(SECTION))
        tail = doc[end + 1 :] if end >= 0 else ""
        doc = doc[:start] + text + ("\n" + tail if tail else "")
    path.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="refresh the section in BENCHMARKS.md")
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # mutmut's diff helpers read mutants/ relative to the working directory
    results = load_results(args.mutants)
    if not results:
        sys.stderr.write("no mutmut results under mutants/: run `make mutation` first\n")
        return 1
    unchecked = sum(st == "not checked" for r in results.values() for st in r.values())
    if unchecked:
        sys.stderr.write(f"{unchecked} mutants not checked yet: the run did not finish\n")
    rows, survivors, stale = score_table(results, load_equivalents())
    text = render(rows, survivors, stale)
    sys.stdout.write(text)
    if args.write:
        write_section(ROOT / "BENCHMARKS.md", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
