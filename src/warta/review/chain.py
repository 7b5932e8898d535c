"""Run every registered rule over a draft and combine their verdicts: reject > hold > accept."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from warta.review.draft import ACCEPT, HOLD, REJECT, Draft, Verdict
from warta.review.rules import RULES

__all__ = ["ACCEPT", "HOLD", "REJECT", "Draft", "Outcome", "Verdict", "review"]

_SEVERITY = {ACCEPT: 0, HOLD: 1, REJECT: 2}


@dataclass
class Outcome:
    decision: str  # approve | hold | reject
    verdicts: list[Verdict] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "note": self.note, "rules": [asdict(v) for v in self.verdicts]}


def review(draft: Draft) -> Outcome:
    verdicts = [rule.check(draft) for rule in RULES.values()]
    worst = max((_SEVERITY[v.verdict] for v in verdicts), default=0)
    if worst == _SEVERITY[REJECT]:
        return Outcome("reject", verdicts)
    if worst == _SEVERITY[HOLD]:
        if draft.org_auto_approve:
            return Outcome("approve", verdicts, note="trusted issuer: holds waived by auto-approve")
        return Outcome("hold", verdicts)
    return Outcome("approve", verdicts)
