"""The package's shape: imports go one way, between layers that the folders show.

The layering lives here, in ``LAYERS``: a module may import its own layer and
the layers above it in the list, never one below.  Imports inside functions
count; imports under ``if TYPE_CHECKING:`` do not, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hotfunc

PACKAGE = Path(hotfunc.__file__).parent

#: From the bottom up.  Where a lower layer must tell an upper one something,
#: the upper one registers a callback (``_state.hooks``) when it is imported.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core: records, text, code objects", ("hotfunc.exceptions", "hotfunc.core")),
    ("the one module of global state", ("hotfunc._state",)),
    ("adapters: framework registries a definition run again", ("hotfunc.adapters",)),
    ("engine: a save, from its bytes to its report", ("hotfunc.engine",)),
    ("watch: the watcher thread and its back-ends", ("hotfunc.watch",)),
    ("processes: children, the import hook, cluster workers", ("hotfunc.processes",)),
    ("testloop: pytest --hot", ("hotfunc.testloop",)),
    ("browser: pages that follow the saves", ("hotfunc.browser",)),
    (
        "the public API and its entry points",
        (
            "hotfunc._logging",
            "hotfunc._api",
            "hotfunc._host",
            "hotfunc._ipython",
            "hotfunc.testing",
            "hotfunc.dask",
            "hotfunc.ray",
            "hotfunc.pytest_plugin",
            "hotfunc.cli",
            "hotfunc.__main__",
            "hotfunc",
        ),
    ),
)

#: Longest at most, in lines: a module longer than this holds two concerns.
MAX_LINES = 500


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name; a package by its own name."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``name`` imports where it runs."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit_one(other)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source in modules:
                # ``from . import _a`` imports the module _a, not the package.
                named = [f"{source}.{a.name}" for a in node.names]
                submodules = [m for m in named if m in modules]
                found.update(submodules)
                if len(submodules) < len(named):
                    found.add(source)
        visit(node)

    visit(ast.parse(path.read_text(), str(path)))
    found.discard(name)
    return found


def layer_of(name: str) -> int:
    """The index in ``LAYERS`` of the layer that holds ``name``."""
    best = (-1, -1)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or (prefix != "hotfunc" and name.startswith(prefix + ".")):
                best = max(best, (len(prefix), index))
    if best[1] < 0:
        msg = f"module {name!r} is in no layer; add it to LAYERS in {__file__}"
        raise AssertionError(msg)
    return best[1]


def graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return groups


def test_no_import_cycle() -> None:
    """No module imports, however indirectly, a module that imports it."""
    assert cycles(graph()) == []


def test_imports_go_down_the_layers() -> None:
    """A module imports only its own layer and the layers beneath it."""
    wrong = [
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {other} ({LAYERS[layer_of(other)][0]})"
        for name, imported in sorted(graph().items())
        for other in sorted(imported)
        if layer_of(other) > layer_of(name)
    ]
    assert wrong == []


def test_every_module_has_a_layer() -> None:
    """A new module must be placed in a layer before the layering can hold."""
    for name in module_names():
        layer_of(name)


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The checks above fail on the faults they look for."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("hotfunc.engine._reload") > layer_of("hotfunc.core._entry")
    source = (
        "from .. import _api\nTYPE_CHECKING = False\nif TYPE_CHECKING:\n    from .. import cli\n"
    )
    path = tmp_path / "_probe.py"
    path.write_text(source)
    found = imports_of("hotfunc.engine._probe", path, set(module_names()))
    assert found == {"hotfunc._api"}


def test_no_module_is_over_the_line_limit() -> None:
    """Every module fits in MAX_LINES lines: one concern each."""
    long = {
        name: count
        for name, path in module_names().items()
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
