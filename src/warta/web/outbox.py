"""`/outbox`: what the embedded mail catcher kept, for the wire's editors and admins.

Pages carry no API key in their URLs, so the page asks for one in a form and keeps it in a
cookie that only `/outbox` pages receive (HttpOnly, SameSite=Strict); every request checks it
again, so a revoked key stops working at once. Caught HTML is shown in a sandboxed frame (no
script, no forms, no same-origin access) and as escaped source.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from warta.delivery.catcher import Outbox
from warta.i18n.catalog import LANGUAGE_NAMES, text_direction
from warta.intake.keys import Principal, authenticate
from warta.web.deps import get_settings, unit_of_work
from warta.web.pages import not_found_page, render

router = APIRouter(include_in_schema=False)
COOKIE = "warta_outbox"
_PRIVATE = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex, nofollow"}
MAX_WEBHOOK_BYTES = 1024 * 1024


def _outbox(request: Request) -> Outbox | None:
    outbox: Outbox | None = getattr(request.app.state, "outbox", None)
    return outbox


def _reader(request: Request) -> Principal | None:
    key = request.cookies.get(COOKIE)
    if not key:
        return None
    with unit_of_work(request) as s:
        who = authenticate(s, key)
    return who if who is not None and who.is_editor else None


def _page(request: Request, name: str, status: int = 200, lang: str = "en", **ctx: object) -> HTMLResponse:
    page = render(request, name, lang, status=status, **ctx)
    page.headers.update({**_PRIVATE, "Referrer-Policy": "no-referrer"})
    return page


def _sign_in(request: Request, message: str = "", status: int = 200) -> HTMLResponse:
    return _page(request, "outbox_sign_in.html", status=status, message=message)


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request) -> Response:
    who = _reader(request)
    if who is None:
        return _sign_in(request)
    outbox = _outbox(request)
    settings = get_settings(request)
    return _page(
        request,
        "outbox.html",
        who=who,
        catching=outbox is not None,
        smtp_url=settings.smtp_url,
        mails=outbox.messages() if outbox else [],
        webhooks=outbox.webhooks() if outbox else [],
    )


@router.post("/outbox/sign-in", response_class=HTMLResponse)
def sign_in(request: Request, key: Annotated[str, Form(max_length=200)] = "") -> Response:
    key = key.strip()
    with unit_of_work(request) as s:
        who = authenticate(s, key) if key else None
    if who is None:
        return _sign_in(request, "That key is not a valid API key.", 401)
    if not who.is_editor:
        return _sign_in(request, "The outbox is for the wire's editors and admins.", 403)
    page = RedirectResponse("/outbox", status_code=303)
    secure = get_settings(request).base_url.startswith("https://")
    page.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/outbox", secure=secure)
    return page


@router.post("/outbox/sign-out")
def sign_out() -> Response:
    page = RedirectResponse("/outbox", status_code=303)
    page.delete_cookie(COOKIE, path="/outbox")
    return page


@router.get("/outbox/mail/{key}", response_class=HTMLResponse)
def mail_page(request: Request, key: str) -> Response:
    if _reader(request) is None:
        return _sign_in(request, status=401)
    outbox = _outbox(request)
    mail = outbox.message(key) if outbox else None
    if mail is None:
        return not_found_page(request)
    lang = mail.lang if mail.lang in LANGUAGE_NAMES else "en"
    base = get_settings(request).base_url
    # a one-click button only for this wire's own links: the page posts nowhere else
    unsubscribe = mail.unsubscribe if mail.unsubscribe and mail.unsubscribe.startswith(base + "/") else None
    return _page(
        request,
        "outbox_mail.html",
        mail=mail,
        mail_lang=lang,
        mail_dir=text_direction(lang),
        unsubscribe=unsubscribe,
    )


@router.post("/outbox/webhooks/{name}", status_code=204)
async def catch_webhook(request: Request, name: str) -> Response:
    """The demo outlets' webhook endpoint: what the wire posts here is kept in the outbox."""
    outbox = _outbox(request)
    if outbox is None or len(name) > 80 or not name.replace("-", "").isalnum():
        return not_found_page(request)
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        return Response(status_code=413)
    outbox.keep_webhook(name, list(request.headers.items()), body)
    return Response(status_code=204)
