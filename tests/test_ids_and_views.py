"""Identifiers (one at a time or many at once: the same shape, sorted by time, never repeated), and
recipient views made from rows."""

from __future__ import annotations

import dataclasses
import time

import pytest

from warta.delivery.base import EndpointView, RecipientView
from warta.ids import new_id, new_ids
from warta.routing.audience import ENDPOINT_COLUMNS, VIEW_COLUMNS, endpoint_of, view_of

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

DIGITS = "0123456789abcdefghjkmnpqrstvwxyz"


def bits(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 32 + DIGITS.index(ch)
    return value


def test_many_at_once_are_shaped_like_one_at_a_time() -> None:
    before = int(time.time() * 1000)
    batch = new_ids("dlv_", 5000)
    single = new_id("dlv_")
    after = int(time.time() * 1000)
    assert len(batch) == 5000 and len(set(batch)) == 5000
    for made in [*batch, single]:
        assert made.startswith("dlv_") and len(made) == 30
        value = bits(made[4:])
        assert set(made[4:]) <= set(DIGITS)
        assert value & 3 == 0  # 130 bits: clock, random, two zero bits
        assert before <= value >> 82 <= after  # the top 48 bits are the clock in milliseconds
    # the random part differs all the way through, not only in its last characters
    assert len({made[13:] for made in batch}) == 5000
    assert len({made[14:20] for made in batch}) > 4900
    time.sleep(0.002)
    later = new_ids("dlv_", 3)
    assert max(batch) < min(later) and single < min(later)  # later ids sort after earlier ones


def test_none() -> None:
    assert new_ids("x_", 0) == []


def test_a_recipient_view_from_a_row_has_every_field() -> None:
    """Views of recipients and endpoints are made from database rows without the dataclass's own
    constructor: the result must be the same object the constructor makes, field for field."""
    hook = endpoint_of(["end_1", "webhook", "https://hooks.example/1", "newsml", "whsec_1"])
    assert len(ENDPOINT_COLUMNS) == 5
    assert hook == EndpointView("end_1", "webhook", "https://hooks.example/1", "newsml", "whsec_1")
    row = [
        "rcp_1",
        "journalist",
        "Nur",
        "MY",
        '["ms", "en"]',
        '["technology"]',
        True,
        "ms",
        "Asia/Kuala_Lumpur",
    ]
    assert len(row) == len(VIEW_COLUMNS)
    made = view_of(row, (hook,))
    fields = {f.name for f in dataclasses.fields(RecipientView)}
    assert set(vars(made)) == fields
    assert made == RecipientView(**{name: getattr(made, name) for name in fields})
    assert made.languages == ("ms", "en") and made.sectors == ("technology",)
    assert made.endpoints == (hook,) and made.embargo_trusted is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "someone else"  # type: ignore[misc]
