"""The review chain: each rule's verdict and reason, and how the chain combines them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from warta.review import RULES, Draft, review

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

BODY = " ".join(["The company opened a new plant that employs four hundred people in the region."] * 4)


def draft(**changes: object) -> Draft:
    base = Draft(
        headline="Company opens plant in Johor",
        summary="",
        body_html=f"<p>{BODY}</p>",
        body_text=BODY,
        sectors=["medtop:04000000"],
        contact={"name": "A. Press", "email": "press@example.com"},
        about="The company makes things.",
        org_verified=True,
        org_auto_approve=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def verdicts(d: Draft) -> dict[str, tuple[str, str]]:
    return {v.rule: (v.verdict, v.reason) for v in review(d).verdicts}


def test_every_rule_is_registered_and_a_clean_release_from_a_verified_issuer_is_approved() -> None:
    assert set(RULES) >= {
        "required-fields",
        "length-bounds",
        "links",
        "shouting",
        "banned-terms",
        "issuer-verified",
    }
    outcome = review(draft())
    assert outcome.decision == "approve"
    assert all(v.verdict == "accept" for v in outcome.verdicts)


def test_missing_contact_about_and_sectors_hold_with_reasons() -> None:
    v = verdicts(draft(contact={"name": "Only a name"}, about=" ", sectors=[]))
    verdict, reason = v["required-fields"]
    assert verdict == "hold"
    assert "media contact" in reason and "About" in reason and "sectors" in reason


def test_stub_body_is_held() -> None:
    assert (
        verdicts(draft(body_text="Too short.", body_html="<p>Too short.</p>"))["length-bounds"][0] == "hold"
    )


def test_cjk_body_counts_characters_not_spaces() -> None:
    text = "南方港口公司今天在巴生港启用一座集装箱码头，其起重机和场内车辆由太阳能板和储能电池供电。" * 4
    assert verdicts(draft(body_text=text, body_html=f"<p>{text}</p>"))["length-bounds"][0] == "accept"


def test_link_farm_is_held() -> None:
    links = "".join(f'<a href="https://spam{i}.example">cheap</a> ' for i in range(13))
    verdict, reason = verdicts(draft(body_html=f"<p>{BODY}</p><p>{links}</p>"))["links"]
    assert verdict == "hold" and "13 links" in reason


def test_shouting_headline_is_held_but_acronyms_are_fine() -> None:
    assert verdicts(draft(headline="AMAZING OFFER YOU WILL NOT BELIEVE"))["shouting"][0] == "hold"
    assert verdicts(draft(headline="Record profits!!!"))["shouting"][0] == "hold"
    assert verdicts(draft(headline="ASEAN and IMF praise Malaysia's GDP growth"))["shouting"][0] == "accept"


def test_banned_term_rejects_even_a_trusted_issuer() -> None:
    d = draft(
        banned_terms=("guaranteed returns",),
        body_text=BODY + " Guaranteed Returns of 40%.",
        org_auto_approve=True,
    )
    outcome = review(d)
    assert outcome.decision == "reject"
    assert "guaranteed returns" in verdicts(d)["banned-terms"][1]


def test_unverified_issuer_is_held_and_auto_approve_waives_holds() -> None:
    assert review(draft(org_verified=False)).decision == "hold"
    trusted = review(draft(org_verified=False, org_auto_approve=True))
    assert trusted.decision == "approve" and "auto-approve" in trusted.note
