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

from warta.config import without_password
from warta.delivery.catcher import Outbox
from warta.i18n.catalog import DEFAULT_LANGUAGE, LANGUAGE_NAMES, text_direction
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


def _language(lang: str | None) -> str:
    """The page's language: the one asked for with ``?lang=`` (or the forms' field), else English."""
    return lang if lang is not None and lang in LANGUAGE_NAMES else DEFAULT_LANGUAGE


def _at(path: str, lang: str) -> str:
    """``path`` in ``lang``: links, forms and redirects keep the language the editor chose."""
    return path if lang == DEFAULT_LANGUAGE else f"{path}?lang={lang}"


def _page(request: Request, name: str, lang: str, status: int = 200, **ctx: object) -> HTMLResponse:
    # the language switch reloads this page; a page answering a form goes back to the list
    here = request.url.path if request.method in ("GET", "HEAD") else "/outbox"
    page = render(request, name, lang, status=status, here=here, at=lambda path: _at(path, lang), **ctx)
    page.headers.update({**_PRIVATE, "Referrer-Policy": "no-referrer"})
    return page


def _sign_in(request: Request, lang: str, refused: str = "", status: int = 200) -> HTMLResponse:
    """The sign-in form; ``refused`` says why a key was turned down (``key`` or ``role``)."""
    return _page(request, "outbox_sign_in.html", lang, status=status, refused=refused)


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, lang: str | None = None) -> Response:
    ui = _language(lang)
    who = _reader(request)
    if who is None:
        return _sign_in(request, ui)
    outbox = _outbox(request)
    settings = get_settings(request)
    return _page(
        request,
        "outbox.html",
        ui,
        who=who,
        catching=outbox is not None,
        smtp_url=without_password(settings.smtp_url),
        mails=outbox.messages() if outbox else [],
        webhooks=outbox.webhooks() if outbox else [],
    )


@router.post("/outbox/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    key: Annotated[str, Form(max_length=200)] = "",
    lang: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    ui = _language(lang)
    key = key.strip()
    with unit_of_work(request) as s:
        who = authenticate(s, key) if key else None
    if who is None:
        return _sign_in(request, ui, "key", 401)
    if not who.is_editor:
        return _sign_in(request, ui, "role", 403)
    page = RedirectResponse(_at("/outbox", ui), status_code=303)
    secure = get_settings(request).base_url.startswith("https://")
    page.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/outbox", secure=secure)
    return page


@router.post("/outbox/sign-out")
def sign_out(lang: Annotated[str, Form(max_length=20)] = "") -> Response:
    page = RedirectResponse(_at("/outbox", _language(lang)), status_code=303)
    page.delete_cookie(COOKIE, path="/outbox")
    return page


@router.get("/outbox/mail/{key}", response_class=HTMLResponse)
def mail_page(request: Request, key: str, lang: str | None = None) -> Response:
    ui = _language(lang)
    if _reader(request) is None:
        return _sign_in(request, ui, status=401)
    outbox = _outbox(request)
    mail = outbox.message(key) if outbox else None
    if mail is None:
        return render(request, "404.html", ui, status=404)
    lang = mail.lang if mail.lang in LANGUAGE_NAMES else "en"
    base = get_settings(request).base_url
    # a one-click button only for this wire's own links: the page posts nowhere else
    unsubscribe = mail.unsubscribe if mail.unsubscribe and mail.unsubscribe.startswith(base + "/") else None
    return _page(
        request,
        "outbox_mail.html",
        ui,
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
