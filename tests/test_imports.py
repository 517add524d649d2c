"""The import graph of bohb_das has no circles: every import counts, at module level, inside a
function, under ``TYPE_CHECKING`` and through ``importlib.import_module`` (a name built from a
constant prefix counts as an import of every module under that prefix)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bohb_das"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    def known(name: str) -> str | None:  # the module a dotted name lives in (``pkg.mod.attr`` -> ``pkg.mod``)
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {known(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                targets |= {known(f"{base}.{alias.name}") for alias in node.names}
            elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module") and node.args:
                name = node.args[0]
                if isinstance(name, ast.Constant):
                    targets.add(known(name.value))
                elif isinstance(name, ast.JoinedStr) and name.values and isinstance(name.values[0], ast.Constant):
                    targets |= {m for m in modules if m.startswith(name.values[0].value)}
        edges[module] = {t for t in targets if t is not None and t != module}
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as a path that starts and ends at the same module, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_reader_sees_the_kinds_of_import():
    edges = _graph(_modules())
    assert "bohb_das.registry" in edges["bohb_das.operations"]  # a module-level from-import
    assert "bohb_das.search" in edges["bohb_das.updates.first_order"]  # under TYPE_CHECKING
    assert "bohb_das.parallel" in edges["bohb_das.tables"]  # inside a function
    assert "bohb_das.cli.trial" in edges["bohb_das.cli"]  # import_module of an f-string
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_bohb_das_has_no_import_cycle():
    assert _cycle(_graph(_modules())) is None
