"""The import graph of src/warta has no circles, and warta modules are imported at the top.

The graph is read from the source with `ast`, not by importing it: every `import` and
`from ... import` counts, whether at module level, inside a function or under
`if TYPE_CHECKING:`, because a circle hidden in a function or a type-checking block is still
two modules that cannot be understood, tested or moved one without the other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "warta"

# Function-level imports of warta modules that stay, each a lazy load of something heavy that
# most users of the importing module never need. Keyed by (importing module, imported module).
_CLI_LOADS = (
    # `warta submit`, `warta review …` and `--help` are HTTP clients and start in 0.1 s; the
    # server, the store (SQLAlchemy), the demo data and the stages load in 0.6–1.5 s more, and
    # only the commands that run them pay for that
    "warta.delivery.catcher",
    "warta.demo",
    "warta.errors",
    "warta.intake.keys",
    "warta.intake.people",
    "warta.intake.sanitize",
    "warta.routing.importer",
    "warta.runtime",
    "warta.store",
    "warta.web.app",
    "warta.web.gateway",
    "warta.web.server",
)
LAZY_ALLOWED: dict[tuple[str, str], str] = {
    **{("warta.cli", module): "client commands start without the server's stack" for module in _CLI_LOADS},
    ("warta.editions.translations", "warta.languages.engines"): (
        "the engine plug-ins (CTranslate2 models, Apertium, LibreTranslate) are found and imported "
        "when the first translation is asked for, never by processes that only read editions"
    ),
    ("warta.formats.email", "warta.formats.dkim"): (
        "cryptography's RSA, about 0.9 s to import, only where a DKIM key is configured"
    ),
    ("warta.runtime", "warta.bus.nats"): "nats-py, only in scaled mode (WARTA_BUS_URL)",
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    """Every module of the package; migrations are loaded by Alembic, not imported."""
    found: dict[str, Path] = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        if "migrations" in path.relative_to(SRC).parts:
            continue
        found[module_name(path)] = path
    return found


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


class _Collector(ast.NodeVisitor):
    def __init__(self, importer: str, is_package: bool, modules: set[str]) -> None:
        self.importer = importer
        self.is_package = is_package
        self.modules = modules
        self.depth = 0
        self.found: list[Import] = []

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function

    def _add(self, name: str, line: int) -> None:
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            # `import warta.a.b` names a module that may not exist as a file (an attribute
            # of a package); the nearest existing module is what gets executed.
            while name not in self.modules and "." in name:
                name = name.rsplit(".", 1)[0]
            if name != self.importer:
                self.found.append(Import(self.importer, name, line, self.depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = _resolve_relative(self.importer, self.is_package, node.level, node.module)
        else:
            base = node.module or ""
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            # `from warta.x import y` imports the module warta.x.y when there is one.
            self._add(candidate if candidate in self.modules else base, node.lineno)


def imports() -> Iterator[Import]:
    modules = source_modules()
    names = set(modules)
    for name, path in modules.items():
        collector = _Collector(name, path.name == "__init__.py", names)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        yield from collector.found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in source_modules()}
    for found in imports():
        edges[found.importer].add(found.imported)
    return edges


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; the components of more than one module, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return sorted(components)


def test_the_graph_sees_the_package() -> None:
    edges = graph()
    # A reader that found nothing would pass the other tests vacuously.
    assert len(edges) > 100
    assert "warta.delivery.ledger" in edges["warta.delivery.engine"]
    assert "warta.model" in edges["warta.editions.service"]


def test_the_cycle_finder_finds_a_circle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(edges) == [["a", "b", "c"]]


def test_no_import_circles() -> None:
    circles = strongly_connected(graph())
    assert circles == [], "modules importing each other: " + "; ".join(
        " ↔ ".join(component) for component in circles
    )


def test_no_function_level_imports_of_warta() -> None:
    hidden = sorted(
        f"{found.importer}:{found.line} imports {found.imported}"
        for found in imports()
        if found.in_function and (found.importer, found.imported) not in LAZY_ALLOWED
    )
    assert hidden == []


def test_every_allowed_lazy_import_is_still_there() -> None:
    lazy = {(found.importer, found.imported) for found in imports() if found.in_function}
    assert set(LAZY_ALLOWED) <= lazy
