"""DKIM: the CPU cost per message of signing as Warta signs, beside the cost of building the message.

Warta builds each email with `warta.formats.email.build_message(..., sign=False)` and then, when a
DKIM domain, selector and key file are configured, signs it with `warta.formats.email.dkim_sign`
(`warta.formats.dkim`: relaxed/relaxed, rsa-sha256, the headers in `DKIM_HEADERS`, the RSA step in
OpenSSL through `cryptography`). Both functions are called here directly, in one thread, so the
figures are one core's work and nothing else: no server, no SMTP, no database.

The anchor is dkimpy (`dkim.sign`), the usual Python DKIM library, signing the same messages with the
same key, canonicalisation and headers; it does the RSA step with Python's `pow`. For scale,
`openssl speed rsa2048` gives the bare private-key operation in C on the same core.

Each message is timed in CPU time of the measuring thread (`time.thread_time`), so the figures are
the work per message even when other processes share the machine; per second is on one core, from
the total of that CPU time, with the wall-clock rate beside it.

The message is an English edition of about 10 kB (multipart/alternative, text and HTML parts, base64)
built from transient model objects, as the email channel builds it for each journalist: the shared
parts are rendered once per edition and cached, and each message gets its own recipient, Date,
Message-ID and unsubscribe link. The key is a fresh RSA 2048-bit key made by `openssl genrsa`
(dkimpy's `dknewkey.GenRSAKeys`) in a temporary directory, since `dkim_sign` reads a key file.
Warta signs with rsa-sha256 only, so no ed25519 figure.

python -m bench dkim
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import save, summary

# per figure; RSA 2048 in pure Python costs milliseconds, so this is a few seconds
MESSAGES = int(os.environ.get("WARTA_BENCH_DKIM", "") or 300)
WARMUP = 20
RELEASED = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)

PARAGRAPHS = [
    "Pelabuhan Selatan Berhad today opened a container terminal whose cranes and yard vehicles run "
    "on rooftop solar power and batteries. The terminal handles 1.2 million containers a year and "
    "cuts the port's diesel use by a third, the company said at the opening in Port Klang.",
    "The terminal's twelve ship-to-shore cranes draw on 40 megawatts of panels laid over the "
    "warehouses and the truck park, and on a battery hall that stores the midday surplus for the "
    "night shift. Automated stacking cranes in the yard are electric, and the fleet of terminal "
    "tractors was replaced by battery vehicles charged between moves.",
    "Shipping lines calling at the port have asked for greener calls, the chief executive said, and "
    "the company answered with a terminal that needs no diesel at all on a sunny day. Construction "
    "took two years and employed workers from the whole region; most of the steel was made locally.",
    "A software system schedules every crane and vehicle so that energy-hungry moves happen while "
    "the sun is highest, and a high-speed private network links the equipment to the control "
    "tower. The company expects the system to shorten the time a vessel spends alongside by a fifth.",
    "The project cost 300 million ringgit, financed by a green bond issued last year and by the "
    "company's own funds. The bond's investors receive an annual report on the energy the terminal "
    "uses and the emissions it avoids, checked by an independent auditor.",
    "Trade unions welcomed the new jobs but asked for training for the drivers whose diesel "
    "tractors were retired. The company said every driver had been offered a place on a course "
    "for the electric fleet, and that nobody had lost work because of the change.",
    "The port authority said the terminal would serve as a model for the other ports on the "
    "peninsula, several of which plan similar installations. A second phase, adding shore power "
    "for ships at berth, is due to start next year once the grid connection is upgraded.",
    "Analysts said the terminal puts the port among the first in the region to run its cargo "
    "handling without fossil fuel, and that the lower running costs could attract transhipment "
    "traffic from larger neighbours if the savings are passed on to shipping lines.",
]


def _settings(data_dir: Path, key_file: str = "") -> Any:
    from warta.config import Settings

    return Settings(
        data_dir=data_dir,
        database_url="sqlite://",
        secret="x" * 32,
        base_url="https://wire.example",
        smtp_url="smtp://127.0.0.1:2525",
        mail_from="Warta <wire@warta.test>",
        dkim_domain="warta.test" if key_file else "",
        dkim_selector="sel1" if key_file else "",
        dkim_key_file=key_file,
    )


def _bundle(settings: Any) -> Any:
    """An English edition of about 10 kB as email, built from model objects that never see a database."""
    from warta.editions.render import wire_text
    from warta.editions.rendered import RenderedEdition
    from warta.model import Edition, Organisation, Release, ReleaseVersion

    headline = "Pelabuhan Selatan opens a solar-powered container terminal"
    summary_text = "Cranes and yard vehicles run on rooftop solar and batteries."
    body = "".join(f"<p>{p}</p>\n" for p in PARAGRAPHS)
    about = "<p>Pelabuhan Selatan Berhad runs container terminals in Malaysia.</p>"
    org = Organisation(
        id="org_bench", name="Pelabuhan Selatan Berhad", slug="pelabuhan", about="", verified=True
    )
    release = Release(
        id="rel_bench",
        org_id=org.id,
        submitted_by="usr_1",
        status="published",
        language="en",
        dateline_city="Kuala Lumpur",
        dateline_country="MY",
        sectors=["business", "medtop:04000000"],
        target_countries=["MY"],
        target_languages=["en"],
        target_circuits=[],
        release_at=RELEASED,
        embargo_until=None,
        public_at=RELEASED,
        version=1,
        created_at=RELEASED,
        updated_at=RELEASED,
    )
    version = ReleaseVersion(
        release_id=release.id,
        version=1,
        headline=headline,
        summary=summary_text,
        body_html=body,
        about=about,
        contact={"name": "Aisyah Rahman", "email": "media@pelabuhan.example", "phone": "+60 3 1234 5678"},
        media=[],
    )
    edition = Edition(
        id="edn_bench_en",
        release_id=release.id,
        version=1,
        lang="en",
        headline=headline,
        summary=summary_text,
        body_html=body,
        about=about,
        origin="original",
        engine=None,
        tier="publishable",
        status="published",
        digest="0" * 64,
        signature="0" * 64,
        created_at=RELEASED,
        updated_at=RELEASED,
    )
    text = wire_text(settings, release, version, edition, org)
    return RenderedEdition(settings, release, version, edition, org, text, [edition])


def _job(bundle: Any, n: int) -> Any:
    from warta.delivery.base import EndpointView, Job, RecipientView

    async def commit_point() -> None:
        return None

    recipient = RecipientView(
        id=f"rcp_{n:06d}",
        kind="journalist",
        name=f"Journalist {n}",
        country="MY",
        languages=("en",),
        sectors=(),
        embargo_trusted=False,
        locale="en",
        timezone="Asia/Kuala_Lumpur",
        endpoints=(EndpointView(f"end_{n:06d}", "email", f"reader{n}@news.example", None, None),),
    )
    return Job(
        delivery_id=f"dlv_{n:08d}",
        channel="email",
        kind="edition",
        lane="smtp:127.0.0.1:2525",
        attempt=1,
        embargoed=False,
        recipient=recipient,
        bundle=bundle,
        commit_point=commit_point,
        endpoint=recipient.endpoints[0],
    )


def _build(bundle: Any, n: int) -> bytes:
    """One message as the email channel builds it before signing."""
    from warta.delivery.tokens import unsubscribe_url
    from warta.formats.email import build_message, message_id_for

    settings = bundle.settings
    job = _job(bundle, n)
    return build_message(
        job,
        message_id=message_id_for(settings, job.delivery_id),
        unsubscribe=unsubscribe_url(settings, job.recipient.id),
        sign=False,
    )


def _figures(samples: list[float], wall: float) -> dict[str, Any]:
    """`summary()` of CPU-time samples; per second on one core from their total, and by the wall clock."""
    return {
        **summary(samples),
        "per_s": round(len(samples) / sum(samples), 1),
        "wall_per_s": round(len(samples) / wall, 1),
    }


def measure(messages: int = MESSAGES) -> dict[str, Any]:
    from dkim import dknewkey

    from warta.formats.email import DKIM_HEADERS, dkim_sign

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="warta-bench-dkim-") as tmp:
        key = Path(tmp) / "sel1.key"
        dknewkey.GenRSAKeys(str(key), verbose=False)
        plain = _settings(Path(tmp))
        signed = _settings(Path(tmp), str(key))
        bundle = _bundle(plain)
        signing_bundle = _bundle(signed)

        # building: the edition's shared parts are cached after the first message, as in a real run
        for n in range(WARMUP):
            _build(bundle, n)
        samples, sizes = [], []
        start = time.perf_counter()
        for n in range(messages):
            t = time.thread_time()
            raw = _build(bundle, WARMUP + n)
            samples.append(time.thread_time() - t)
            sizes.append(len(raw))
        out["email_build_unsigned"] = {
            **_figures(samples, time.perf_counter() - start),
            "mean_bytes": round(sum(sizes) / len(sizes)),
        }

        # signing alone: dkim_sign on messages built beforehand (the key file is read once, then cached)
        raws = [_build(signing_bundle, n) for n in range(messages + WARMUP)]
        for raw in raws[:WARMUP]:
            dkim_sign(raw, signed)
        samples = []
        start = time.perf_counter()
        for raw in raws[WARMUP:]:
            t = time.thread_time()
            result = dkim_sign(raw, signed)
            samples.append(time.thread_time() - t)
        wall = time.perf_counter() - start
        assert result.startswith(b"DKIM-Signature:"), "dkim_sign did not sign"
        header = result[: len(result) - len(raws[-1])]
        out["dkim_sign_rsa2048"] = {
            **_figures(samples, wall),
            "key_bits": dknewkey.BITS_REQUIRED,
            "algorithm": "rsa-sha256",
            "canonicalization": "relaxed/relaxed",
            "signed_headers": len(DKIM_HEADERS),
            "signature_bytes": len(header),
            "mean_bytes": round(sum(len(r) for r in raws) / len(raws)),
        }

        # the anchor: dkimpy, the usual Python DKIM library, signing the same messages the same way
        import dkim

        pem = key.read_bytes()
        names = [name.lower().encode("ascii") for name in DKIM_HEADERS]
        samples = []
        start = time.perf_counter()
        for raw in raws[WARMUP:]:
            t = time.thread_time()
            dkim.sign(
                raw, b"sel1", b"warta.test", pem, canonicalize=(b"relaxed", b"relaxed"), include_headers=names
            )
            samples.append(time.thread_time() - t)
        out["dkimpy_sign_rsa2048"] = _figures(samples, time.perf_counter() - start)

        # both, as the channel does per message
        samples = []
        start = time.perf_counter()
        for n in range(messages):
            t = time.thread_time()
            dkim_sign(_build(signing_bundle, 10 * messages + n), signed)
            samples.append(time.thread_time() - t)
        build_p50 = out["email_build_unsigned"]["p50_ms"]
        out["email_build_and_sign_rsa2048"] = {
            **_figures(samples, time.perf_counter() - start),
            "sign_share": round(1 - build_p50 / summary(samples)["p50_ms"], 3),
        }
    return out


def openssl_rsa2048(seconds: int = 1) -> dict[str, Any] | None:
    """RSA 2048 private-key operations per second of CPU time in OpenSSL (`openssl speed` counts user time
    unless told `-elapsed`), one process."""
    binary = shutil.which("openssl")
    if binary is None:
        return None
    out = subprocess.run(
        [binary, "speed", "-seconds", str(seconds), "-mr", "rsa2048"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # machine-readable lines: "+R1:<private ops>:2048:<seconds>" (on stderr), "+F2:<n>:2048:<private ops/s>:
    # <public ops/s>" (on stdout)
    text = out.stdout + out.stderr
    counted = re.search(r"^\+R1:(\d+):2048:([\d.]+)", text, re.MULTILINE)
    rated = re.search(r"^\+F2:\d+:2048:([\d.]+):", text, re.MULTILINE)
    if out.returncode != 0 or counted is None:
        return None
    ops, took = int(counted.group(1)), float(counted.group(2))
    per_s = float(rated.group(1)) if rated else ops / took
    version = subprocess.run([binary, "version"], capture_output=True, text=True).stdout.strip()
    return {
        "n": ops,
        "per_s": round(per_s, 1),
        "mean_ms": round(1000 / per_s, 3),
        "version": version.split(" (")[0],
    }


def run() -> dict[str, Any]:
    started = time.perf_counter()
    results = measure()
    reference = openssl_rsa2048()
    if reference is not None:
        results["openssl_rsa2048_sign"] = reference
    save(
        "dkim",
        {
            "results": results,
            "note": "Per-message figures are CPU time of one thread; per second is on one core. Warta signs "
            "rsa-sha256 only, so ed25519 is not measured.",
            "took_s": round(time.perf_counter() - started),
        },
    )
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(measure(50), indent=2))
