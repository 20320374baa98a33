"""The code's shape holds: proto imports no service, no service imports another, no module imports one that
imports it back (directly or round a loop), and no source file grows past a few screens."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 420


def modules() -> dict[str, Path]:
    found = {}
    for path in [*ROOT.glob("proto/**/*.py"), *ROOT.glob("services/**/*.py")]:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports() -> dict[str, set[str]]:
    """Each module of ours and the modules of ours it imports."""
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    graph[name].add(target if target in known else node.module)
            elif isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names)
        graph[name] = {target for target in graph[name] if target in known and target != name}
    return graph


def test_proto_imports_no_service_and_no_service_imports_another() -> None:
    crossing = []
    for name, targets in imports().items():
        for target in targets:
            if name.startswith("proto") and target.startswith("services"):
                crossing.append((name, target))
            if (
                name.startswith("services.")
                and target.startswith("services.")
                and name.split(".")[1] != target.split(".")[1]
            ):
                crossing.append((name, target))
    assert crossing == []


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = imports()
    state: dict[str, int] = {}
    loops: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                loops.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert loops == []


def test_every_source_file_is_a_few_screens_at_most() -> None:
    long = {
        str(p.relative_to(ROOT)): n for p in modules().values() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
