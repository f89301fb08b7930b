"""The package's layers, read from the source: every import points down, and no modules import
each other in a circle.

Every import counts, also one inside a function: a lazy import is still a dependency. An import
under ``if TYPE_CHECKING:`` counts for the direction (a type is knowledge of the layer) but not for
circles (it never runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import hitl_notebook

PACKAGE = Path(hitl_notebook.__file__).parent

_BELOW_AGENT = {"_core", "_db", "_store", "_runtime", "_agent"}
MAY_IMPORT: dict[str, set[str]] = {
    "_core": set(),
    "_db": {"_core"},
    "_store": {"_core", "_db"},
    "_runtime": {"_core", "_db", "_store"},
    "_agent": {"_core", "_db", "_store", "_runtime"},
    "_frames": {"_core", "_db", "_store"},
    "_notebook": _BELOW_AGENT,
    "_channels": {"_core", "_db"},
    # The web inbox page (_service.http_inbox) is the notebook's inbox widget served over HTTP:
    # it speaks the widget's messages, built by the widget's own code, so the two faces cannot
    # drift apart. _notebook never imports _service, so this makes no circle.
    "_service": _BELOW_AGENT | {"_frames", "_notebook", "_channels"},
    "testing": _BELOW_AGENT,
    "http": {"_core", "_service"},
    "channels": {"_core", "_runtime", "_channels"},
    "langgraph": _BELOW_AGENT,
    "pydantic_ai": _BELOW_AGENT,
    "openai_agents": _BELOW_AGENT,
    "links": {"_core"},
    # Plots over the frames; from the runtime only its defaults (park_after), which import nothing.
    "plot": {"_core", "_frames", "_runtime"},
    "__init__": _BELOW_AGENT | {"_frames", "_notebook"},
}
"""Each layer (a package, or a public module at the top) and the layers it may import."""


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _layer(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


def _target(module_path: str, name: str | None) -> str:
    """The module an import names: ``from hitl_notebook._db import run_records`` is ``_db.run_records``."""
    inner = module_path.removeprefix("hitl_notebook").lstrip(".")
    for named in (f"{inner}.{name}".strip("."), f"{inner}.{name}.__init__".strip(".")):
        if name and named in MODULES:  # a module, or a package (``from hitl_notebook import _db``)
            return named
    if inner in MODULES:
        return inner
    return f"{inner}.__init__" if inner else "__init__"


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for child in node.body:
                inside |= {id(n) for n in ast.walk(child)}
    return inside


def _imports(module: str) -> list[tuple[str, bool]]:
    """(imported module, whether only for type checking) for every import of ours in ``module``."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    typing_only = _type_checking_nodes(tree)
    found = []
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.ImportFrom) and node.level), f"{module}: relative import"
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hitl_notebook"):
            assert node.module is not None
            for alias in node.names:
                found.append((_target(node.module, alias.name), id(node) in typing_only))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("hitl_notebook"):
                    found.append((_target(alias.name, None), id(node) in typing_only))
    return found


def test_every_module_belongs_to_a_declared_layer() -> None:
    assert {_layer(m) for m in MODULES} == set(MAY_IMPORT)


def test_imports_only_point_down() -> None:
    upward = []
    for module in MODULES:
        own = _layer(module)
        for target, _ in _imports(module):
            other = _layer(target)
            if other != own and other not in MAY_IMPORT[own]:
                upward.append(f"{module} imports {target}")
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(upward))


def test_no_modules_import_each_other_in_a_circle() -> None:
    graph = {
        m: {t for t, typing_only in _imports(m) if not typing_only and t != m} for m in MODULES
    }
    circles = _circles(graph)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_layer_check_sees_an_upward_import_and_a_circle() -> None:
    """The checks above are not vacuous: they find what they look for in a made-up graph."""
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _target("hitl_notebook._db", "run_records") == "_db.run_records"
    assert _target("hitl_notebook", "Agent") == "__init__"
    assert any(t == "_store.store" for t, _ in _imports("_runtime.launch"))


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
