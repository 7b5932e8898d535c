"""Private feeds: a delivery here makes the edition appear in the recipient's own feed URL.

The feed itself is read by `web/distribution.py`; this channel only decides *when* an item is
in it, through the same ledger as every other channel — so an untrusted recipient's feed shows
nothing before the embargo lifts, and a trusted one shows the early copy marked as embargoed.
An item due at once is written as delivered by routing itself (`Channel.settled_by_routing`); the
engine settles those that wait for an embargo or a release time.
"""

from __future__ import annotations

from typing import ClassVar

from warta.config import Settings
from warta.delivery.base import Channel, EndpointView, Job, Result, register
from warta.model.states import DeliveryState


@register
class FeedChannel(Channel):
    name: ClassVar[str] = "feed"
    batch_size: ClassVar[int] = 100_000
    lane_concurrency: ClassVar[int] = 1
    recover_committing: ClassVar[str] = DeliveryState.DELIVERED
    # the feed is read, not sent: an item due now is in it from the moment routing writes its row
    settled_by_routing: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def lane(self, endpoint: EndpointView) -> str:
        return "feed"

    def breaker_key(self, job: Job) -> str | None:
        return None

    async def send(self, jobs: list[Job]) -> list[Result]:
        return [Result.ok() for _ in jobs]
