"""The `warta` client commands as a tool: one-line failures, the server they talk to by default,
the review queue from the shell, uploads titled by their first heading, and the demo's keys."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from conftest import WARTA, Desk, Server, free_port, make_env, release_payload

BODY = (
    "Syarikat Contoh Berhad hari ini mengumumkan pelaburan sebanyak RM250 juta untuk membina pusat data "
    "hijau di Cyberjaya. Pusat data itu akan menggunakan tenaga solar dan sistem penyejukan air kitar "
    "semula, serta mewujudkan 400 peluang pekerjaan mahir untuk rakyat tempatan."
)
RELEASE_FIELDS = {
    "language": "ms",
    "dateline": {"city": "Kuala Lumpur", "country": "MY"},
    "sectors": ["top-story"],
    "contact": {"name": "Nur Aina", "email": "media@contoh.example"},
    "about": "Syarikat Contoh Berhad ialah pengendali pusat data di Malaysia.",
}


def warta(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WARTA, *args], env=env, capture_output=True, text=True, timeout=60)


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.fixture
def release_file(tmp_path: Path) -> Path:
    path = tmp_path / "siaran.md"
    path.write_text(f"# Pusat data hijau di Cyberjaya\n\n{BODY}\n", encoding="utf-8")
    return path


def test_every_client_command_says_in_one_line_that_no_server_is_there(
    tmp_path: Path, release_file: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = make_env(data)
    nowhere = f"http://127.0.0.1:{free_port()}"
    commands = [
        ["submit", str(release_file), "--key", "wk_x"],
        ["review", "list", "--key", "wk_x"],
        ["review", "approve", "rel_x", "--key", "wk_x"],
        ["review", "reject", "rel_x", "--reason", "duplicate", "--key", "wk_x"],
    ]
    hint = "is `warta serve` running? set --url or WARTA_URL"
    for command in commands:
        assert_one_line_failure(warta(env, *command, "--url", nowhere), f"cannot reach {nowhere}", hint)
    # the server is --url, then WARTA_URL, then where this data folder's last `warta serve`
    # listened, then :8000
    listing = commands[1]
    assert_one_line_failure(warta({**env, "WARTA_URL": nowhere}, *listing), f"cannot reach {nowhere}")
    (data / "served-url").write_text(nowhere + "/\n")
    assert_one_line_failure(warta(env, *listing), f"cannot reach {nowhere} ")
    (data / "served-url").unlink()
    assert_one_line_failure(warta(env, *listing), "cannot reach http://127.0.0.1:8000 ")


def test_http_errors_are_one_line_naming_the_field(desk: Desk, release_file: Path) -> None:
    env = desk.server.env
    meta = release_file.with_suffix(".json")
    meta.write_text(json.dumps({**RELEASE_FIELDS, "dateline": {"city": "Kuala Lumpur", "country": "XX"}}))
    bad = warta(env, "submit", str(release_file), "--meta", str(meta), "--key", desk.issuer_key)
    assert_one_line_failure(bad, "HTTP 422", "dateline.country")
    assert_one_line_failure(
        warta(env, "review", "list", "--key", desk.issuer_key), "HTTP 403", "only editors"
    )
    assert_one_line_failure(
        warta(env, "review", "approve", "rel_nothing", "--key", desk.editor_key), "HTTP 404", "rel_nothing"
    )
    assert_one_line_failure(warta(env, "review", "list", "--key", "wk_revoked"), "HTTP 401")
    assert_one_line_failure(warta(env, "review", "list"), "no API key")


def test_the_desk_works_the_queue_from_the_shell(desk: Desk, release_file: Path) -> None:
    env = desk.server.env  # no --url and no WARTA_URL: the address `warta serve` wrote at start
    assert "WARTA_URL" not in env
    meta = release_file.with_suffix(".json")
    meta.write_text(json.dumps(RELEASE_FIELDS))
    submitted = []
    for _ in range(2):
        out = warta(env, "submit", str(release_file), "--meta", str(meta), "--key", desk.issuer_key)
        assert out.returncode == 0, out.stderr
        release = json.loads(out.stdout)
        assert release["status"] == "held"
        assert release["editions"][0]["headline"] == "Pusat data hijau di Cyberjaya"  # the file's heading
        submitted.append(release["id"])

    listed = warta(env, "review", "list", "--key", desk.editor_key)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == submitted
    assert all("issuer is not verified" in line and "Syarikat Contoh Berhad" in line for line in lines)

    approved = warta(env, "review", "approve", submitted[0], "--key", desk.editor_key)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(f"{submitted[0]} approved")
    rejected = warta(
        env, "review", "reject", submitted[1], "--reason", "a duplicate", "--key", desk.editor_key
    )
    assert rejected.stdout.strip() == f"{submitted[1]} rejected: a duplicate"
    assert warta(env, "review", "list", "--key", desk.editor_key).stdout.strip() == "no release is held"
    with desk.editor() as editor:
        assert editor.get(f"/api/v1/releases/{submitted[0]}").json()["status"] in ("approved", "published")
        assert editor.get(f"/api/v1/releases/{submitted[1]}").json()["status"] == "rejected"
    # an approved release cannot be rejected: the conflict in one line
    again = warta(env, "review", "reject", submitted[0], "--reason", "late", "--key", desk.editor_key)
    assert_one_line_failure(again, "HTTP 409")


def make_docx(heading: str | None) -> bytes:
    import docx

    document = docx.Document()
    if heading:
        document.add_heading(heading, level=1)
    document.add_paragraph(BODY)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_a_multipart_upload_takes_its_headline_from_the_files_first_heading(desk: Desk) -> None:
    fields = {k: v for k, v in release_payload().items() if k not in ("headline", "body", "body_format")}
    with desk.issuer() as issuer:
        for name, content in (
            ("siaran.docx", make_docx("Pelaburan pusat data hijau")),
            ("siaran.md", f"Pengenalan.\n\n## Pelaburan pusat data hijau\n\n{BODY}\n".encode()),
            ("siaran.html", f"<h3>Pelaburan <em>pusat data</em> hijau</h3><p>{BODY}</p>".encode()),
        ):
            resp = issuer.post(
                "/api/v1/releases", files={"file": (name, content)}, data={"release": json.dumps(fields)}
            )
            assert resp.status_code == 201, (name, resp.text)
            assert resp.json()["versions"][0]["headline"] == "Pelaburan pusat data hijau", name
        # a headline given wins over the heading
        given = issuer.post(
            "/api/v1/releases",
            files={"file": ("siaran.docx", make_docx("Pelaburan pusat data hijau"))},
            data={"release": json.dumps({**fields, "headline": "Tajuk yang diberi"})},
        )
        assert given.json()["versions"][0]["headline"] == "Tajuk yang diberi"
        # no heading and no headline: the field is named
        missing = issuer.post(
            "/api/v1/releases",
            files={"file": ("siaran.docx", make_docx(None))},
            data={"release": json.dumps(fields)},
        )
        assert missing.status_code == 422 and missing.json()["error"]["field"] == "headline"


def test_demo_keys_and_desk_links_are_fresh_at_every_start_and_the_old_ones_stop(server: Server) -> None:
    def demo_keys() -> tuple[dict[str, str], str]:
        out = server.cli("demo").stdout
        env_file = (server.data_dir / "demo-keys.env").read_text()
        keys = dict(line.removeprefix("export ").split("=", 1) for line in env_file.splitlines()[1:])
        desk = next(line.split("token=")[1].strip() for line in out.splitlines() if "Tokyo desk" in line)
        assert keys["EDITOR_KEY"] in out and keys["ISSUER_KEY"] in out
        return keys, desk

    def works(key: str) -> bool:
        return (
            httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code
            == 200
        )

    def desk_opens(token: str) -> bool:
        with httpx.stream("GET", f"{server.url}/api/v1/stream", params={"token": token}, timeout=10) as resp:
            return resp.status_code == 200

    own = server.cli_json("admin", "create-user", "--role", "editor", "--name", "Night Editor")["api_key"]
    first, first_desk = demo_keys()
    assert (server.data_dir / "demo-keys.env").stat().st_mode & 0o777 == 0o600
    assert all(works(key) for key in first.values()) and desk_opens(first_desk)
    second, second_desk = demo_keys()
    assert not set(first.values()) & set(second.values()) and first_desk != second_desk
    assert not any(works(key) for key in first.values())
    assert all(works(key) for key in second.values())
    assert not desk_opens(first_desk) and desk_opens(second_desk)
    assert works(own)  # a key made with `warta admin` is not the demo's, and stays
