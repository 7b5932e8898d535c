"""What the review rules look at and what each of them says: the nouns of the review stage,
shared by the rules (`rules.py`) and the chain that combines them (`chain.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACCEPT, HOLD, REJECT = "accept", "hold", "reject"


@dataclass(frozen=True)
class Draft:
    """What the rules look at: the submitted content, already sanitised, and who sent it."""

    headline: str
    summary: str
    body_html: str
    body_text: str
    sectors: list[str]
    contact: dict[str, Any]
    about: str
    org_verified: bool
    org_auto_approve: bool
    banned_terms: tuple[str, ...] = ()
    # the release's pictures (url, caption, alt, credit), carried beside the body in ninjs and NewsML-G2
    media: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Verdict:
    rule: str
    verdict: str
    reason: str
