"""The documentation sources agree with the code, without MkDocs (`make docs` builds the site).

Checks what a strict build would only catch late or not at all: API directives name importable
modules and cover every public module, the navigation lists every page and every tutorial, the
README markers and command markers of the guide resolve, included files and figures exist, and
the code of the "Extending pyrodyn" page runs.
"""

import contextlib
import importlib
import importlib.util
import io
import math
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if not p.relative_to(DOCS).parts[0] == "hooks")
DIRECTIVE = re.compile(r"^:::\s+(\S+)", re.MULTILINE)
README_MARKER = re.compile(r"<!--\s*readme\b(.*?)-->")
CLI_MARKER = re.compile(r"<!--\s*pyrodyn\b(.*?)-->")
ATTR = re.compile(r'(\w+)="([^"]*)"')


def _nav_paths(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _nav_paths(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _nav_paths(value)


@pytest.fixture(scope="module")
def nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return list(_nav_paths(config["nav"]))


def _directives():
    return [(page, name) for page in PAGES for name in DIRECTIVE.findall(page.read_text())]


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_api_directive_names_an_importable_module():
    directives = _directives()
    assert len(directives) > 50
    for page, name in directives:
        module = importlib.import_module(name)  # raises for a misspelt or removed module
        assert module.__name__ == name, f"{page.name}: {name}"


def _public_modules(package_dir, dotted):
    """Dotted names of a package and every module below it whose path has no `_` part."""
    names = {dotted}
    for path in package_dir.rglob("*.py"):
        parts = path.relative_to(package_dir).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts):
            continue
        names.add(".".join((dotted, *parts)))
    return names


def test_api_pages_cover_every_public_module():
    packages = sorted(p.name for p in (ROOT / "pyrodyn").iterdir() if (p / "__init__.py").exists())
    assert "app" in packages and "data" in packages
    for package in packages:
        page = DOCS / "api" / f"{package}.md"
        assert page.exists(), f"no API page for pyrodyn.{package}"
        listed = set(DIRECTIVE.findall(page.read_text()))
        expected = _public_modules(ROOT / "pyrodyn" / package, f"pyrodyn.{package}")
        missing = sorted(expected - listed)
        assert not missing, f"{page.relative_to(ROOT)} lacks ::: {missing}"


def test_every_nav_page_exists(nav):
    for path in nav:
        # tutorials are added from the repository's tutorials/ by docs/hooks/pyrodyn_docs.py
        where = ROOT if path.startswith("tutorials/") else DOCS
        assert (where / path).is_file(), f"mkdocs.yml nav names a missing page: {path}"


def test_every_tutorial_and_page_is_in_the_nav(nav):
    tutorials = {f"tutorials/{p.name}" for p in (ROOT / "tutorials").glob("*.ipynb")}
    assert tutorials and tutorials <= set(nav), sorted(tutorials - set(nav))
    pages = {p.relative_to(DOCS).as_posix() for p in PAGES}
    pages -= {p for p in pages if p.startswith("overrides/")}
    assert pages <= set(nav), f"pages missing from the nav: {sorted(pages - set(nav))}"


def _starts(lines, text, start=0):
    return next((i for i in range(start, len(lines)) if lines[i].strip().startswith(text)), None)


def test_readme_markers_resolve():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    markers = [
        (p, dict(ATTR.findall(m))) for p in PAGES for m in README_MARKER.findall(p.read_text())
    ]
    assert len(markers) >= 8
    for page, attrs in markers:
        first = _starts(lines, attrs["from"])
        assert first is not None, f"{page.name}: README has no line starting {attrs['from']!r}"
        if "to" in attrs:
            last = _starts(lines, attrs["to"], first + 1)
            assert last is not None, f"{page.name}: no README line {attrs['to']!r} after from"
            assert any(line.strip() for line in lines[first + 1 : last]), page.name


def test_command_markers_run_and_print(monkeypatch):
    from pyrodyn.app.cli import main

    monkeypatch.setenv("COLUMNS", "100")
    markers = [shlex.split(m) for p in PAGES for m in CLI_MARKER.findall(p.read_text())]
    assert ["configs"] in markers and ["data"] in markers and ["fit", "--help"] in markers
    for argv in markers:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                status = main(argv)
            except SystemExit as stop:  # --help
                status = stop.code
        assert status == 0 and out.getvalue().strip(), argv


def test_included_files_and_figures_exist():
    for page in PAGES:
        text = page.read_text()
        for path in re.findall(r'^\s*--8<--\s+"([^"]+)"', text, re.MULTILINE):
            assert (ROOT / path).is_file(), f"{page.name} includes a missing {path}"
        for path in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):
            assert (page.parent / path).is_file(), f"{page.name} shows a missing {path}"


def test_gallery_page_shows_every_figure_the_script_writes():
    gallery = _load(ROOT / "scripts" / "docs_gallery.py", "docs_gallery")
    text = (DOCS / "gallery.md").read_text()
    for name in gallery.FIGURES:
        assert f"(gallery/{name})" in text, name
        assert (DOCS / "gallery" / name).stat().st_size < 200_000, name


def test_extending_page_examples_run():
    import torch

    text = (DOCS / "guide" / "extending.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 5
    torch.manual_seed(0)
    namespace = {"__name__": "docs_extending"}
    exec(compile("\n".join(blocks), "extending.md", "exec"), namespace)
    loss, terms = namespace["loss"], namespace["terms"]
    assert math.isfinite(loss.item()) and loss.requires_grad  # a training loss
    assert {"nll.lfp", "nll.spikes"} <= set(terms)
    # the custom likelihood scores a heavy-tailed outlier above a Gaussian of the same scale
    lik = namespace["StudentT"](1, df=3.0)
    d = lik.distribution({"loc": torch.zeros(1)})
    outlier = torch.tensor([8.0])
    assert d.log_prob(outlier).item() > torch.distributions.Normal(0.0, 1.0).log_prob(outlier)


def test_docstring_markup_becomes_markdown():
    pytest.importorskip("griffe")  # a docs tool: installed by `make docs`
    rst = _load(DOCS / "hooks" / "griffe_rst.py", "griffe_rst")
    text = (
        "Uses ``x`` and :class:`~pyrodyn.data.MultimodalBatch`.\n\n"
        'A spec::\n\n    {"type": "SVAE"}\n\n'
        "=====  ====\nname   kind\n=====  ====\n``a``  one\n=====  ====\n"
    )
    out = rst.convert(text).splitlines()
    assert out[0] == (
        'Uses `x` and <autoref identifier="pyrodyn.data.MultimodalBatch" optional>'
        "<code>MultimodalBatch</code></autoref>."
    )
    assert out[2:7] == ["A spec:", "", "```python", '{"type": "SVAE"}', "```"]
    assert out[8:] == ["| name | kind |", "|---|---|", "| `a` | one |"]
