"""Run every registered rule over a draft and combine their verdicts: reject > hold > accept."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ACCEPT, HOLD, REJECT = "accept", "hold", "reject"
_SEVERITY = {ACCEPT: 0, HOLD: 1, REJECT: 2}


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


@dataclass
class Outcome:
    decision: str  # approve | hold | reject
    verdicts: list[Verdict] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "note": self.note, "rules": [asdict(v) for v in self.verdicts]}


def review(draft: Draft) -> Outcome:
    from warta.review.rules import RULES

    verdicts = [rule.check(draft) for rule in RULES.values()]
    worst = max((_SEVERITY[v.verdict] for v in verdicts), default=0)
    if worst == _SEVERITY[REJECT]:
        return Outcome("reject", verdicts)
    if worst == _SEVERITY[HOLD]:
        if draft.org_auto_approve:
            return Outcome("approve", verdicts, note="trusted issuer: holds waived by auto-approve")
        return Outcome("hold", verdicts)
    return Outcome("approve", verdicts)
