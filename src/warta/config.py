"""Settings, read once from the environment (``WARTA_*``) with sensible defaults."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def _env(name: str, default: str) -> str:
    return os.environ.get(f"WARTA_{name}", default)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Limits:
    """Size limits on everything a publisher sends."""

    request_bytes: int = 6 * 1024 * 1024
    headline_chars: int = 300
    summary_chars: int = 1_000
    body_chars: int = 200_000
    about_chars: int = 5_000
    city_chars: int = 80
    sectors: int = 12
    targets: int = 200
    media_items: int = 20


def without_password(url: str) -> str:
    """A service URL fit to show on a page or in a log: any password in it replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    wire_name: str = "Warta"
    base_url: str = "http://127.0.0.1:8000"
    secret: str = ""
    banned_terms: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    # distribution
    smtp_url: str = "smtp://127.0.0.1:25"  # smtp://[user:pass@]host:port, smtps:// for implicit TLS
    smtp_pool: int = 32  # pooled connections to the relay (Postfix takes 50 from one client by default)
    # child processes that send for channels that can (email): 0 sends from the engine's own process
    sending_processes: int = 0
    mail_from: str = "Warta <wire@warta.invalid>"
    dkim_domain: str = ""
    dkim_selector: str = ""
    dkim_key_file: str = ""
    webhook_allow: tuple[str, ...] = ()  # private/loopback addresses or networks allowed as webhook targets
    webhook_timeout: float = 10.0
    # seconds a WebSub subscription lasts from its verification; the hub grants this whatever a
    # subscriber asks (hub.lease_seconds is a hint), and a subscriber renews by subscribing again
    websub_lease: float = 864_000.0
    stream_replay: int = 1000  # events kept for Last-Event-ID resumption
    stream_heartbeat: float = 15.0
    stream_writers: int = 1  # threads sharing a large publish's socket writes
    retry_base: float = 5.0  # seconds before the first retry; doubles per attempt, with jitter
    # no edition in any of a recipient's languages: send the original
    routing_fallback_to_original: bool = True
    # languages whose machine drafts publish without an editor ("all" for every language)
    publish_machine: tuple[str, ...] = ()
    # seconds past its release time a release waits for its machine editions before it goes out
    # without those not made yet (they follow as additional editions when they are)
    translation_wait: float = 120.0
    # scaled mode: a NATS JetStream URL ("" keeps the in-process bus and every stage in `warta serve`)
    bus_url: str = ""
    bus_namespace: str = "warta"  # the subject root and stream prefix, so deployments can share a server
    lease: float = 60.0  # seconds a delivery worker holds a claimed row without renewing it
    live_max_age: float = 3600.0  # seconds the live stream keeps editions for gateways' replay
    # a submitted release_at / embargo_until may lie this many seconds before the submission (the
    # issuer's clock running behind), and no more than this many days after it
    clock_skew: float = 300.0
    max_horizon_days: float = 730.0
    # slow and idle clients: seconds a connection may take to send a request's headers, its body,
    # and may sit idle between requests, before the server closes it
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 5.0
    stream_per_token: int = 8  # live stream connections one stream token may hold at once

    @property
    def scaled(self) -> bool:
        return bool(self.bus_url)

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("DATA_DIR", "./data")).resolve()
        database_url = _env("DATABASE_URL", f"sqlite:///{data_dir / 'warta.db'}")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            wire_name=_env("WIRE_NAME", "Warta"),
            base_url=_env("BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            secret=os.environ.get("WARTA_SECRET", ""),
            banned_terms=_csv(_env("BANNED_TERMS", "")),
            smtp_url=_env("SMTP_URL", "smtp://127.0.0.1:25"),
            smtp_pool=int(_env("SMTP_POOL", "32")),
            sending_processes=_sending_processes(_env("SENDING_PROCESSES", "auto")),
            mail_from=_env("MAIL_FROM", "Warta <wire@warta.invalid>"),
            dkim_domain=_env("DKIM_DOMAIN", ""),
            dkim_selector=_env("DKIM_SELECTOR", ""),
            dkim_key_file=_env("DKIM_KEY_FILE", ""),
            webhook_allow=_csv(_env("WEBHOOK_ALLOW", "")),
            webhook_timeout=float(_env("WEBHOOK_TIMEOUT", "10")),
            websub_lease=float(_env("WEBSUB_LEASE", "864000")),
            stream_replay=int(_env("STREAM_REPLAY", "1000")),
            stream_heartbeat=float(_env("STREAM_HEARTBEAT", "15")),
            stream_writers=_stream_writers(_env("STREAM_WRITERS", "auto")),
            retry_base=float(_env("RETRY_BASE", "5")),
            routing_fallback_to_original=_env("ROUTING_FALLBACK", "original") == "original",
            publish_machine=_csv(_env("PUBLISH_MACHINE", "")),
            translation_wait=float(_env("TRANSLATION_WAIT", "120")),
            bus_url=_env("BUS_URL", ""),
            bus_namespace=_env("BUS_NAMESPACE", "warta"),
            lease=float(_env("LEASE", "60")),
            live_max_age=float(_env("LIVE_MAX_AGE", "3600")),
            clock_skew=float(_env("CLOCK_SKEW", "300")),
            max_horizon_days=float(_env("MAX_HORIZON_DAYS", "730")),
            header_timeout=float(_env("HEADER_TIMEOUT", "10")),
            body_timeout=float(_env("BODY_TIMEOUT", "30")),
            idle_timeout=float(_env("IDLE_TIMEOUT", "5")),
            stream_per_token=_count("STREAM_PER_TOKEN", _env("STREAM_PER_TOKEN", "8"), 8, least=1),
        )

    def ensure_secret(self) -> str:
        """The server's signing secret: from the environment, or generated once into the data folder."""
        if self.secret:
            return self.secret
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()


def _stream_writers(value: str) -> int:
    """`auto`: a writer thread per core, at most four."""
    return _count("STREAM_WRITERS", value, max(1, min(4, os.cpu_count() or 1)), least=1)


def _sending_processes(value: str) -> int:
    """`auto`: one sending process where the machine has a second core for it, else none."""
    return _count("SENDING_PROCESSES", value, 1 if (os.cpu_count() or 1) > 1 else 0, least=0)


def _count(name: str, value: str, auto: int, least: int) -> int:
    """A setting that is a whole number of at least `least`, or `auto` (or empty) for `auto`."""
    if value.strip().lower() in ("", "auto"):
        return auto
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"WARTA_{name} must be a number or 'auto', not {value!r}") from None
    if count < least:
        raise ValueError(f"WARTA_{name} must be at least {least}")
    return count
