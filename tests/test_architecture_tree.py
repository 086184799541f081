"""docs/ARCHITECTURE.md's layout tree names every package and module under src/gfrpc, and
nothing that is not there, so the map a new maintainer reads first cannot drift from the code.

The tree is the first fenced block that starts with ``src/gfrpc/``. An entry line is indented
two spaces per level and starts with ``name.py`` or ``name/``; anything after the name (and
any line indented to the description column) is prose. ``__init__.py`` and ``__main__.py``
are not listed.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "gfrpc"
DOC = ROOT / "docs" / "ARCHITECTURE.md"
ENTRY = re.compile(r"^( *)([A-Za-z_][\w]*(?:\.py|/))(?:\s|$)")
DESCRIPTION_COLUMN = 12  # lines indented this far are descriptions, never entries


def tree_block(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("src/gfrpc/") if "src/gfrpc/" in lines else -1
    assert start > 0 and lines[start - 1].startswith("```"), "no ``` block starting src/gfrpc/"
    end = lines.index("```", start)
    return lines[start + 1 : end]


def documented_paths(block: list[str]) -> set[str]:
    """Relative paths (``wire/xdr.py``, ``transport/pollers/``) the tree names."""
    stack: list[str] = []
    found: set[str] = set()
    for line in block:
        m = ENTRY.match(line)
        if not m or len(m.group(1)) >= DESCRIPTION_COLUMN:
            continue
        indent, name = len(m.group(1)), m.group(2)
        assert indent % 2 == 0 and indent >= 2, f"odd indentation in the tree: {line!r}"
        depth = indent // 2 - 1
        assert depth <= len(stack), f"entry deeper than its package: {line!r}"
        del stack[depth:]
        path = "".join(stack) + name
        found.add(path)
        if name.endswith("/"):
            stack.append(name)
    return found


def actual_paths() -> set[str]:
    found: set[str] = set()
    for p in PACKAGE.rglob("*.py"):
        if "__pycache__" in p.parts:
            continue
        rel = p.relative_to(PACKAGE)
        for i in range(1, len(rel.parts)):
            found.add("/".join(rel.parts[:i]) + "/")
        if p.name not in ("__init__.py", "__main__.py"):
            found.add(rel.as_posix())
    return found


def test_architecture_tree_names_every_module_and_package() -> None:
    """Rule: every module and package under src/gfrpc appears in ARCHITECTURE.md's tree, and
    the tree names nothing that does not exist."""
    documented = documented_paths(tree_block(DOC.read_text()))
    actual = actual_paths()
    missing = sorted(actual - documented)
    stale = sorted(documented - actual)
    assert not missing and not stale, (
        f"docs/ARCHITECTURE.md's tree is out of date: missing {missing}, stale {stale}"
    )


def test_tree_parser_follows_indentation() -> None:
    """Rule: the parser nests entries by indentation and skips description lines, so the check
    above can fail for the right reasons."""
    block = [
        "  wire/            codecs",
        "    xdr.py         types; see record.py for",
        "                   more.py in prose is not an entry",
        "  transport/",
        "    pollers/",
        "      pool.py",
        "    tls.py",
    ]
    assert documented_paths(block) == {
        "wire/",
        "wire/xdr.py",
        "transport/",
        "transport/pollers/",
        "transport/pollers/pool.py",
        "transport/tls.py",
    }
