"""Anchors: the best existing tools, run beside Warta in the same benchmark, so figures become ratios.

Email: Postfix's `smtp-sink` and `smtp-source` (Debian package postfix; `make bench-deps`).

- `smtp_sink(port)` runs `smtp-sink -c 127.0.0.1:PORT` (with `-u nobody` as root) as a child process.
  It throws every message away and keeps nothing on disk. `-c` makes it print its running counters
  (`sess=N quit=N mesg=N`, one record per `\\r`) and flush them each time a session ends, a QUIT
  arrives or a message's final dot is received. A thread here reads that pipe and notes the wall-clock
  time at which each increase of `mesg` was read. This gives one arrival time per message at a
  resolution of one pipe read. Under load, several records arrive in one read and share its time,
  so a time can be late by one read but never early. The dump options (`-d`, `-D`) would give
  per-message records too, but they write every message to a file, and that is exactly the cost a
  sink has to avoid.
- `postfix_ceiling(n, message_file)` sends `n` copies of a real Warta message (`smtp-source -F`)
  from `sessions` persistent connections (`-d`: several messages per session, as Warta's pool
  does; neither client pipelines) into that sink. It returns the median rate of three runs, counted
  the same way as Warta's: from the sink's first to its last arrival. `smtp-source`'s own wall time
  (connect to QUIT) is a cross-check.

Live stream: nginx with the Nchan module (packages nginx-light and libnginx-mod-nchan).

- `nchan_server(port, workers)` writes a throwaway nginx.conf (one worker process by default, to
  set against Warta's hub writing from one thread; several to set against its writer threads; logs,
  pid and temporary paths in a temporary directory) with
  `/sub/<channel>` (EventSource subscribers; messages come as `event: release`) and
  `/pub/<channel>` (the publisher), runs `nginx -c CONF -p DIR` in the foreground as a child, waits
  until it answers and stops it at exit. Nchan answers a subscriber with its response headers and a
  `: hi` comment once the subscription is in place. A subscriber has to send
  `Accept: text/event-stream`, otherwise Nchan answers 403.
- `nchan_publish(url, channel, body)` POSTs one message and returns the time just before it was sent.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import free_port

NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
SENDER = "wire@warta.invalid"
RECIPIENT = "j0@news0.example"


def _tool(name: str, *also: str) -> str:
    for candidate in (shutil.which(name), *also):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(f"{name} not found: make bench-deps installs it")


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it listened on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def first_to_last(times: list[float]) -> float | None:
    """Messages per second between the first and the last arrival (sorted times)."""
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return round((len(times) - 1) / (times[-1] - times[0]), 1)


# --- email: Postfix's smtp-sink and smtp-source ---------------------------------------------


class SmtpSink:
    """A running `smtp-sink` and the arrival time of every message it accepted (see the module
    docstring for how these times are taken)."""

    _MESG = re.compile(rb"mesg=(\d+)")

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc, self.port = proc, port
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._seen = 0  # the sink's own message counter, as last read
        self._reader = threading.Thread(target=self._read, name="smtp-sink counters", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        tail = b""
        while chunk := os.read(fd, 65536):
            now = time.time()
            *records, tail = (tail + chunk).split(b"\r")
            for record in reversed(records):
                if m := self._MESG.search(record):
                    count = int(m.group(1))
                    with self._lock:
                        if count > self._seen:
                            self._times.extend([now] * (count - self._seen))
                            self._seen = count
                    break

    def count(self) -> int:
        """Messages accepted since the last `reset()`."""
        with self._lock:
            return len(self._times)

    def times(self) -> list[float]:
        with self._lock:
            return list(self._times)

    def reset(self) -> None:
        with self._lock:
            self._times.clear()

    def wait(self, n: int, timeout: float, every: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while self.count() < n:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                return False
            time.sleep(every)
        return True


@contextlib.contextmanager
def smtp_sink(port: int) -> Iterator[SmtpSink]:
    """Postfix's smtp-sink on 127.0.0.1:`port`: accepts everything, keeps nothing, counts."""
    binary = _tool("smtp-sink", "/usr/sbin/smtp-sink")
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(
        [binary, *user, "-c", "-m", "1024", f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "smtp-sink")
        yield SmtpSink(proc, port)
    finally:
        _stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def smtp_source_file(message: bytes, path: Path) -> Path:
    """`message` as `smtp-source -F` wants it: plain lines (it adds CRLF to each line itself and
    dot-stuffs), so a CRLF message is written with LF line ends."""
    path.write_bytes(message.replace(b"\r\n", b"\n"))
    return path


def postfix_ceiling(
    n: int,
    message_bytes_file: str | Path,
    sessions: int = 20,
    runs: int = 3,
    port: int | None = None,
    persistent: bool = True,
) -> dict[str, Any]:
    """`n` copies of the message in `message_bytes_file` (as received: CRLF line ends, not dot-stuffed)
    from `sessions` smtp-source sessions into smtp-sink; the median of `runs` runs. `persistent`
    sessions carry message after message (`-d`, as Warta's pool does); otherwise each message has
    a connection of its own (smtp-source's default)."""
    source = _tool("smtp-source", "/usr/sbin/smtp-source")
    port = port or free_port()
    message = Path(message_bytes_file).read_bytes()
    rates: list[float] = []
    wall_rates: list[float] = []
    arrived: list[int] = []
    with tempfile.TemporaryDirectory(prefix="warta-bench-postfix-") as tmp, smtp_sink(port) as sink:
        lines = smtp_source_file(message, Path(tmp) / "message.txt")
        cmd = [source, *(["-d"] if persistent else []), "-s", str(sessions), "-m", str(n), "-F", str(lines)]
        cmd += ["-f", SENDER, "-t", RECIPIENT, f"127.0.0.1:{port}"]
        for _ in range(runs):
            sink.reset()
            start = time.time()
            done = subprocess.run(cmd, capture_output=True, timeout=max(60.0, n / 100))
            wall = time.time() - start
            if done.returncode != 0:
                raise RuntimeError(f"smtp-source failed: {done.stderr.decode(errors='replace')[-500:]}")
            sink.wait(n, timeout=10)
            times = sorted(sink.times())
            arrived.append(len(times))
            rate = first_to_last(times)
            if rate:
                rates.append(rate)
            wall_rates.append(round(n / wall, 1))
    return {
        "per_s": round(statistics.median(rates), 1) if rates else None,
        "per_s_runs": rates,
        "spread_pct": round((max(rates) - min(rates)) / statistics.median(rates) * 100, 1) if rates else None,
        "wall_per_s": round(statistics.median(wall_rates), 1),
        "sessions": sessions,
        "persistent": persistent,
        "messages": n,
        "arrived": min(arrived) if arrived else 0,
        "runs": runs,
        "message_bytes": len(message),
    }


# --- the live stream: nginx + Nchan ---------------------------------------------------------

NGINX_CONF = """\
load_module {module};
worker_processes {workers};
worker_rlimit_nofile {nofile};
daemon off;
master_process on;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{
    worker_connections {connections};
    multi_accept on;
}}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_timeout 600s;
    server {{
        listen 127.0.0.1:{port} backlog=4096{reuseport};
        location ~ ^/sub/([\\w-]+)$ {{
            nchan_subscriber eventsource;
            nchan_channel_id $1;
            nchan_eventsource_event release;
            nchan_subscriber_timeout 0;
        }}
        location ~ ^/pub/([\\w-]+)$ {{
            nchan_publisher;
            nchan_channel_id $1;
        }}
    }}
}}
"""


def _nofile() -> int:
    """The most open files this process may have (nginx cannot go past the hard limit either)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1_048_576 if hard == resource.RLIM_INFINITY else hard


@contextlib.contextmanager
def nchan_server(port: int, workers: int = 1) -> Iterator[str]:
    """nginx + Nchan on 127.0.0.1:`port` with `workers` worker processes (several share the port
    with `reuseport`, so the kernel spreads the connections); yields its base URL."""
    if not NCHAN_MODULE.exists():
        raise RuntimeError(f"{NCHAN_MODULE} not found: make bench-deps installs libnginx-mod-nchan")
    nginx = _tool("nginx", "/usr/sbin/nginx")
    nofile = min(_nofile(), 65_536)
    with tempfile.TemporaryDirectory(prefix="warta-bench-nchan-") as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                module=NCHAN_MODULE,
                nofile=nofile,
                connections=max(1024, min(40_000, nofile - 100)),
                user="user root;" if os.geteuid() == 0 else "",
                tmp=tmp,
                port=port,
                workers=workers,
                reuseport=" reuseport" if workers > 1 else "",
            )
        )
        proc = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", tmp, "-e", f"{tmp}/error.log"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                _wait_port(port, proc, "nginx")
            except (OSError, RuntimeError) as exc:
                log = Path(tmp) / "error.log"
                errors = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"nginx did not start: {exc}\n{errors}") from exc
            yield url
        finally:
            _stop(proc)  # SIGTERM: nginx's fast shutdown, which does not wait for open subscribers


def nchan_publish(url: str, channel: str, body: bytes) -> tuple[float, int]:
    """POST one message to /pub/`channel`; the time just before the request went out and the status.
    The connection is opened first so that the time counts the publish, not the TCP handshake."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.connect()
        since = time.time()
        conn.request("POST", f"/pub/{channel}", body=body, headers={"Content-Type": "application/json"})
        status = conn.getresponse().status
    finally:
        conn.close()
    return since, status
