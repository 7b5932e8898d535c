"""The web layer speaks HTTP only: reads and changes of the store go through the stage packages'
query and service functions, which the API, the pages and the CLI share.

The modules are parsed, not grepped, so a comment or a string that mentions `select(` is no
offence and an aliased import is still one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parent.parent / "src" / "warta" / "web"

# sqlalchemy names that build or run statements
STATEMENT_BUILDERS = {"select", "text", "update", "delete", "insert"}
# the states' names (StrEnums): a vocabulary every layer shares, with no table or query in it
STATES = "warta.model.states"
# the names a unit of work goes by in the web layer
SESSION_NAMES = {"s", "session", "db"}
# what a session is asked for when someone queries it directly
SESSION_QUERIES = {"get", "scalar", "scalars", "query", "execute"}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Offences(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []

    def visit_If(self, node: ast.If) -> None:
        if _type_checking_only(node):  # annotations only: nothing runs against the store
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name != STATES and (
                alias.name == "warta.model" or alias.name.startswith("warta.model.")
            ):
                self.found.append((node.lineno, f"imports {alias.name}"))
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if module == "sqlalchemy" or module.startswith("sqlalchemy."):
            for alias in node.names:
                if alias.name in STATEMENT_BUILDERS:
                    self.found.append((node.lineno, f"imports {alias.name} from {module}"))
        if module != STATES and (module == "warta.model" or module.startswith("warta.model.")):
            names = ", ".join(a.name for a in node.names)
            self.found.append((node.lineno, f"imports {names} from {module}"))
        if module == "warta" and any(a.name == "model" for a in node.names):
            self.found.append((node.lineno, "imports warta.model"))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "select":
            self.found.append((node.lineno, "calls select("))
        elif isinstance(func, ast.Attribute):
            if func.attr == "select" and isinstance(func.value, ast.Name) and func.value.id == "sqlalchemy":
                self.found.append((node.lineno, "calls sqlalchemy.select("))
            elif func.attr == "execute":
                self.found.append((node.lineno, "calls .execute("))
            elif (
                func.attr in SESSION_QUERIES
                and isinstance(func.value, ast.Name)
                and func.value.id in SESSION_NAMES
            ):
                self.found.append((node.lineno, f"calls {func.value.id}.{func.attr}("))
        self.generic_visit(node)


def offences(source: str) -> list[tuple[int, str]]:
    visitor = _Offences()
    visitor.visit(ast.parse(source))
    return sorted(visitor.found)


def test_the_checker_reads_code_not_comments() -> None:
    """What the layer test counts: real statements and session calls, also aliased or nested;
    never a comment, a docstring, or an import for annotations only."""
    sample = '''
"""Docs may say select(Release) and s.get(Release, id)."""
from typing import TYPE_CHECKING
from sqlalchemy import select as pick, func
from warta.model import Release
if TYPE_CHECKING:
    from warta.model import Edition
# s.execute(text("..."))
def handler(s, request):
    rows = pick(Release)
    one = s.get(Release, "x")
    request.headers.get("accept")
    with s.begin():
        s.execute(rows)
    return "select(" + func.now().name
'''
    assert offences(sample) == [
        (4, "imports select from sqlalchemy"),
        (5, "imports Release from warta.model"),
        (11, "calls s.get("),
        (14, "calls .execute("),
    ]


def _web_modules() -> list[Path]:
    return sorted(WEB.glob("*.py"))


def test_the_web_layer_holds_no_queries_of_its_own() -> None:
    assert _web_modules(), f"no modules under {WEB}"
    report = [
        f"{path.relative_to(WEB.parent.parent)}:{line}: {what}"
        for path in _web_modules()
        for line, what in offences(path.read_text(encoding="utf-8"))
    ]
    if report:
        pytest.fail("the web layer reads or writes the store itself:\n" + "\n".join(report))
