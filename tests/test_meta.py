"""Meta-test: every test function checks something.

Parses every ``tests/**/test_*.py`` with :mod:`ast` (nothing is imported or run) and lists the test
functions that contain none of

* an ``assert`` statement;
* a call to ``pytest.raises`` / ``pytest.warns`` / ``pytest.approx`` / ``pytest.fail``;
* a call to a checker: a function or method whose name starts with ``assert`` (``assert_close``,
  ``assert_allclose``, ``assertEqual``), ``check_``, ``_check`` or ``run_`` (the conformance kit of
  :mod:`pyrodyn.testing`), or ``test_`` (a kit's test method run by hand);
* a call to a helper defined in the same file that does one of the above (transitively).

Test classes that only inherit their tests (conformance kits) define no test functions here and
are not affected.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PYTEST_CHECKS = frozenset({"raises", "warns", "approx", "fail", "deprecated_call"})
CHECKER_PREFIXES = ("assert", "check_", "_check", "run_", "test_")


def _call_name(call: ast.Call) -> tuple[str | None, str | None]:
    """``(owner, name)`` of a call: ``pytest.raises`` -> ``("pytest", "raises")``."""
    func = call.func
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        return owner, func.attr
    return None, None


def _checks_directly(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assert):
            return True
        if isinstance(sub, ast.Call):
            owner, name = _call_name(sub)
            if name is None:
                continue
            if owner == "pytest" and name in PYTEST_CHECKS:
                return True
            if name.startswith(CHECKER_PREFIXES):
                return True
    return False


def _called_names(node: ast.AST) -> set[str]:
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            name = _call_name(sub)[1]
            if name is not None:
                names.add(name)
    return names


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _tests(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Module-level ``test_*`` functions and ``test_*`` methods of ``Test*`` classes."""
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name.startswith("test"):
                out.append(node)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            out.extend(
                m
                for m in node.body
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                and m.name.startswith("test")
            )
    return out


def unchecked_tests(path: Path) -> list[str]:
    """Names ``file::function`` of the test functions of ``path`` that check nothing."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    funcs = _functions(tree)
    # helpers of this file that check, to a fixpoint (helpers calling helpers)
    checking = {f.name for f in funcs if _checks_directly(f)}
    calls = {f.name: _called_names(f) for f in funcs}
    changed = True
    while changed:
        changed = False
        for f in funcs:
            if f.name not in checking and calls[f.name] & checking:
                checking.add(f.name)
                changed = True
    rel = path.relative_to(TESTS.parent) if path.is_relative_to(TESTS.parent) else path.name
    return [
        f"{rel}::{t.name} (line {t.lineno})"
        for t in _tests(tree)
        if not (_checks_directly(t) or _called_names(t) & checking)
    ]


def test_every_test_function_checks_something():
    files = sorted(TESTS.rglob("test_*.py"))
    assert len(files) > 50  # the glob found the suite
    offenders = [name for path in files for name in unchecked_tests(path)]
    assert not offenders, "test functions without an assertion:\n" + "\n".join(offenders)


def escapes(path: Path, root: Path) -> list[str]:
    """``Path(...).parents[k]`` above ``root`` and ``importorskip`` of pyrodyn in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "parents"
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, int)
            and not path.parents[node.slice.value].is_relative_to(root)
        ):
            found.append(f"{path.name}:{node.lineno} reaches outside the repository")
        if isinstance(node, ast.Call) and _call_name(node) == ("pytest", "importorskip"):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and str(arg.value).startswith("pyrodyn"):
                found.append(f"{path.name}:{node.lineno} importorskip of {arg.value}")
    return sorted(found)


def test_no_test_reads_outside_the_repository_or_skips_pyrodyn_imports():
    """Anchors live in the repository, and a broken pyrodyn import fails instead of skipping."""
    found = [hit for path in sorted(TESTS.rglob("*.py")) for hit in escapes(path, TESTS.parent)]
    assert not found, "\n".join(found)


def test_the_rule_flags_a_test_without_an_assertion(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import pytest\n"
        "def _helper(x):\n    assert x\n"
        "def _indirect(x):\n    _helper(x)\n"
        "def test_bare():\n    f = 1 + 1\n"
        "def test_assert():\n    assert 1\n"
        "def test_raises():\n    with pytest.raises(ValueError):\n        int('a')\n"
        "def test_checker():\n    torch.testing.assert_close(a, b)\n"
        "def test_kit():\n    check_model_guide(m, b)\n"
        "def test_helper():\n    _indirect(1)\n"
        "class TestKit:\n    def test_method(self):\n        self.model()\n"
    )
    got = [name.split("::")[1].split(" ")[0] for name in unchecked_tests(sample)]
    assert got == ["test_bare", "test_method"]
    # tmp_path/sub/test_x.py: parents[1] is tmp_path (inside), parents[2] is above it
    (tmp_path / "sub").mkdir()
    deep = tmp_path / "sub" / "test_x.py"
    deep.write_text(
        "import pytest\nfrom pathlib import Path\n"
        "OK = Path(__file__).parents[1] / 'fixtures'\n"
        "BAD = Path(__file__).parents[2] / 'shared'\n"
        "mtf = pytest.importorskip('pyrodyn.models.mtf')\n"
        "pyts = pytest.importorskip('pyts')\n"
    )
    assert escapes(deep, tmp_path) == [
        "test_x.py:4 reaches outside the repository",
        "test_x.py:5 importorskip of pyrodyn.models.mtf",
    ]
