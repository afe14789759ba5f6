"""Griffe extension: the reST markup of pyrodyn's docstrings, read as Markdown.

pyrodyn's docstrings are Google style with a few reST habits that help in a terminal and in
``help()``: roles (``:class:`Name```), double-backtick literals, ``::`` literal blocks and simple
``=====`` tables. mkdocstrings renders docstrings as Markdown, where those would show as raw text,
so this extension rewrites them when griffe loads the package (the source files stay as they are):

- a role becomes inline code linked to the object's API entry when the docs render it, and plain
  inline code otherwise (an *optional* autoref, so a private or unrendered target never warns);
- a double-backtick literal becomes a single-backtick one;
- a paragraph ending in ``::`` ends in ``:`` and its indented block becomes a fenced code block;
- a simple reST table becomes a Markdown table.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|exc|obj):`([^`]+)`")
_LITERAL = re.compile(r"``(?!`)(.+?)(?<!`)``", re.DOTALL)
_TABLE_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")


class ReSTMarkup(griffe.Extension):
    """Rewrite reST roles, literals, literal blocks and simple tables of every docstring."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrites the docstring of every object once the package is loaded."""
        if obj.docstring is None:
            return
        obj.docstring.value = convert(obj.docstring.value, obj)


def convert(text: str, obj: griffe.Object | None = None) -> str:
    """The Markdown of one docstring (``obj`` resolves role targets that are not dotted paths)."""
    lines = _tables(_literal_blocks(text.splitlines()))
    # prose and fenced code alternate; only prose is rewritten (a literal may span lines)
    chunks: list[list[str]] = [[]]
    for line in lines:
        fence = line.lstrip().startswith("```")
        if fence and len(chunks) % 2 == 1:  # a fence opens: the code chunk starts here
            chunks.append([])
        chunks[-1].append(line)
        if fence and len(chunks) % 2 == 0 and len(chunks[-1]) > 1:  # the fence closes
            chunks.append([])
    out = []
    for i, chunk in enumerate(chunks):
        if not chunk:
            continue
        part = "\n".join(chunk)
        if i % 2 == 0:
            part = _LITERAL.sub(r"`\1`", part)
            part = _ROLE.sub(lambda m: _role(m.group(1), obj), part)
        out.append(part)
    return "\n".join(out)


def _role(target: str, obj: griffe.Object | None) -> str:
    """An optional cross-reference to ``target`` (``~`` shows only its last part)."""
    short = target.startswith("~")
    name = target.lstrip("~.").removesuffix("()")
    shown = name.rsplit(".", 1)[-1] if short else name
    path = name
    if obj is not None and not name.startswith("pyrodyn."):
        head, _, rest = name.partition(".")
        try:
            path = obj.resolve(head) + (f".{rest}" if rest else "")
        except (griffe.NameResolutionError, KeyError, AttributeError, ValueError):
            path = name
    return (
        f'<autoref identifier="{html.escape(path)}" optional>'
        f"<code>{html.escape(shown)}</code></autoref>"
    )


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _literal_blocks(lines: list[str]) -> list[str]:
    """``text::`` + indented block -> ``text:`` + fenced block (at the paragraph's indent)."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.rstrip().endswith("::"):
            out.append(line)
            i += 1
            continue
        stripped = line.rstrip()[:-2].rstrip()
        if stripped.strip():
            out.append(stripped + ":")
        base = _indent(line)
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        block_end = j
        while block_end < len(lines) and (
            not lines[block_end].strip() or _indent(lines[block_end]) > base
        ):
            block_end += 1
        while block_end > j and not lines[block_end - 1].strip():
            block_end -= 1
        if block_end == j:  # no indented block: the paragraph just ended in a colon
            i += 1
            continue
        block = lines[j:block_end]
        depth = min(_indent(b) for b in block if b.strip())
        pad = " " * base
        out += ["", f"{pad}```python"]
        out += [pad + b[depth:] if b.strip() else "" for b in block]
        out.append(f"{pad}```")
        i = block_end
    return out


def _tables(lines: list[str]) -> list[str]:
    """Simple reST tables (``===`` border, header, ``===``, rows, ``===``) -> Markdown tables."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not _TABLE_BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        border = lines[i]
        spans = [m.span() for m in re.finditer(r"=+", border)]
        rows: list[list[str]] = []
        borders, j = 1, i + 1
        while j < len(lines) and borders < 3:
            if _TABLE_BORDER.match(lines[j]):
                borders += 1
            elif lines[j].strip():
                cells = [lines[j][a:b].strip() for a, b in spans[:-1]]
                cells.append(lines[j][spans[-1][0] :].strip())
                rows.append(cells)
            j += 1
        pad = " " * _indent(border)
        out.append(pad + "| " + " | ".join(rows[0]) + " |")
        out.append(pad + "|" + "---|" * len(spans))
        out += [pad + "| " + " | ".join(c.replace("|", r"\|") for c in r) + " |" for r in rows[1:]]
        i = j
    return out
