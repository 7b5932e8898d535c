"""The review rules. Each is one small class registered by name; adding a rule is adding a class."""

from __future__ import annotations

import re
from typing import ClassVar

from warta.review.draft import ACCEPT, HOLD, REJECT, Draft, Verdict


class Rule:
    name: ClassVar[str]

    def check(self, draft: Draft) -> Verdict:
        raise NotImplementedError

    def accept(self, reason: str = "ok") -> Verdict:
        return Verdict(self.name, ACCEPT, reason)

    def hold(self, reason: str) -> Verdict:
        return Verdict(self.name, HOLD, reason)

    def reject(self, reason: str) -> Verdict:
        return Verdict(self.name, REJECT, reason)


RULES: dict[str, Rule] = {}


def register(cls: type[Rule]) -> type[Rule]:
    RULES[cls.name] = cls()
    return cls


@register
class RequiredFields(Rule):
    """A release a journalist can act on names a contact and says who the issuer is."""

    name = "required-fields"

    def check(self, draft: Draft) -> Verdict:
        missing = []
        if not draft.contact.get("name") or not (draft.contact.get("email") or draft.contact.get("phone")):
            missing.append("media contact (name and email or phone)")
        if not draft.about.strip():
            missing.append('"About" boilerplate')
        if not draft.sectors:
            missing.append("sectors")
        if missing:
            return self.hold("missing " + ", ".join(missing))
        return self.accept()


@register
class LengthBounds(Rule):
    name = "length-bounds"
    min_words = 40
    max_headline_words = 40

    def check(self, draft: Draft) -> Verdict:
        words = len(draft.body_text.split())
        # CJK and Thai text has few spaces: count characters as a rough equivalent
        if words < self.min_words and len(draft.body_text) < self.min_words * 4:
            return self.hold(f"body has {words} words; fewer than {self.min_words} reads as a stub")
        if len(draft.headline.split()) > self.max_headline_words:
            return self.hold(f"headline is longer than {self.max_headline_words} words")
        return self.accept()


@register
class LinkHeuristic(Rule):
    """Link farms and SEO spam: many links, or links making up much of the text."""

    name = "links"
    max_links = 12
    max_link_share = 0.3
    _href = re.compile(r"<a\s[^>]*href=", re.IGNORECASE)
    _anchor_text = re.compile(r"<a\s[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)

    def check(self, draft: Draft) -> Verdict:
        links = len(self._href.findall(draft.body_html))
        if links > self.max_links:
            return self.hold(f"{links} links in the body (more than {self.max_links})")
        anchor_chars = sum(len(re.sub(r"<[^>]+>", "", t)) for t in self._anchor_text.findall(draft.body_html))
        if draft.body_text and anchor_chars / max(len(draft.body_text), 1) > self.max_link_share:
            return self.hold("links make up more than 30% of the text")
        return self.accept()


@register
class Shouting(Rule):
    name = "shouting"
    _bangs = re.compile(r"[!?]{3,}")

    def check(self, draft: Draft) -> Verdict:
        letters = [c for c in draft.headline if c.isalpha() and c.lower() != c.upper()]
        if len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.6:
            return self.hold("headline is mostly capital letters")
        if self._bangs.search(draft.headline) or len(self._bangs.findall(draft.body_text)) > 2:
            return self.hold("repeated exclamation or question marks")
        return self.accept()


@register
class BannedTerms(Rule):
    """Terms the operator will not carry (WARTA_BANNED_TERMS)."""

    name = "banned-terms"

    def check(self, draft: Draft) -> Verdict:
        haystack = " ".join((draft.headline, draft.summary, draft.body_text, draft.about)).casefold()
        found = [t for t in draft.banned_terms if t.casefold() in haystack]
        if found:
            return self.reject("contains banned term(s): " + ", ".join(found))
        return self.accept()


@register
class UnverifiedIssuer(Rule):
    name = "issuer-verified"

    def check(self, draft: Draft) -> Verdict:
        if not draft.org_verified:
            return self.hold("issuer is not verified; an editor must approve")
        return self.accept()


@register
class ImageAltText(Rule):
    """A picture without alt text is invisible to a reader who cannot see it: an editor asks for one."""

    name = "image-alt"
    _img = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
    _src = re.compile(r'\ssrc="([^"]*)"')
    _alt = re.compile(r'\salt="([^"]*)"')

    def check(self, draft: Draft) -> Verdict:
        missing = []
        for tag in self._img.findall(draft.body_html + draft.about):
            alt = self._alt.search(tag)
            if alt is None or not alt.group(1).strip():
                src = self._src.search(tag)
                missing.append(src.group(1) if src else "an image")
        missing += [item["url"] for item in draft.media if not item.get("alt", "").strip()]
        if missing:
            return self.hold(
                f"{len(missing)} image(s) without alt text, which describes a picture: " + ", ".join(missing)
            )
        return self.accept()
