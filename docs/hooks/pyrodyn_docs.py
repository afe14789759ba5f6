"""MkDocs hooks of pyrodyn's docs: one source for README text, CLI output and tutorials.

- ``<!-- readme from="TEXT" to="TEXT" -->`` in a page is replaced by the README lines from the
  first line starting with ``from`` (a heading itself is left out) up to the first later line
  starting with ``to``, or without ``to`` up to the next heading of the same or a higher level.
  Links into ``docs/`` are rewritten relative to the page. A marker that matches nothing fails the
  build, so a reworded README cannot silently empty a page.
- ``<!-- pyrodyn ARGS -->`` is replaced by the output of ``pyrodyn ARGS`` (run in-process, 100
  columns wide), e.g. ``<!-- pyrodyn fit --help -->`` or ``<!-- pyrodyn configs -->``.
- ``tutorials/*.ipynb`` of the repository are added to the site as ``tutorials/NAME.ipynb`` (no
  copy in ``docs/``); mkdocs-jupyter renders them with their stored outputs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import posixpath
import re
import shlex
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

_MARKER = re.compile(r"<!--\s*(readme|pyrodyn)\b(.*?)-->")
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_HEADING = re.compile(r"^(#{1,6})\s")
_DOCS_LINK = re.compile(r"\]\(docs/([^)\s]+)\)")


def _root(config: Any) -> Path:
    return Path(config.config_file_path).resolve().parent


@event_priority(100)  # before mkdocs-jupyter wraps the notebooks it finds in the file list
def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    """Adds the repository's tutorials to the site."""
    root = _root(config)
    for nb in sorted((root / "tutorials").glob("*.ipynb")):
        files.append(
            File(
                f"tutorials/{nb.name}",
                src_dir=str(root),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    """Expands the ``readme`` and ``pyrodyn`` markers of a page."""

    def expand(m: re.Match[str]) -> str:
        kind, args = m.group(1), m.group(2).strip()
        if kind == "readme":
            text = readme_section(_root(config) / "README.md", **dict(_ATTR.findall(args)))
            return _relink(text, page.file.src_uri)
        return "```text\n" + run_cli(shlex.split(args)).rstrip() + "\n```"

    return _MARKER.sub(expand, markdown)


def readme_section(path: Path, **attrs: str) -> str:
    """The README lines a ``readme`` marker names (see the module docstring)."""
    start_text, end_text = attrs.get("from"), attrs.get("to")
    if not start_text:
        raise PluginError(f"readme marker without from=...: {attrs}")
    lines = path.read_text(encoding="utf-8").splitlines()
    in_code, level, start, end = False, 7, None, len(lines)
    for i, line in enumerate(lines):
        heading = None if in_code else _HEADING.match(line)
        if line.lstrip().startswith("```"):
            in_code = not in_code
        if start is None:
            if line.strip().startswith(start_text):
                start, level = (i + 1, len(heading.group(1))) if heading else (i, 7)
            continue
        if end_text is not None and line.strip().startswith(end_text):
            end = i
            break
        if end_text is None and heading and len(heading.group(1)) <= level:
            end = i
            break
    else:
        if start is None or end_text is not None:
            missing = start_text if start is None else end_text
            raise PluginError(f"README.md has no line starting with {missing!r}")
    return "\n".join(lines[start:end]).strip("\n")


def _relink(text: str, src_uri: str) -> str:
    """README links into ``docs/`` (e.g. gallery figures), made relative to the page."""
    here = posixpath.dirname(src_uri) or "."
    return _DOCS_LINK.sub(lambda m: f"]({posixpath.relpath(m.group(1), here)})", text)


def run_cli(argv: list[str]) -> str:
    """The standard output of ``pyrodyn ARGV`` (``--help`` included), run in this process."""
    from pyrodyn.app.cli import main

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps help at the terminal width
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            try:
                status = main(argv)
            except SystemExit as stop:  # --help and --version exit after printing
                status = stop.code or 0
    finally:
        root.handlers[:] = handlers  # main() configures logging for a terminal
        root.setLevel(level)
        if columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = columns
    if status:
        raise PluginError(f"pyrodyn {shlex.join(argv)} exited with status {status}")
    return out.getvalue()
