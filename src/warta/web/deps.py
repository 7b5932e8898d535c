"""Request dependencies: the store, the settings, and who is calling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warta.config import Settings
from warta.intake.keys import Principal, authenticate
from warta.store import Store
from warta.web.errors import ApiError


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@contextmanager
def unit_of_work(request: Request) -> Iterator[Session]:
    """A transaction, committed before the response is written; then the outbox relay is woken."""
    with get_store(request).session() as session:
        yield session
    request.app.state.relay.notify()


T = TypeVar("T")


def retried_on_race(request: Request, work: Callable[[Session], T]) -> T:
    """`work` in a unit of work, run once more if another writer took the same unique key first
    (the editions stage storing a language's edition while an issuer uploads it): the second run
    sees that row and changes it instead of adding its own."""
    try:
        with unit_of_work(request) as s:
            return work(s)
    except IntegrityError:
        with unit_of_work(request) as s:
            return work(s)


# Declares the bearer API key in the OpenAPI document (`securitySchemes`); the header itself is
# read below, so that a malformed one is a 401 in the usual error shape.
api_key_scheme = HTTPBearer(
    scheme_name="apiKey", bearerFormat="wk_…", description="an API key", auto_error=False
)


def no_store(response: Response) -> None:
    """For answers that carry secrets (API keys, webhook secrets, feed and stream tokens): no
    cache, shared or private, keeps a copy."""
    response.headers["Cache-Control"] = "no-store"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def optional_principal(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(api_key_scheme)] = None
) -> Principal | None:
    token = _bearer(request)
    if token is None:
        if request.headers.get("authorization"):
            raise ApiError(401, "unauthorised", "use Authorization: Bearer <api key>")
        return None
    with get_store(request).session() as session:
        who = authenticate(session, token)
    if who is None:
        raise ApiError(401, "unauthorised", "unknown or revoked API key")
    return who


def principal(who: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if who is None:
        raise ApiError(401, "unauthorised", "this needs an API key: Authorization: Bearer <key>")
    return who


def editor(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.is_editor:
        raise ApiError(403, "forbidden", "only editors may do this")
    return who


def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.is_admin:
        raise ApiError(403, "forbidden", "only admins may do this")
    return who


SettingsDep = Annotated[Settings, Depends(get_settings)]
MaybeWho = Annotated[Principal | None, Depends(optional_principal)]
Who = Annotated[Principal, Depends(principal)]
Editor = Annotated[Principal, Depends(editor)]
Admin = Annotated[Principal, Depends(admin)]
NoStore = Depends(no_store)
