"""Review: a chain of small rules that accept, hold or reject a submitted release, each saying why."""

from warta.review.chain import Draft, Outcome, Verdict, review
from warta.review.rules import RULES, Rule, register

__all__ = ["RULES", "Draft", "Outcome", "Rule", "Verdict", "register", "review"]
