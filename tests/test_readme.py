"""The README's walk-through, run as written: every ```sh block, in order, against a served wire.

The first block is `make run`; the test starts what its recipe runs (`warta serve --demo`) on a
free port, with a fresh data folder `data/` in a scratch folder that also holds `.venv` (the
project's) and `release.docx` (a Word file whose first heading is its title, as a reader's own
would be). Every other block runs in bash there, in order, with `http://127.0.0.1:8000` read as
the served address; what a block exports is there for the next. Each block's visible result is
checked against what the README says it shows.
"""

from __future__ import annotations

import io
import re
import subprocess
import time
from pathlib import Path

import httpx

from conftest import ROOT, free_port, make_env

README = ROOT / "README.md"
SHOWN_AT = "http://127.0.0.1:8000"

# (a command the block runs, what its output must show), one per block after `make run`; a block
# that only reads may be run again for up to LOOK_AGAIN seconds, as a reader reloads a page
# while an email is on its way
LOOK_AGAIN = 30.0
READS_ONLY = {"/deliveries", "/outbox/sign-in"}
EXPECTED: list[tuple[str, list[str]]] = [
    ("source data/demo-keys.env", ['"role":"editor"', "Desk Editor"]),
    ("warta recipients import", ["created 6, updated 0, rejected 0"]),
    ("warta admin create-org", []),
    ("/api/v1/releases -d @-", ["held", "issuer is not verified", 'missing "About" boilerplate']),
    ("warta submit release.md", ["Syarikat Contoh Berhad membuka pusat data hijau baharu"]),
    ("warta review list", ["issuer is not verified", " approved, release at ", '"status":"rejected"']),
    ("sleep 3", ["Syarikat Contoh Berhad melabur RM250 juta", "KUALA LUMPUR"]),
    (
        "/deliveries",
        [
            '"channel":"email","kind":"edition","state":"delivered"',
            '"channel":"webhook"',
            '"latency"',
            "/reports/",
        ],
    ),
    ("/outbox/sign-in", ["siti@newsroom.example"]),
    ("/api/v1/circuits", ['"slug":"asia-pacific-business"']),
]


def shell_blocks(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^```sh\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)]


def make_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Syarikat Contoh Berhad membuka pusat data hijau baharu", level=1)
    document.add_paragraph(
        "Syarikat Contoh Berhad hari ini membuka pusat data hijau baharu di Cyberjaya yang menggunakan "
        "tenaga solar dan penyejukan air kitar semula, dengan 400 pekerja mahir daripada Lembah Klang dan "
        "kerjasama tiga universiti tempatan bagi latihan graduan dalam bidang kejuruteraan."
    )
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(buffer.getvalue())


def serve_like_make_run(folder: Path, port: int) -> subprocess.Popen[bytes]:
    recipe = (ROOT / "Makefile").read_text()
    assert re.search(
        r"^run:.*\n\tWARTA_DATA_DIR=\$\(DATA\) \$\(BIN\)/warta serve --demo ", recipe, re.MULTILINE
    )
    proc = subprocess.Popen(
        [str(folder / ".venv/bin/warta"), "serve", "--demo", "--port", str(port), "--log-level", "warning"],
        cwd=folder,
        env=make_env(folder / "data"),
        stdout=(folder / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, (folder / "serve.log").read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("the wire did not start:\n" + (folder / "serve.log").read_text())


def test_the_readme_walk_through_runs_as_written(tmp_path: Path) -> None:
    blocks = shell_blocks(README.read_text(encoding="utf-8"))
    assert blocks and blocks[0].strip() == "make run", blocks[:1]
    assert [command for command, _ in EXPECTED] == [
        next((c for c, _ in EXPECTED if c in block), "(unexpected block)") for block in blocks[1:]
    ], "each README block after `make run` has one entry in EXPECTED, in the README's order"

    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    make_docx(tmp_path / "release.docx")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = serve_like_make_run(tmp_path, port)
    state = tmp_path / "state.sh"
    state.write_text("")
    # a second terminal: no WARTA_DATA_DIR, so the data folder is ./data, as `make run`'s
    reader_env = {k: v for k, v in make_env(tmp_path / "data").items() if k != "WARTA_DATA_DIR"}
    try:
        for block, (command, shows) in zip(blocks[1:], EXPECTED, strict=True):
            script = (
                f"set -eo pipefail\nsource {state}\n{block.replace(SHOWN_AT, url)}\nexport -p > {state}\n"
            )
            deadline = time.monotonic() + (LOOK_AGAIN if command in READS_ONLY else 0)
            while True:
                run = subprocess.run(
                    ["bash", "-c", script],
                    cwd=tmp_path,
                    env=reader_env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                output = run.stdout + run.stderr
                assert run.returncode == 0, f"README block failed:\n{block}\n---\n{output}"
                missing = [text for text in shows if text not in output]
                if not missing or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert not missing, f"README block did not show {missing}:\n{block}\n---\n{output}"
    finally:
        server.terminate()
        server.wait(10)
