"""infra/ is the local stand-in for AWS: generic, and built without import circles.

Every import counts, at module level or inside a function, under TYPE_CHECKING or not:
a circle is a circle whether or not it bites at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
PROJECT_PACKAGES = ("client", "handlers", "tests", "bench")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> Iterator[str]:
    """Absolute names of every module `path` imports (relative imports resolved).

    `from package import module` names the module (as import linters read it); the
    package itself counts only for the names that are not modules."""
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if is_module(submodule) else base


def is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def infra_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in INFRA.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in imported(path) if m in modules and m != name}
    return graph


def test_infra_imports_nothing_of_the_chat_or_the_tests() -> None:
    offenders = {
        f"{module_name(path)} imports {name}"
        for path in INFRA.rglob("*.py")
        for name in imported(path)
        if name.split(".")[0] in PROJECT_PACKAGES
    }
    assert offenders == set()


def test_infra_has_no_import_circle() -> None:
    graph = infra_graph()
    assert len(graph) > 20  # the walk found the package
    # A package's __init__ importing its own submodules is how packages export names;
    # those edges point down and cannot close a circle unless a submodule imports the
    # package back, which the graph still shows.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_walk_sees_function_level_and_type_checking_imports() -> None:
    # infra.stack imports the gateway inside local_stack(), and infra.dynamodb.server
    # imports its siblings inside functions: both must be edges of the graph.
    graph = infra_graph()
    assert "infra.apigateway.server" in graph["infra.stack"]
    assert "infra.dynamodb.moto_speedups" in graph["infra.dynamodb.server"]
    assert "infra.service" in graph["infra.dynamodb.provision"]  # under TYPE_CHECKING
