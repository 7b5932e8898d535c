"""Settings that count something (threads, processes): a whole number, or `auto` decided by the
machine's cores; anything else is refused with the setting's name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warta.config import Settings

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

# setting, field, (value, cores, expected) cases, refused values
COUNTS = [
    (
        "WARTA_SENDING_PROCESSES",
        "sending_processes",
        [("auto", 1, 0), ("auto", 4, 1), ("0", 4, 0), ("3", 1, 3), ("", 2, 1)],
        ["-1", "two"],
    ),
    (
        "WARTA_STREAM_WRITERS",
        "stream_writers",
        [("auto", 1, 1), ("auto", 2, 2), ("auto", 16, 4), ("3", 1, 3), ("", 2, 2)],
        ["0", "many"],
    ),
]


@pytest.mark.parametrize(("name", "field", "cases", "refused"), COUNTS, ids=[c[0] for c in COUNTS])
def test_count_settings(
    name: str,
    field: str,
    cases: list[tuple[str, int, int]],
    refused: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("WARTA_DATA_DIR", str(tmp_path))
    for value, cores, expected in cases:
        monkeypatch.setenv(name, value)
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert getattr(Settings.from_env(), field) == expected, (value, cores)
    for bad in refused:
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=name):
            Settings.from_env()


def test_a_relay_password_is_never_shown() -> None:
    """The relay's address is printed at start-up and shown on /outbox; its password is not."""
    from warta.config import without_password

    assert without_password("smtp://wire:s3cret@relay.example:587") == "smtp://wire:***@relay.example:587"
    assert "s3cret" not in without_password("smtps://wire:s3cret@relay.example")
    assert without_password("smtp://127.0.0.1:25") == "smtp://127.0.0.1:25"
