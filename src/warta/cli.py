"""The `warta` command: serve, demo, submit, review, admin, recipients."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from warta.config import Settings, without_password
from warta.gc_tuning import tune_gc

app = typer.Typer(help="Warta: a self-hosted, multilingual newswire.", no_args_is_help=True)
admin_app = typer.Typer(help="Organisations and users, straight in the database.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
recipients_app = typer.Typer(help="The wire's audience.", no_args_is_help=True)
app.add_typer(recipients_app, name="recipients")
review_app = typer.Typer(
    help="The desk's queue of held releases, through a running server.", no_args_is_help=True
)
app.add_typer(review_app, name="review")
console = Console(stderr=True)

UrlOption = Annotated[
    str | None,
    typer.Option(
        envvar="WARTA_URL",
        help="server URL (default: WARTA_URL, else the address the last `warta serve` of this data folder used)",
        show_default=False,
    ),
]
KeyOption = Annotated[str, typer.Option(envvar="WARTA_API_KEY", help="API key", show_default=False)]
DEFAULT_URL = "http://127.0.0.1:8000"
SERVED_URL_FILE = "served-url"


def _store(settings: Settings) -> Any:
    from warta.store import Store

    store = Store(settings.database_url)
    store.migrate()
    return store


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="load demo data (once) and print fresh demo keys")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the API, the newsroom and the embedded stages in one process."""
    import dataclasses

    from warta.web import server
    from warta.web.app import create_app

    settings = Settings.from_env()
    if "WARTA_BASE_URL" not in os.environ:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        settings = dataclasses.replace(settings, base_url=f"http://{shown}:{port}")
    _remember_url(settings, f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}")
    catcher = None
    if demo:
        from warta.demo import demo_settings, load_demo

        settings = demo_settings(settings)
        catcher = _mail_catcher(settings)
        if catcher is not None:
            settings = dataclasses.replace(settings, smtp_url=catcher.smtp_url)
        store = _store(settings)
        keys = load_demo(store, dataclasses.replace(settings, secret=settings.ensure_secret()))
        store.close()
        _print_welcome(settings, keys)
        _print_mail(settings, catcher)
    app = create_app(settings)
    if catcher is not None:
        app.state.outbox = catcher.outbox
    tune_gc()
    try:
        server.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=3)
    finally:
        if catcher is not None:
            catcher.stop()


def _mail_catcher(settings: Settings) -> Any:
    """A demo wire with no relay of its own (WARTA_SMTP_URL unset, embedded mode) catches its mail."""
    if "WARTA_SMTP_URL" in os.environ or settings.scaled:
        return None
    from warta.delivery.catcher import MailCatcher, Outbox

    catcher = MailCatcher(Outbox(settings.data_dir))
    catcher.start()
    return catcher


def _print_mail(settings: Settings, catcher: Any) -> None:
    out = Console(soft_wrap=True)
    if catcher is None:
        out.print(f"Email:         sent to the relay {without_password(settings.smtp_url)} (WARTA_SMTP_URL)")
    else:
        out.print(
            f"Email:         no relay set, so a mail catcher on {catcher.smtp_url} keeps every message; "
            f"see {settings.base_url}/outbox (sign in with the editor's or admin's key). "
            "To send for real, set WARTA_SMTP_URL=smtp://host:port"
        )
    out.rule()


@app.command()
def worker(
    stage: Annotated[
        list[str],
        typer.Option(
            "--stage",
            "-s",
            help="stage to run: editions, scheduler, routing, delivery, digests, or all; repeat for several",
        ),
    ],
    log_level: Annotated[str, typer.Option(help="log level")] = "info",
) -> None:
    """Run stages in scaled mode (WARTA_BUS_URL=nats://…, WARTA_DATABASE_URL=postgresql://…).

    Start as many copies of any stage as the load needs: they share the work through NATS
    JetStream and the ledger in PostgreSQL. Stops cleanly on SIGTERM or Ctrl-C."""
    import asyncio
    import dataclasses
    import logging

    from warta.runtime import STAGES, Runtime

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if not settings.scaled:
        _fail("workers run in scaled mode: set WARTA_BUS_URL=nats://… (and a PostgreSQL WARTA_DATABASE_URL)")
    if settings.database_url.startswith("sqlite"):
        _fail("workers share one ledger: set WARTA_DATABASE_URL=postgresql://…")
    stages = set(STAGES) if "all" in stage else set(stage)
    unknown = stages - set(STAGES)
    if unknown:
        _fail(f"unknown stage {', '.join(sorted(unknown))}; stages are {', '.join(STAGES)} or all")
    settings = dataclasses.replace(settings, secret=settings.ensure_secret())
    store = _store(settings)
    runtime = Runtime(settings, store, stages)
    tune_gc()
    asyncio.run(_run_until_signalled(runtime.start, runtime.stop, f"worker: {', '.join(runtime.stages)}"))
    store.close()


@app.command()
def gateway(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8100,
    subject: Annotated[
        list[str] | None,
        typer.Option(help="live subjects to follow (default: all), e.g. 'warta.edition.*.MY.>'; repeat"),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    backlog: Annotated[int, typer.Option(help="listen backlog")] = 4096,
) -> None:
    """Run a stream gateway: desktops' Server-Sent Events, fed by the live stream (scaled mode)."""
    from warta.web import server
    from warta.web.gateway import create_gateway_app

    settings = Settings.from_env()
    if not settings.scaled:
        _fail("a gateway reads the live stream: set WARTA_BUS_URL=nats://…")
    app = create_gateway_app(settings, subject or ())
    tune_gc()
    server.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        backlog=backlog,
        timeout_graceful_shutdown=3,
    )


async def _run_until_signalled(start: Any, stop: Any, what: str) -> None:
    import asyncio
    import logging
    import signal

    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await start()
    logging.getLogger("warta").info("%s started", what)
    try:
        await done.wait()
    finally:
        await stop()


def _print_welcome(settings: Settings, keys: dict[str, str]) -> None:
    out = Console(soft_wrap=True)
    out.rule(f"[bold]{settings.wire_name}[/bold] is starting")
    out.print(f"Newsroom:      {settings.base_url}/")
    out.print(f"API docs:      {settings.base_url}/docs")
    out.print(f"Atom feed:     {settings.base_url}/feeds/atom.xml")
    out.print(f"Data folder:   {settings.data_dir}")
    out.print(
        "API keys (issued afresh at every start with --demo, and the ones printed before stop working; "
        "send as 'Authorization: Bearer <key>'):"
    )
    for who, key in keys.items():
        out.print(f"  {who:<34} {key}")
    out.print(
        f"Shell exports: source {settings.data_dir / 'demo-keys.env'}   # ADMIN_KEY, EDITOR_KEY, ISSUER_KEY"
    )


@app.command()
def demo() -> None:
    """Load the demo organisations, users and releases into the data folder, and print their keys."""
    import dataclasses

    from warta.demo import load_demo

    settings = Settings.from_env()
    store = _store(settings)
    keys = load_demo(store, dataclasses.replace(settings, secret=settings.ensure_secret()))
    store.close()
    _print_welcome(settings, keys)
    Console(soft_wrap=True).rule()


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help=".md, .html or .docx file with the release body", exists=True)],
    headline: Annotated[str | None, typer.Option(help="default: the file's first heading")] = None,
    city: Annotated[str | None, typer.Option(help="dateline city")] = None,
    country: Annotated[str | None, typer.Option(help="dateline country, ISO 3166 alpha-2")] = None,
    sector: Annotated[list[str] | None, typer.Option(help="Media Topic code or wire section; repeat")] = None,
    language: Annotated[str | None, typer.Option(help="language of the release (BCP 47)")] = None,
    summary: Annotated[str, typer.Option(help="one-paragraph summary")] = "",
    about: Annotated[
        str | None, typer.Option(help='"About" boilerplate (default: the organisation\'s)')
    ] = None,
    contact_name: Annotated[str, typer.Option(help="media contact name")] = "",
    contact_email: Annotated[str, typer.Option(help="media contact email")] = "",
    contact_phone: Annotated[str, typer.Option(help="media contact phone")] = "",
    release_at: Annotated[str | None, typer.Option(help="ISO 8601 with zone; default now")] = None,
    embargo_until: Annotated[str | None, typer.Option(help="ISO 8601 with zone")] = None,
    meta: Annotated[
        Path | None, typer.Option(help="JSON file with any release fields (options override)")
    ] = None,
    url: UrlOption = None,
    key: KeyOption = "",
) -> None:
    """Submit a release file to a running server and print its review outcome as JSON.

    Without --headline (or one in --meta), the server takes the file's first heading."""
    try:
        fields: dict[str, Any] = json.loads(meta.read_text()) if meta else {}
    except (OSError, ValueError) as exc:
        _fail(f"--meta {meta}: not a JSON file ({exc})")
    if not isinstance(fields, dict):
        _fail(f"--meta {meta}: must hold a JSON object")
    if headline:
        fields["headline"] = headline
    dateline = fields.setdefault("dateline", {})
    if city:
        dateline["city"] = city
    if country:
        dateline["country"] = country
    if sector:
        fields["sectors"] = sector
    for name, value in (
        ("language", language),
        ("about", about),
        ("release_at", release_at),
        ("embargo_until", embargo_until),
    ):
        if value is not None:
            fields[name] = value
    if summary:
        fields["summary"] = summary
    contact = fields.setdefault("contact", {})
    for name, value in (("name", contact_name), ("email", contact_email), ("phone", contact_phone)):
        if value:
            contact[name] = value
    with file.open("rb") as fh:
        release = _call(
            "POST",
            url,
            "/api/v1/releases",
            key,
            files={"file": (file.name, fh)},
            data={"release": json.dumps(fields)},
        )
    print(json.dumps(release, ensure_ascii=False, indent=2))


def _fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit: what went wrong, said as a tool says it."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


# --- client commands: they talk to a running server ---------------------------------------------


def _remember_url(settings: Settings, url: str) -> None:
    """Write where this server listens into the data folder, for client commands run beside it."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / SERVED_URL_FILE).write_text(url + "\n")


def _server_url(url: str | None) -> str:
    if url:
        return url.rstrip("/")
    try:
        remembered = (Settings.from_env().data_dir / SERVED_URL_FILE).read_text().strip()
    except OSError:
        remembered = ""
    return remembered.rstrip("/") or DEFAULT_URL


def _call(method: str, url: str | None, path: str, key: str, **kwargs: Any) -> Any:
    """One API request; its JSON answer, or one line saying why there is none, and a non-zero exit."""
    import httpx

    if not key:
        _fail("no API key: pass --key or set WARTA_API_KEY")
    base = _server_url(url)
    try:
        resp = httpx.request(
            method, base + path, headers={"Authorization": f"Bearer {key}"}, timeout=60, **kwargs
        )
    except httpx.TransportError:
        _fail(f"cannot reach {base} — is `warta serve` running? set --url or WARTA_URL", 1)
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    if resp.status_code >= 400:
        _fail(_error_line(resp.status_code, answer, resp.text), 1)
    if answer is None and resp.status_code != 204:
        _fail(f"{base} answered {resp.status_code} without JSON: is it a Warta server?", 1)
    return answer


def _error_line(status: int, answer: Any, text: str) -> str:
    """The wire's error shape ({"error": {"message", "field"?, "details"?}}) as one line."""
    err = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(err, dict):
        return f"HTTP {status}: {' '.join(text.split())[:300]}"
    details = err.get("details")
    if isinstance(details, list) and len(details) > 1:
        said = [
            f"{d['field']}: {d.get('reason')}" if d.get("field") else str(d.get("reason")) for d in details
        ]
        return f"HTTP {status}: " + "; ".join(said)
    message, field = str(err.get("message", "")), err.get("field")
    if field and not message.startswith(f"{field}:"):
        message = f"{field}: {message}"
    return f"HTTP {status}: {message}"


@review_app.command("list")
def review_list(
    url: UrlOption = None,
    key: KeyOption = "",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Held releases, oldest first, with why each is held (an editor's key)."""
    items = _call("GET", url, "/api/v1/review", key)["items"]
    if as_json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        print("no release is held")
    for r in items:
        rules = (r.get("review") or {}).get("rules", [])
        reasons = "; ".join(v["reason"] for v in rules if v.get("verdict") == "hold")
        headline = r["editions"][0]["headline"] if r.get("editions") else ""
        print(f"{r['id']}  {r['status']}  {r['organisation']['name']}  {headline}  [{reasons}]")


@review_app.command("approve")
def review_approve(
    release_id: Annotated[str, typer.Argument(help="the release's id")],
    note: Annotated[str, typer.Option(help="a note for the record")] = "",
    url: UrlOption = None,
    key: KeyOption = "",
) -> None:
    """Approve a held release: it is published at its release time."""
    release = _call("POST", url, f"/api/v1/releases/{release_id}/approve", key, json={"note": note})
    print(f"{release['id']} {release['status']}, release at {release['release_at']}")


@review_app.command("reject")
def review_reject(
    release_id: Annotated[str, typer.Argument(help="the release's id")],
    reason: Annotated[str, typer.Option(help="why, for the issuer")],
    url: UrlOption = None,
    key: KeyOption = "",
) -> None:
    """Reject a held release, telling the issuer why."""
    release = _call("POST", url, f"/api/v1/releases/{release_id}/reject", key, json={"reason": reason})
    print(f"{release['id']} {release['status']}: {release['reject_reason']}")


@admin_app.command("create-org")
def create_org(
    name: Annotated[str, typer.Option(help="organisation name")],
    domain: Annotated[str | None, typer.Option(help="its web domain")] = None,
    verified: Annotated[bool, typer.Option("--verified", help="verified issuer (not held for that)")] = False,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="trusted: holds are waived")] = False,
    about: Annotated[str, typer.Option(help='default "About" boilerplate')] = "",
    user: Annotated[str | None, typer.Option(help="name of its first issuer user")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Create an issuing organisation with a first issuer user and API key."""
    from warta.intake import keys

    store = _store(Settings.from_env())
    with store.session() as s:
        org = keys.create_org(s, name, domain, verified=verified, auto_approve=auto_approve, about=about)
        issuer, key = keys.create_user(s, user or f"{name} issuer", "issuer", org.id)
        result = {"id": org.id, "slug": org.slug, "user_id": issuer.id, "api_key": key}
    store.close()
    _emit(result, as_json)


@admin_app.command("create-user")
def create_user(
    name: Annotated[str, typer.Option(help="the user's name")],
    role: Annotated[str, typer.Option(help="issuer, editor or admin")] = "issuer",
    org: Annotated[str | None, typer.Option(help="organisation id (issuers)")] = None,
    email: Annotated[str | None, typer.Option(help="email")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Create a user and print its API key (shown this once)."""
    from warta.errors import Invalid
    from warta.intake import people
    from warta.intake.sanitize import ContentError

    store = _store(Settings.from_env())
    try:
        with store.session() as s:
            user, key = people.create_user(s, name, role, org, email)
            result = {"id": user.id, "role": user.role, "org_id": user.org_id, "api_key": key}
    except Invalid as exc:
        _fail(f"no organisation {org}" if exc.field == "org_id" else exc.message)
    except ContentError as exc:
        _fail(f"{exc.field}: {exc.reason}")
    finally:
        store.close()
    _emit(result, as_json)


@admin_app.command("verify-org")
def verify_org(
    org: Annotated[str, typer.Argument(help="organisation id or slug")],
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="also waive holds")] = False,
) -> None:
    """Mark an organisation verified (and optionally trusted)."""
    from warta.errors import NotFound
    from warta.intake import people

    store = _store(Settings.from_env())
    try:
        with store.session() as s:
            people.verify_organisation(s, org, auto_approve=auto_approve)
    except NotFound as exc:
        _fail(exc.message)
    finally:
        store.close()
    console.print(f"{org} verified")


def _emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
        print("Keep the API key: it is stored only as a digest and cannot be shown again.", file=sys.stderr)


@recipients_app.command("import")
def import_recipients(
    file: Annotated[Path, typer.Argument(help="CSV with a header row", exists=True, dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Import recipients from CSV: valid rows are kept, each bad row is reported with its reason.

    Columns: kind, name, country, languages (';'-separated, preferred first), sectors (';'),
    email, webhook_url, webhook_format, embargo_trusted (true/false), locale, timezone,
    status (active/paused), external_id. Rows with a known external_id update that recipient.
    """
    import dataclasses

    from warta.demo import demo_settings, is_demo_recipients_file
    from warta.routing.importer import import_csv

    settings = Settings.from_env()
    settings = dataclasses.replace(settings, secret=settings.ensure_secret())
    if is_demo_recipients_file(settings, file):
        settings = demo_settings(settings)  # its outlet posts to the demo wire itself, on 127.0.0.1
    store = _store(settings)
    try:
        summary = import_csv(store, settings, file, progress=not as_json)
    finally:
        store.close()
    if as_json:
        print(json.dumps(summary))
    else:
        console.print(
            f"created {summary['created']}, updated {summary['updated']}, rejected {len(summary['errors'])}"
        )
        for err in summary["errors"][:50]:
            console.print(f"  line {err['line']}: {err['field']}: {err['reason']}")
        if len(summary["errors"]) > 50:
            console.print(f"  ... and {len(summary['errors']) - 50} more")
    if summary["errors"] and not summary["created"] and not summary["updated"]:
        raise typer.Exit(1)


def main() -> None:
    app()
