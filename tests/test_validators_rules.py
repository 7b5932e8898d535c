"""The review rule behind the HTML checkers' image finding: a picture without alt text is held."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import release_payload
from warta.config import Settings
from warta.intake import keys
from warta.intake.keys import Principal
from warta.intake.sanitize import sanitize_html
from warta.intake.service import submit
from warta.intake.submission import ReleaseIn, clean
from warta.model import Release
from warta.review import RULES, Draft, review
from warta.store import Store

pytestmark = pytest.mark.fast  # in `make test-fast`, the developer's loop

BODY = " ".join(["The company opened a new plant that employs four hundred people in the region."] * 4)


def draft(body_html: str, about: str = "The company makes things.") -> Draft:
    return Draft(
        headline="Company opens plant in Johor",
        summary="",
        body_html=body_html,
        body_text=BODY,
        sectors=["medtop:04000000"],
        contact={"name": "A. Press", "email": "press@example.com"},
        about=about,
        org_verified=True,
        org_auto_approve=False,
    )


def test_an_image_without_alt_text_is_held_with_a_reason_naming_it() -> None:
    assert "image-alt" in RULES
    body = sanitize_html(f'<p>{BODY}</p><p><img src="https://img.example/plant.jpg"></p>')
    outcome = review(draft(body))
    assert outcome.decision == "hold"
    [verdict] = [v for v in outcome.verdicts if v.rule == "image-alt"]
    assert verdict.verdict == "hold"
    assert "without alt text" in verdict.reason and "https://img.example/plant.jpg" in verdict.reason


def test_an_empty_or_blank_alt_counts_as_none_and_the_about_is_checked_too() -> None:
    blank = sanitize_html(f'<p>{BODY}</p><img src="https://img.example/a.jpg" alt="  ">')
    assert review(draft(blank)).decision == "hold"
    about = sanitize_html('<p>We make things.</p><img src="https://img.example/logo.png">')
    assert review(draft(f"<p>{BODY}</p>", about=about)).decision == "hold"


def test_images_described_by_alt_text_pass() -> None:
    body = sanitize_html(
        f'<p>{BODY}</p><img src="https://img.example/plant.jpg" alt="The new plant at dusk">'
    )
    outcome = review(draft(body))
    assert outcome.decision == "approve", outcome.verdicts


def test_a_submitted_picture_without_alt_text_holds_the_release(tmp_path: Path) -> None:
    """The pictures beside the body (ninjs and NewsML-G2 carry them) are checked as the body's are,
    so a verified issuer's release that passes every other rule waits for an editor."""
    cfg = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'warta.db'}", secret="s" * 32)
    store = Store(cfg.database_url)
    store.migrate()
    try:
        with store.session() as s:
            org = keys.create_org(s, "Syarikat Contoh Berhad", verified=True)
            user, _ = keys.create_user(s, "Press", "issuer", org.id)
            who = Principal(user.id, user.name, "issuer", org.id)

            def submitted(alt: str) -> Release:
                media = [{"url": "https://img.example/plant.jpg", "alt": alt, "caption": "The plant"}]
                data = ReleaseIn.model_validate(release_payload(media=media))
                return submit(s, cfg, who, org, clean(data, cfg.limits))

            held = submitted("")
            assert held.status == "held"
            [reason] = [v["reason"] for v in held.review["rules"] if v["rule"] == "image-alt"]
            assert "https://img.example/plant.jpg" in reason
            assert submitted("Solar panels on the roof of the new plant").status == "approved"
    finally:
        store.close()
