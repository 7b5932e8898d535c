"""The OpenAPI document is valid (openapi-spec-validator), every `$ref` in it resolves, the API key
is a declared security scheme, every API answer has a typed schema and every 4xx the error model;
and /docs shows the operations in Chromium with nothing reachable but the server itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from playwright.sync_api import Browser, expect

from conftest import Server
from warta.config import Settings
from warta.web.app import create_app


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(data_dir=data, database_url=f"sqlite:///{data / 'warta.db'}"))
    doc: dict[str, Any] = app.openapi()
    return doc


VALIDATORS = Path(__file__).resolve().parents[1] / "tools" / "validators"

# the event stream (text/event-stream) and the delivery report's aggregates, documented as objects
UNTYPED = {
    "/api/v1/stream",
    "/api/v1/releases/{release_id}/report",
    "/api/v1/releases/{release_id}/report/link",
}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)  # raises on any error, a dangling $ref among them


def test_swagger_parser_validates_the_document(document: dict[str, Any], tmp_path: Path) -> None:
    """A second implementation, the one API tooling in JavaScript builds on, reads the document
    the same way: its schema and every reference, dereferenced."""
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    checked = subprocess.run(
        ["node", str(VALIDATORS / "validate-openapi.js"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("valid: ")


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    dangling = sorted({r for r in refs(document) if r.removeprefix("#/components/schemas/") not in schemas})
    assert dangling == []
    # the submission's own parts, which used to dangle
    for name in ("Dateline", "MediaItem", "Targets", "ReleaseIn"):
        assert name in schemas, name


def test_api_key_and_errors_are_documented(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    untyped, undocumented = [], []
    for path, item in document["paths"].items():
        for method, op in item.items():
            answers = op["responses"]
            ok = answers.get("200") or answers.get("201")
            if ok and path not in UNTYPED and "application/json" in ok.get("content", {}):
                schema = ok["content"]["application/json"]["schema"]
                if "$ref" not in schema:
                    untyped.append(f"{method} {path}")
            for status in ("401", "404", "422"):
                if status in answers:
                    error = answers[status]["content"]["application/json"]["schema"]["$ref"]
                    if error != "#/components/schemas/ErrorOut":
                        undocumented.append(f"{method} {path} {status}")
            if path.startswith("/api/v1/") and path != "/api/v1/stream" and "401" not in answers:
                undocumented.append(f"{method} {path} 401")
    assert untyped == [] and undocumented == [], (untyped, undocumented)


def test_docs_work_with_no_internet(server: Server, browser: Browser) -> None:
    outside: list[str] = []
    problems: list[str] = []
    page = browser.new_page()
    try:

        def only_the_server(route: Any) -> None:
            if route.request.url.startswith(server.url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_the_server)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{server.url}/docs", wait_until="load")
        expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/api/v1/releases" in p.replace("\u200b", "") for p in paths), paths
        assert page.locator(".opblock").count() > 25
    finally:
        page.close()
    assert outside == [], outside
    assert problems == [], problems
    assert httpx.get(f"{server.url}/docs/assets/swagger-ui-bundle.js").status_code == 200
