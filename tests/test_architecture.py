"""The package's shape (docs/ARCHITECTURE.md): imports point one way, modules stay small.

The import graph is read from the source, every `import` at any depth (a function-local import is
still an arrow), except those under `if TYPE_CHECKING:`, which never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mlmdsl"
MAX_LINES = 1000


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, here: str, is_package: bool, modules: set[str]) -> set[str]:
    found: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mlmdsl") and (target := resolve(alias.name)):
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here if is_package else here.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            if base.startswith("mlmdsl"):
                for alias in node.names:
                    # `from pkg import submodule` is an arrow to the submodule, not to pkg.
                    target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else resolve(base)
                    if target:
                        found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(here)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    names = set(modules)
    return {
        name: _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", names)
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_sees_a_planted_cycle() -> None:
    graph = import_graph()
    graph["mlmdsl.compiler.ast"] = graph["mlmdsl.compiler.ast"] | {"mlmdsl.posterior.fit"}
    assert any("mlmdsl.compiler.ast" in c and "mlmdsl.posterior.fit" in c for c in cycles(graph))


def test_local_imports_count_and_type_checking_ones_do_not() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mlmdsl.posterior.fit import Fit\n"
        "def f():\n    from mlmdsl.compiler import ast\n"
    )
    found = _imports(ast.parse(source), "mlmdsl.x", False, set(_modules()))
    assert found == {"mlmdsl.compiler.ast"}


@pytest.mark.parametrize("stage", ["compiler", "data", "backends", "posterior", "calibration", "editor"])
def test_lower_stages_never_import_higher_ones(stage: str) -> None:
    # The pipeline's order: compiler -> data -> backends -> posterior -> calibration -> api -> editor -> cli.
    order = ["compiler", "data", "backends", "posterior", "calibration", "api", "editor", "cli"]
    higher = order[order.index(stage) + 1 :]
    for module, targets in import_graph().items():
        if module.startswith(f"mlmdsl.{stage}"):
            bad = [t for t in targets if any(t == f"mlmdsl.{h}" or t.startswith(f"mlmdsl.{h}.") for h in higher)]
            assert not bad, f"{module} imports {bad}"


def test_no_module_is_over_the_limit() -> None:
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, long
