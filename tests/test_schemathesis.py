"""schemathesis drives every API operation from the OpenAPI document, with an issuer's key and with
an editor's: no answer is a server error, and every answer (4xx included) has a status code, a
media type and a body that the document declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from warta.config import Settings
from warta.intake import keys
from warta.web.app import create_app

EXAMPLES = 12  # per operation and key: the whole test stays well under two minutes
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data: Path = tmp_path_factory.mktemp("schemathesis")
    app = create_app(Settings(data_dir=data, database_url=f"sqlite:///{data / 'warta.db'}"))
    with app.state.store.session() as s:
        org = keys.create_org(s, "Syarikat Ujian", "ujian.example")
        _, issuer = keys.create_user(s, "Penerbit", "issuer", org.id, None)
        _, editor = keys.create_user(s, "Editor", "editor", None, None)
    return {"app": app, "keys": {"issuer": issuer, "editor": editor}}


@pytest.mark.timeout(150)
@pytest.mark.parametrize("role", ["issuer", "editor"])
def test_every_operation_answers_as_documented(wire: dict[str, Any], role: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", wire["app"])
    headers = {"Authorization": f"Bearer {wire['keys'][role]}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 25

    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            exercise()
        except Exception as exc:  # noqa: BLE001 - each operation's first failure, all reported below
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert failures == [], "\n\n".join(failures[:20])
