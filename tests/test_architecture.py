"""The package's layers (ARCHITECTURE.md): every module belongs to one, and imports only go downward.

A module may import modules of its own layer or of the layers below it, never above: the science
knows nothing of files or configs, the schemas nothing of the steps, the steps nothing of the CLI.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ANALYSIS = ROOT / "analysis"

#: Bottom to top (ARCHITECTURE.md draws the same).
LAYERS: dict[str, set[str]] = {
    "foundation": {"__init__", "errors", "words", "prose", "published", "schemas"},
    "science": {"science"},
    "infrastructure": {"pipeline"},
    "reader": {"artifacts", "runfiles", "runviews"},
    "steps": {"steps"},
    "presentation": {"charts"},
    "interface": {"cli", "schemacli", "__main__"},
}
ORDER = list(LAYERS)


def _module(path: Path) -> str:
    """The unit of :data:`LAYERS` that ``path`` belongs to: its folder (schemas/, science/, ...) or itself."""
    return path.relative_to(ANALYSIS).with_suffix("").parts[0]


def _layer(module: str) -> str:
    found = [name for name, mods in LAYERS.items() if module in mods]
    assert len(found) == 1, f"analysis/{module}: in {len(found)} layers; add it to one (ARCHITECTURE.md, LAYERS)"
    return found[0]


def _imports(path: Path) -> set[str]:
    """The analysis units ``path`` imports, at the granularity of :data:`LAYERS` (a folder as one)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "analysis":
                names = [a.name for a in node.names]
            elif node.module.startswith("analysis."):
                names = [node.module.split(".")[1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("analysis.")]
        out |= {n for n in names if (ANALYSIS / f"{n}.py").is_file() or (ANALYSIS / n).is_dir()}
    return out


SOURCES = sorted(ANALYSIS.rglob("*.py"))


def test_every_module_has_one_layer():
    for path in SOURCES:
        _layer(_module(path))
    listed = set().union(*LAYERS.values())
    present = {_module(p) for p in SOURCES}
    assert listed <= present, f"LAYERS lists modules that do not exist: {sorted(listed - present)}"


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ANALYSIS)) for p in SOURCES])
def test_imports_only_go_downward(path):
    here = ORDER.index(_layer(_module(path)))
    for dep in _imports(path):
        there = ORDER.index(_layer(dep))
        assert there <= here, (f"analysis/{path.relative_to(ANALYSIS)} ({ORDER[here]}) imports {dep} "
                               f"({ORDER[there]}), a layer above it")


def test_the_schemas_import_nothing_but_their_base_and_the_words():
    """Writer and reader both import the schemas: they must not import either (no cycle, no file I/O)."""
    for path in sorted((ANALYSIS / "schemas").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        deps = set(re.findall(r"^from analysis\.(\w+)", text, re.M)) | set(re.findall(r"^import analysis\.(\w+)", text, re.M))
        assert deps <= {"schemas", "words"}, (path.name, deps)


def test_the_architecture_file_lists_the_layers():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for name, mods in LAYERS.items():
        assert f"**{name}**" in text, name
        for m in mods - {"__init__", "__main__"}:
            assert f"`{m}" in text, (name, m)
    for path in SOURCES:  # every module of a layer's folder is named (the diagram says what it does)
        if path.parent.name in ("science", "pipeline", "steps") and path.stem != "__init__":
            assert path.stem in text, path.relative_to(ROOT)


#: The size limits of issue 24 (small units): a module, a function. A module or function may exceed
#: its limit only with a comment that says why: ``# long: <why>`` among its first lines (a module)
#: or on its ``def`` line or the line above it (a function).
MODULE_LINES, FUNCTION_LINES = 500, 60
UNITS = sorted(p for d in (ANALYSIS, ROOT / "report") for p in d.rglob("*.py") if "_build" not in p.parts)


def _long_ok(lines: list[str], at: int) -> bool:
    """A ``# long:`` comment on line ``at`` (0-based) or the line above it."""
    return any("# long:" in lines[i] for i in (at - 1, at) if 0 <= i < len(lines))


@pytest.mark.parametrize("path", UNITS, ids=lambda p: str(p.relative_to(ROOT)))
def test_units_are_small(path):
    """No module above 500 lines and no function above 60, unless a ``# long:`` comment says why."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    rel = path.relative_to(ROOT)
    assert len(lines) <= MODULE_LINES or any("# long:" in ln for ln in lines[:40]), \
        f"{rel}: {len(lines)} lines (limit {MODULE_LINES}): split it along a seam, or say why not (# long: ...)"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            assert n <= FUNCTION_LINES or _long_ok(lines, first), \
                f"{rel}:{node.lineno}: {node.name} has {n} lines (limit {FUNCTION_LINES}): name its steps"
