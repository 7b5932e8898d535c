"""The review rule behind the HTML checkers' image finding: a picture without alt text is held."""

from __future__ import annotations

from warta.intake.sanitize import sanitize_html
from warta.review import RULES, Draft, review

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
