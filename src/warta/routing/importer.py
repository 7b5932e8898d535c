"""CSV import of recipients: row-level errors reported, valid rows kept, progress shown."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select

from warta.config import Settings
from warta.intake.sanitize import ContentError
from warta.model import Recipient
from warta.routing import endpoints
from warta.routing import recipients as rcp
from warta.store import Store

BATCH = 500
TRUE = {"1", "true", "yes", "y", "t"}


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace(",", ";").split(";") if v.strip()]


def row_to_input(row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": (row.get("kind") or "").strip().lower(),
        "name": row.get("name") or "",
        "country": row.get("country") or "",
        "languages": _split(row.get("languages")),
        "sectors": _split(row.get("sectors")),
        "email": (row.get("email") or "").strip() or None,
        "webhook_url": (row.get("webhook_url") or "").strip() or None,
        "embargo_trusted": (row.get("embargo_trusted") or "").strip().lower() in TRUE,
        "external_id": (row.get("external_id") or "").strip() or None,
    }
    for key in ("webhook_format", "locale", "timezone", "status"):
        if (row.get(key) or "").strip():
            data[key] = row[key].strip()
    return data


def import_csv(store: Store, settings: Settings, path: Path, progress: bool = True) -> dict[str, Any]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return {
            "created": 0,
            "updated": 0,
            "errors": [{"line": 0, "field": "file", "reason": f"not UTF-8: {exc}"}],
        }
    rows = list(csv.DictReader(io.StringIO(text)))
    summary: dict[str, Any] = {"created": 0, "updated": 0, "errors": []}
    columns = (
        TextColumn("[bold]importing[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("import", total=len(rows))
        for start in range(0, len(rows), BATCH):
            with store.session() as s:
                for offset, row in enumerate(rows[start : start + BATCH]):
                    line = start + offset + 2  # the header is line 1
                    try:
                        # every check runs before the row is added, so a bad row adds nothing
                        created = _import_row(s, settings, row)
                        summary["created" if created else "updated"] += 1
                    except ContentError as exc:
                        summary["errors"].append({"line": line, "field": exc.field, "reason": exc.reason})
                    except ValidationError as exc:
                        first = exc.errors()[0]
                        field = ".".join(str(p) for p in first["loc"]) or "row"
                        summary["errors"].append({"line": line, "field": field, "reason": first["msg"]})
                    bar.advance(task)
    return summary


def _import_row(session: Any, settings: Settings, row: dict[str, str]) -> bool:
    data = row_to_input(row)
    external_id = data.get("external_id")
    existing = (
        session.scalar(select(Recipient).where(Recipient.external_id == external_id)) if external_id else None
    )
    if existing is not None:
        patch = {k: v for k, v in data.items() if k not in ("kind", "external_id")}
        rcp.update_recipient(session, settings, existing, rcp.RecipientPatch.model_validate(patch))
        return False
    email = data.get("email")
    if email and endpoints.unsubscribed_address(session, email):
        # the same person under a new row would undo their unsubscribe
        raise ContentError("status", f"{email} unsubscribed; only the recipient can subscribe again")
    rcp.create_recipient(session, settings, rcp.RecipientIn.model_validate(data))
    return True
