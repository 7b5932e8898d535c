"""Email messages for the wire: an edition, a withdrawal notice or an alert digest, as MIME bytes.

A message is multipart/alternative with a text/plain part (the wire text as `WireText.plain_text()`
prints it) and a simple inline-styled text/html part, both UTF-8, in the edition's language.

Everything that is the same for every recipient of an edition (subject, shared headers, both parts)
is rendered once per (edition, kind, embargo, time zone) and kept in ``bundle.cache``. Per recipient
only To, Date, Message-ID and the unsubscribe link change. The parts are base64-encoded in whole
57-byte blocks, so the shared head of a part is encoded once and only its short tail (the footer
with the recipient's unsubscribe link) is encoded per message; the result is byte for byte what
encoding the whole part would give.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import os
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr, parseaddr
from html import escape
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from warta.config import Settings
from warta.editions.render import WireText
from warta.editions.rendered import RenderedEdition
from warta.formats.events import Event, event_for, withdrawn_version
from warta.formats.ninjs import edition_url
from warta.formats.registry import Format, register
from warta.i18n.catalog import DEFAULT_LANGUAGE, normalise_lang, text_direction, translate
from warta.i18n.dates import long_datetime

__all__ = [
    "DKIM_HEADERS",
    "Addressee",
    "DigestItem",
    "Email",
    "Mailing",
    "build_message",
    "digest_language",
    "dkim_enabled",
    "dkim_sign",
    "envelope_address",
    "mail_domain",
    "message_id_for",
]

# Headers covered by the DKIM signature (those a message has): what a reader sees and what decides
# how the message is read, so that no relay can change the list, the threading or the MIME structure.
DKIM_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
    "Content-Language",
)

_PLACEHOLDER = "\x00unsubscribe\x00"
_BLOCK = 57  # input bytes per 76-character base64 line
_LINE = 76
_CRLF = b"\r\n"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ATOMS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+$")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")

_BODY_STYLE = "margin:0;padding:0;background-color:#f3f4f6;"
_CARD_STYLE = (
    "max-width:640px;margin:0 auto;padding:24px;background-color:#ffffff;color:#1f2328;"
    "font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.55;"
)
_H1_STYLE = "margin:0 0 12px;font-size:24px;line-height:1.3;"
_H2_STYLE = "margin:24px 0 8px;font-size:18px;line-height:1.3;"
_LEAD_STYLE = "margin:0 0 16px;font-size:18px;color:#3d444d;"
_NOTICE_STYLE = (
    "margin:0 0 16px;padding:8px 12px;background-color:#fff4e5;border:1px solid #f0b86e;font-weight:bold;"
)
_META_STYLE = "margin:16px 0;color:#59636e;font-size:14px;"
_SMALL_STYLE = "margin:24px 0 0;color:#59636e;font-size:12px;"
_FOOT_STYLE = "margin:24px 0 0;padding-top:12px;border-top:1px solid #d1d9e0;color:#59636e;font-size:12px;"
_LINK_STYLE = "color:#0b57d0;"


# --- what a message is made for -----------------------------------------------------------------


class Addressee(Protocol):
    """The parts of a recipient a message needs."""

    @property
    def name(self) -> str: ...
    @property
    def locale(self) -> str: ...
    @property
    def timezone(self) -> str: ...


class Mailbox(Protocol):
    """Where a message goes: an email address."""

    @property
    def address(self) -> str | None: ...


class Mailing(Protocol):
    """One message to one recipient: an edition, a withdrawal notice or a digest (a delivery
    job of the engine is one)."""

    @property
    def kind(self) -> str: ...
    @property
    def embargoed(self) -> bool: ...
    @property
    def recipient(self) -> Addressee: ...
    @property
    def endpoint(self) -> Mailbox: ...
    @property
    def bundle(self) -> RenderedEdition: ...
    @property
    def extra(self) -> dict[str, Any]: ...


# --- addresses and identifiers ------------------------------------------------------------------


def mail_domain(settings: Settings) -> str:
    """The domain of the wire's sender address, for Message-IDs and the List-Id."""
    return _domain_of(settings.mail_from)


@functools.lru_cache(maxsize=8)
def _domain_of(mail_from: str) -> str:
    _, address = parseaddr(mail_from)
    domain = address.rpartition("@")[2].strip().lower()
    return domain or "warta.invalid"


def message_id_for(settings: Settings, delivery_id: str) -> str:
    """The Message-ID (without angle brackets) of a delivery: the same on every attempt."""
    return f"{delivery_id}@{mail_domain(settings)}"


_DOMAIN = re.compile(r"[a-z0-9.-]+|\[[0-9a-f:.]+\]")


def envelope_address(address: str) -> str:
    """``address`` as SMTP and the To header carry it: an ASCII local part, the domain in IDNA form.

    Raises ValueError for an address that needs SMTPUTF8 (a non-ASCII local part) or is malformed.
    """
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {address!r}")
    if not _LOCAL_PART.match(local):
        raise ValueError(f"the local part of {address!r} needs SMTPUTF8 or is malformed")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"the domain of {address!r} is not a valid host name") from exc
    if not _DOMAIN.fullmatch(ascii_domain):
        raise ValueError(f"the domain of {address!r} is not a valid host name")
    return f"{local}@{ascii_domain}"


def _fold(name: str, value: str) -> bytes:
    """One header, RFC 2047-encoded where it is not ASCII, folded at whitespace before 78 characters.

    The value always starts on the header's own line (the standard library's folder may move
    it to a continuation line, which some parsers read back with a leading space)."""
    value = _CONTROL.sub(" ", value).strip()
    words = value.split(" ") if value.isascii() else _encoded_words(value)
    lines: list[str] = []
    line = f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > 78 and line != f"{name}:":
            lines.append(line)
            line = ""
        line += f" {word}"
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _raw(name: str, value: str) -> bytes:
    """One header whose value is ASCII already and must not be folded or encoded (URLs, ids)."""
    if _CONTROL.search(value):
        raise ValueError(f"control character in {name}")
    return f"{name}: {value}\r\n".encode("ascii")


def _encoded_words(text: str) -> list[str]:
    """``text`` as RFC 2047 "B" encoded-words of at most 72 characters, split between characters."""
    chunks: list[bytes] = []
    chunk = b""
    for char in text:
        data = char.encode("utf-8")
        if chunk and len(chunk) + len(data) > 45:  # 45 bytes make 60 base64 characters
            chunks.append(chunk)
            chunk = b""
        chunk += data
    if chunk:
        chunks.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=" for chunk in chunks]


def _to_header(name: str, address: str) -> bytes:
    """To: the recipient's name and (already checked, ASCII) address; the name encoded as needed."""
    display = " ".join(_CONTROL.sub(" ", name).split())
    if not display:
        return _raw("To", address)
    if not display.isascii():
        words = _encoded_words(display)
        return ("To: " + "\r\n ".join(words) + f"\r\n <{address}>\r\n").encode("ascii")
    if not _ATOMS.match(display):
        display = '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _raw("To", f"{display} <{address}>")


# --- base64 parts that are encoded once -----------------------------------------------------------


def _b64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters (57 bytes each), each ending in CRLF."""
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join([encoded[i : i + _LINE] + _CRLF for i in range(0, len(encoded), _LINE)])


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


@dataclass(frozen=True)
class _Part:
    """One text part: everything up to the recipient's unsubscribe link encoded once, and what
    follows the link; only the link and the few bytes around it are encoded per recipient."""

    headers: bytes
    encoded: bytes  # base64 of the whole 57-byte blocks before the link
    carry: bytes  # the rest of what comes before the link, shorter than a block
    after: bytes  # what follows the link
    linked: bool  # whether the tail has a place for the link
    html: bool

    @classmethod
    def build(cls, subtype: str, head: str, tail: str) -> _Part:
        """`tail` has _PLACEHOLDER where the unsubscribe link goes."""
        before, placeholder, after = tail.partition(_PLACEHOLDER)
        data = _crlf(head + before).encode("utf-8")
        cut = len(data) - len(data) % _BLOCK
        headers = (
            f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        ).encode("ascii")
        return cls(
            headers,
            _b64(data[:cut]),
            data[cut:],
            _crlf(after).encode("utf-8"),
            bool(placeholder),
            subtype == "html",
        )

    def render(self, unsubscribe: str) -> bytes:
        link = (escape(unsubscribe) if self.html else unsubscribe).encode("utf-8") if self.linked else b""
        return self.headers + self.encoded + _b64(self.carry + link + self.after)


@dataclass(frozen=True)
class _Shared:
    """What every recipient of one (edition, kind, embargo, time zone) gets."""

    from_header: bytes
    subject_header: bytes
    headers: bytes  # after Message-ID: Content-Language, List-Id, X-Warta-*, MIME
    boundary: bytes
    parts: tuple[_Part, ...]


def _shared(
    settings: Settings, *, lang: str, subject: str, headers: list[bytes], parts: Sequence[_Part]
) -> _Shared:
    boundary = f"=_warta_{secrets.token_hex(12)}"
    mime = [
        _raw("MIME-Version", "1.0"),
        _raw("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        _raw("Content-Language", lang),
        _raw("Auto-Submitted", "auto-generated"),
    ]
    return _Shared(
        from_header=_fold("From", settings.mail_from),
        subject_header=_fold("Subject", subject),
        headers=b"".join([*headers, *mime]),
        boundary=boundary.encode("ascii"),
        parts=tuple(parts),
    )


def _list_id(settings: Settings, list_name: str) -> bytes:
    value = formataddr((settings.wire_name, f"{list_name}.{mail_domain(settings)}"), charset="utf-8")
    return _raw("List-Id", value)


# --- HTML scaffolding ---------------------------------------------------------------------------


def _html_open(lang: str, direction: str, title: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(lang)}" dir="{direction}">\n'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>\n"
        f'<body style="{_BODY_STYLE}">\n'
        f'<div lang="{escape(lang)}" dir="{direction}" style="{_CARD_STYLE}">\n'
    )


def _html_footer(lang: str, wire: str, extra: str = "") -> str:
    return (
        f'<p style="{_FOOT_STYLE}">{extra}'
        f"{escape(translate(lang, 'You receive this email because you are on the %(wire)s distribution list.', wire=wire))}"
        f' <a href="{_PLACEHOLDER}" style="{_LINK_STYLE}">{escape(translate(lang, "Unsubscribe"))}</a></p>\n'
        "</div>\n</body>\n</html>\n"
    )


def _text_footer(lang: str, wire: str, extra: str = "") -> str:
    return (
        "\n-- \n"
        f"{extra}"
        f"{translate(lang, 'You receive this email because you are on the %(wire)s distribution list.', wire=wire)}\n"
        f"{translate(lang, 'Unsubscribe')}: {_PLACEHOLDER}\n"
    )


def _is_web_url(url: str) -> bool:
    return url.strip().lower().startswith(("https://", "http://"))


def _contact_html(contact: dict[str, str]) -> str:
    lines = []
    for key, value in contact.items():
        if not value:
            continue
        text = escape(str(value))
        # addresses, numbers and URLs read left to right, also in a right-to-left message
        if key == "email":
            lines.append(f'<a href="mailto:{text}" dir="ltr" style="{_LINK_STYLE}">{text}</a>')
        elif key == "website" and _is_web_url(str(value)):
            lines.append(f'<a href="{text}" dir="ltr" style="{_LINK_STYLE}">{text}</a>')
        elif key in ("phone", "website"):
            lines.append(f'<span dir="ltr">{text}</span>')
        else:
            lines.append(text)
    return "<br>\n".join(lines)


def _with_dateline(dateline: str, body_html: str) -> str:
    """The dateline runs into the first paragraph, as a wire prints it."""
    lead = f"<strong>{escape(dateline)}</strong> "
    stripped = body_html.lstrip()
    if stripped.startswith("<p>"):
        return "<p>" + lead + stripped[3:]
    return f"<p>{lead.rstrip()}</p>\n{body_html}"


# --- time zones ---------------------------------------------------------------------------------


@functools.cache
def _zone_name(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return "UTC"
    return tz


# --- the three kinds of message -----------------------------------------------------------------


def _edition(bundle: RenderedEdition, event: Event, zone: str) -> _Shared:
    """An edition's message; an early copy names its lift in ``zone`` (the recipient's)."""
    settings = bundle.settings
    text: WireText = bundle.text
    lang = text.lang
    embargo = bundle.embargo_until
    note: str | None = None
    if event.early and embargo is not None:
        note = translate(lang, "Embargoed until %(time)s", time=long_datetime(embargo, lang, zone))
    subject = f"[{note}] {text.headline}" if note else text.headline
    if event.corrected:
        subject = f"[{translate(lang, 'Correction')}] {subject}"
    online = None if event.early else edition_url(settings, bundle.release.id, bundle.edition.lang)

    # text/plain
    notices = [n for n in (note.upper() if note else None, text.outdated_note) if n]
    plain = "".join(f"{n}\n\n" for n in notices) + dataclasses.replace(text, embargo_note=None).plain_text()
    read_more = f"{translate(lang, 'Read more')}: {online}\n" if online else ""

    # text/html
    html = [_html_open(lang, text.dir, text.headline)]
    html += [f'<p style="{_NOTICE_STYLE}">{escape(n)}</p>\n' for n in (note, text.outdated_note) if n]
    html.append(f'<h1 style="{_H1_STYLE}">{escape(text.headline)}</h1>\n')
    if text.summary:
        html.append(f'<p style="{_LEAD_STYLE}">{escape(text.summary)}</p>\n')
    html.append(f"<div>{_with_dateline(text.dateline, text.body_html)}</div>\n")
    if text.sector_line:
        html.append(f'<p style="{_META_STYLE}">{escape(text.sector_line)}</p>\n')
    if text.about_html:
        html.append(
            f'<h2 style="{_H2_STYLE}">{escape(text.about_heading)}</h2>\n<div>{text.about_html}</div>\n'
        )
    if text.contact:
        html.append(
            f'<h2 style="{_H2_STYLE}">{escape(text.contact_heading)}</h2>\n<p>{_contact_html(text.contact)}</p>\n'
        )
    if text.correction_line:
        html.append(f'<p style="{_META_STYLE}">{escape(text.correction_line)}</p>\n')
    html.append(f'<p style="{_SMALL_STYLE}">{escape(text.disclaimer)}</p>\n')
    html_more = (
        f'<a href="{escape(online)}" style="{_LINK_STYLE}">{escape(translate(lang, "Read more"))}</a><br>\n'
        if online
        else ""
    )

    headers = [
        _list_id(settings, "releases"),
        _raw("X-Warta-Kind", "edition"),
        _raw("X-Warta-Release", bundle.release.id),
        _raw("X-Warta-Edition", bundle.edition.id),
        _raw("X-Warta-Version", str(bundle.edition.version)),
    ]
    if event.early and embargo is not None:
        headers.append(_raw("X-Warta-Embargoed-Until", format_datetime(embargo.astimezone(UTC))))
    return _shared(
        settings,
        lang=lang,
        subject=subject,
        headers=headers,
        parts=[
            _Part.build("plain", plain, _text_footer(lang, settings.wire_name, read_more)),
            _Part.build("html", "".join(html), _html_footer(lang, settings.wire_name, html_more)),
        ],
    )


def _withdrawal(bundle: RenderedEdition, event: Event) -> _Shared:
    settings = bundle.settings
    lang = bundle.text.lang
    direction = bundle.text.dir
    label = translate(lang, "Withdrawn")
    if event.withdrawn_by == "wire":
        sentence = translate(lang, "This release has been withdrawn by %(wire)s.", wire=settings.wire_name)
    else:
        sentence = translate(lang, "This release has been withdrawn by its issuer.")
    headline = bundle.text.headline
    note = event.note.strip()

    plain = f"{label.upper()}: {headline}\n\n{sentence}\n"
    if note:
        plain += f"\n{note}\n"
    plain += f"\n{bundle.text.disclaimer}\n"

    html = [
        _html_open(lang, direction, f"{label}: {headline}"),
        f'<p style="{_NOTICE_STYLE}">{escape(label)}</p>\n',
        f'<h1 style="{_H1_STYLE}"><s>{escape(headline)}</s></h1>\n',
        f"<p>{escape(sentence)}</p>\n",
    ]
    if note:
        html.append(f"<p>{escape(note)}</p>\n")
    html.append(f'<p style="{_SMALL_STYLE}">{escape(bundle.text.disclaimer)}</p>\n')

    return _shared(
        settings,
        lang=lang,
        subject=f"[{label}] {headline}",
        headers=[
            _list_id(settings, "releases"),
            _raw("X-Warta-Kind", "withdrawal"),
            _raw("X-Warta-Release", bundle.release.id),
            _raw("X-Warta-Edition", bundle.edition.id),
        ],
        parts=[
            _Part.build("plain", plain, _text_footer(lang, settings.wire_name)),
            _Part.build("html", "".join(html), _html_footer(lang, settings.wire_name)),
        ],
    )


@dataclass(frozen=True)
class DigestItem:
    headline: str
    url: str
    summary: str = ""
    lang: str | None = None


def _digest_items(settings: Settings, raw: Any) -> list[DigestItem]:
    items: list[DigestItem] = []
    for item in raw or ():
        if isinstance(item, DigestItem):
            items.append(item)
        elif isinstance(item, RenderedEdition):
            edition = item.edition
            items.append(
                DigestItem(
                    edition.headline,
                    edition_url(settings, item.release.id, edition.lang),
                    edition.summary or "",
                    edition.lang,
                )
            )
        elif isinstance(item, dict):
            items.append(
                DigestItem(
                    str(item.get("headline", "")),
                    str(item.get("url", "")),
                    str(item.get("summary") or ""),
                    item.get("lang"),
                )
            )
        else:
            headline, url, summary = item
            items.append(DigestItem(str(headline), str(url), str(summary or "")))
    return items


def digest_language(job: Mailing) -> str:
    """A digest gathers editions in several languages; its own words follow the recipient's locale."""
    return (
        normalise_lang(job.recipient.locale or "")
        or normalise_lang(job.bundle.edition.lang)
        or DEFAULT_LANGUAGE
    )


def _digest(job: Mailing) -> _Shared:
    settings = job.bundle.settings
    lang = digest_language(job)
    direction = text_direction(lang)
    items = _digest_items(settings, job.extra.get("items"))
    wire = settings.wire_name
    if len(items) == 1:
        subject = translate(lang, "Your %(wire)s digest: 1 release", wire=wire)
    else:
        subject = translate(lang, "Your %(wire)s digest: %(count)s releases", wire=wire, count=len(items))

    plain = [subject, ""]
    html = [_html_open(lang, direction, subject), f'<h1 style="{_H1_STYLE}">{escape(subject)}</h1>\n']
    for item in items:
        plain.append(f"* {item.headline}")
        if item.summary:
            plain.append(f"  {item.summary}")
        plain += [f"  {item.url}", ""]
        attrs = f' lang="{escape(item.lang)}" dir="{text_direction(item.lang)}"' if item.lang else ""
        summary = f'<br>\n<span style="color:#3d444d;">{escape(item.summary)}</span>' if item.summary else ""
        title = f"<strong>{escape(item.headline)}</strong>"
        if _is_web_url(item.url):
            title = f'<a href="{escape(item.url)}" style="{_LINK_STYLE}">{title}</a>'
        html.append(f'<p{attrs} style="margin:0 0 16px;">{title}{summary}</p>\n')

    return _shared(
        settings,
        lang=lang,
        subject=subject,
        headers=[
            _list_id(settings, "alerts"),
            _raw("X-Warta-Kind", "digest"),
            _raw("X-Warta-Items", str(len(items))),
        ],
        parts=[
            _Part.build("plain", "\n".join(plain), _text_footer(lang, wire)),
            _Part.build("html", "".join(html), _html_footer(lang, wire)),
        ],
    )


def _cached(job: Mailing) -> _Shared:
    if job.kind == "digest":
        return _digest(job)  # the items differ from recipient to recipient
    bundle = job.bundle
    if job.kind == "withdrawal":
        note = str(job.extra.get("note") or "")
        key = f"email:withdrawal:{bundle.edition.id}:{note}"
        shared = bundle.cache.get(key)
        if shared is None:
            shared = bundle.cache[key] = _withdrawal(bundle, event_for(bundle, "withdrawal", note))
        return shared
    if job.kind == "edition":
        zone = _zone_name(job.recipient.timezone or "UTC") if job.embargoed else ""
        key = f"email:edition:{bundle.edition.id}:{int(job.embargoed)}:{zone}"
        shared = bundle.cache.get(key)
        if shared is None:
            event = event_for(bundle, "edition", early=job.embargoed)
            shared = bundle.cache[key] = _edition(bundle, event, zone)
        return shared
    raise ValueError(f"no email for a {job.kind!r} job")


def _for_event(bundle: RenderedEdition, event: Event) -> _Shared:
    """The shared part of the message announcing ``event`` (an early copy's lift in UTC)."""
    if event.withdrawn:
        key = f"email:withdrawal:{bundle.edition.id}:{event.note}"
        shared = bundle.cache.get(key)
        if shared is None:
            shared = bundle.cache[key] = _withdrawal(bundle, event)
        return shared
    zone = "UTC" if event.early else ""
    key = f"email:edition:{bundle.edition.id}:{int(event.early)}:{zone}"
    shared = bundle.cache.get(key)
    if shared is None:
        shared = bundle.cache[key] = _edition(bundle, event, zone)
    return shared


# --- the message --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _date_at(second: int) -> bytes:
    # a numeric zone ("+0000"): RFC 5322 keeps "GMT" only as obsolete syntax
    return _raw("Date", format_datetime(datetime.fromtimestamp(second, UTC)))


def _date_header() -> bytes:
    """The Date header for now, made once a second (an RFC 5322 date has no finer resolution)."""
    return _date_at(int(time.time()))


def _thread(job: Mailing) -> bytes:
    """In-Reply-To and References for a correction or withdrawal: the recipient's first message
    about the release (its Message-ID, given by the engine as ``job.extra["in_reply_to"]``)."""
    first = job.extra.get("in_reply_to") if job.extra else None
    if not first:
        return b""
    return _raw("In-Reply-To", f"<{first}>") + _raw("References", f"<{first}>")


def build_message(
    job: Mailing, *, message_id: str, unsubscribe: str, sign: bool = True, address: str | None = None
) -> bytes:
    """The complete message for one job, with CRLF line endings, DKIM-signed when configured
    (and ``sign`` is true: a caller may sign it later with `dkim_sign`).

    ``message_id`` is given without angle brackets; ``unsubscribe`` is the recipient's RFC 8058
    one-click URL; ``address`` is the recipient's address as `envelope_address` gave it, when the
    caller has it already. Raises ValueError when the recipient cannot be addressed.
    """
    if not job.endpoint.address:
        raise ValueError("the recipient has no email address")
    if address is None:
        address = envelope_address(job.endpoint.address)
    shared = _cached(job)
    unsubscribing = _raw("List-Unsubscribe", f"<{unsubscribe}>") + _raw(
        "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"
    )
    raw = _assemble(
        shared, _to_header(job.recipient.name, address), message_id, _thread(job) + unsubscribing, unsubscribe
    )
    return dkim_sign(raw, job.bundle.settings) if sign else raw


def _assemble(shared: _Shared, to: bytes, message_id: str, more: bytes, link: str) -> bytes:
    """The message: the shared parts around one recipient's To, Message-ID, threading and list
    headers (``more``), the body's unsubscribe ``link`` encoded in place."""
    boundary = shared.boundary
    head = b"".join(
        [
            shared.from_header,
            to,
            shared.subject_header,
            _date_header(),
            _raw("Message-ID", f"<{message_id}>"),
            more,
            shared.headers,
            _CRLF,
        ]
    )
    body = b"".join(b"--" + boundary + _CRLF + part.render(link) for part in shared.parts)
    return head + body + b"--" + boundary + b"--" + _CRLF


# --- DKIM ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _read_key(path: str, mtime_ns: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def dkim_enabled(settings: Settings) -> bool:
    return bool(settings.dkim_domain and settings.dkim_selector and settings.dkim_key_file)


def dkim_sign(raw: bytes, settings: Settings) -> bytes:
    """``raw`` with a DKIM-Signature header prepended, if ``settings`` names a domain, selector and
    key file; otherwise ``raw`` unchanged. Relaxed/relaxed canonicalisation, rsa-sha256."""
    if not dkim_enabled(settings):
        return raw
    from warta.formats import dkim

    path = settings.dkim_key_file
    key = _read_key(path, os.stat(path).st_mtime_ns)
    return dkim.sign(raw, settings.dkim_selector, settings.dkim_domain, key, DKIM_HEADERS) + raw


# --- the registered format ----------------------------------------------------------------------


@register
class Email(Format):
    """A multipart/alternative message (text and HTML) in the edition's language.

    `render` makes the message as the wire archives it, to no one in particular (``To:
    undisclosed-recipients:;``, the footer's link to the wire's home page). The email channel
    uses `message`, the same message addressed to one recipient: only its To, Message-ID,
    threading and unsubscribe link are made per recipient, the rest once per edition."""

    name = "email"
    media_type = "message/rfc822"

    def render(self, rendered: RenderedEdition, event: Event) -> bytes:
        settings = rendered.settings
        shared = _for_event(rendered, event)
        edition = rendered.edition
        version = withdrawn_version(rendered.release) if event.withdrawn else max(int(edition.version), 1)
        message_id = f"{edition.id}.v{version}.{event.type}@{mail_domain(settings)}"
        to = _raw("To", "undisclosed-recipients:;")
        raw = _assemble(shared, to, message_id, b"", settings.base_url + "/")
        return dkim_sign(raw, settings)

    def message(
        self, mailing: Mailing, *, message_id: str, unsubscribe: str, address: str | None = None
    ) -> bytes:
        """The message for one recipient, not yet DKIM-signed (`sign` does that, off the event loop)."""
        return build_message(
            mailing, message_id=message_id, unsubscribe=unsubscribe, sign=False, address=address
        )

    @staticmethod
    def message_id(settings: Settings, delivery_id: str) -> str:
        return message_id_for(settings, delivery_id)

    @staticmethod
    def envelope_address(address: str) -> str:
        return envelope_address(address)

    @staticmethod
    def mail_domain(settings: Settings) -> str:
        return mail_domain(settings)

    @staticmethod
    def signs(settings: Settings) -> bool:
        return dkim_enabled(settings)

    @staticmethod
    def sign(raw: bytes, settings: Settings) -> bytes:
        return dkim_sign(raw, settings)
