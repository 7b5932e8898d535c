"""One JSON error shape everywhere: {"error": {"status", "code", "message", "field"?, "details"?}}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from warta.errors import DomainError
from warta.intake.sanitize import ContentError


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_body(
    status: int, code: str, message: str, field: str | None = None, details: Any = None
) -> dict[str, Any]:
    err: dict[str, Any] = {"status": status, "code": code, "message": message}
    if field:
        err["field"] = field
    if details:
        err["details"] = details
    return {"error": err}


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out  # "" when the error is about the request body as a whole


def install(app: FastAPI, not_found_page: Callable[[Request], Response]) -> None:
    """The handlers that turn errors into answers; a page's 404 is `not_found_page`'s HTML."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.code, exc.message, exc.field), status_code=exc.status)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        body = error_body(exc.status, exc.code, exc.message, exc.field)
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(ContentError)
    async def _content(_: Request, exc: ContentError) -> JSONResponse:
        return JSONResponse(
            error_body(422, "invalid_field", f"{exc.field}: {exc.reason}", exc.field), status_code=422
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": where, "reason": e["msg"]} if (where := _loc(e["loc"])) else {"reason": e["msg"]}
            for e in exc.errors()
        ]
        first: dict[str, str] = details[0] if details else {"reason": "invalid request body"}
        field = first.get("field")
        message = f"{field}: {first['reason']}" if field else first["reason"]
        return JSONResponse(error_body(422, "invalid_field", message, field, details), status_code=422)

    @app.exception_handler(ClientDisconnect)
    async def _gone(_: Request, __: ClientDisconnect) -> JSONResponse:
        # the client left before its body was read: nothing to do, and no one to tell
        return JSONResponse(error_body(400, "client_disconnected", "the client went away"), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        if not request.url.path.startswith("/api/") and exc.status_code == 404:
            return not_found_page(request)
        code = {
            400: "bad_request",
            401: "unauthorised",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            415: "unsupported_media_type",
            429: "too_many_requests",
        }.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(exc.status_code, code, str(exc.detail)),
            status_code=exc.status_code,
            headers=exc.headers,
        )
