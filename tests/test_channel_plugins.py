"""A destination is one plug-in: routing, the delivery engine and the runtime act through the
channels' hooks over the registry and never name a channel, so a new channel needs no change there."""

from __future__ import annotations

import ast
from pathlib import Path

from warta.config import Settings
from warta.delivery.base import CHANNELS, EndpointView, RecipientView
from warta.delivery.channels import load_channels

SRC = Path(__file__).resolve().parents[1] / "src" / "warta"
# the recipient services translate a recipient's own shorthand (an `email` column, a `webhook_url`,
# feed and stream tokens) into endpoints of those channels: naming them is their job
SHORTHAND = {"endpoints.py", "recipients.py", "importer.py", "subscriptions.py"}


def _channel_free_modules() -> list[Path]:
    routing = [p for p in sorted((SRC / "routing").glob("*.py")) if p.name not in SHORTHAND]
    return [*routing, SRC / "delivery" / "engine.py", SRC / "runtime.py"]


def _channel_names() -> set[str]:
    load_channels()
    return set(CHANNELS) | {"email", "webhook", "stream", "feed", "websub"}


def test_routing_engine_and_runtime_name_no_channel() -> None:
    names = _channel_names()
    found = []
    for path in _channel_free_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.append(f"{path.relative_to(SRC)}:{node.lineno} names {node.value!r}")
    assert found == []


def test_every_channel_module_registers_itself() -> None:
    load_channels()
    modules = {p.stem for p in (SRC / "delivery" / "channels").glob("*.py") if p.stem != "__init__"}
    registered = {cls.__module__.rsplit(".", 1)[1] for cls in CHANNELS.values()}
    assert modules <= registered


def test_one_channel_publishes_at_routing_and_one_carries_digests() -> None:
    load_channels()
    assert [n for n, c in CHANNELS.items() if c.publishes_at_routing] == ["stream"]
    assert [n for n, c in CHANNELS.items() if c.carries_digests] == ["email"]
    assert [n for n, c in CHANNELS.items() if c.settled_by_routing] == ["feed"]


def _recipient(kind: str, endpoint: EndpointView) -> RecipientView:
    return RecipientView(
        id="r1",
        kind=kind,
        name="Desk",
        country="FR",
        languages=("fr",),
        sectors=(),
        embargo_trusted=False,
        locale="fr",
        timezone="Europe/Paris",
        endpoints=(endpoint,),
    )


def test_a_channel_says_why_it_skips_an_endpoint(tmp_path: Path) -> None:
    load_channels()
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'w.db'}")
    stream = CHANNELS["stream"](settings)  # type: ignore[call-arg]
    token = EndpointView("e1", "stream", None, None, "token")
    journalist = _recipient("journalist", token)
    assert not stream.accepts(journalist, token)
    assert stream.skip_reason(journalist, token) == (
        "the live stream is for desktop recipients, and this one is a journalist"
    )
    desktop = _recipient("desktop", token)
    assert stream.accepts(desktop, token) and stream.skip_reason(desktop, token) is None
    email = CHANNELS["email"](settings)  # type: ignore[call-arg]
    blank = EndpointView("e2", "email", None, None, None)
    assert email.skip_reason(journalist, blank) == "the email endpoint has no address"
    assert not email.accepts(journalist, blank)
