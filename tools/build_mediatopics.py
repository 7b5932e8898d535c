"""Build ``src/warta/data/mediatopics.json`` from the IPTC Media Topics exports.

Usage::

    python tools/build_mediatopics.py /path/to/shared/standards/mediatopics [--output FILE]

The source folder holds two unmodified IPTC CV-server exports:

* ``cptall-en-GB.json``: the current release; it gives the tree (parent, level), the retired flags and the
  English labels.
* ``cptall-x-all.json``: an older multilingual export; it gives the German, French, Spanish, Portuguese,
  Arabic and Simplified Chinese labels of the concepts it already knew.

Only active (non-retired) concepts of the current release are written. The output is compact JSON with
sorted keys, so that running the script twice on the same sources gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

CURRENT_FILE = "cptall-en-GB.json"
TRANSLATIONS_FILE = "cptall-x-all.json"
URI_PREFIX = "http://cv.iptc.org/newscodes/mediatopic/"
QCODE_PREFIX = "medtop:"

# Output language -> IPTC language tags to try, in order.
TRANSLATED_LANGUAGES: dict[str, tuple[str, ...]] = {
    "de": ("de",),
    "fr": ("fr",),
    "es": ("es",),
    "pt": ("pt-BR", "pt-PT"),
    "ar": ("ar",),
    "zh-Hans": ("zh-Hans",),
}

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "src" / "warta" / "data" / "mediatopics.json"


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict) or not isinstance(data.get("conceptSet"), list):
        raise ValueError(f"{path}: not an IPTC concept scheme export")
    return data


def _qcode(reference: str) -> str:
    """Turn a concept URI or qcode into the ``medtop:NNNNNNNN`` form."""
    if reference.startswith(QCODE_PREFIX):
        return reference
    if reference.startswith(URI_PREFIX):
        return QCODE_PREFIX + reference[len(URI_PREFIX) :].strip("/")
    raise ValueError(f"not a Media Topic reference: {reference!r}")


def _clean(label: Any) -> str | None:
    if not isinstance(label, str):
        return None
    text = " ".join(label.split())
    return text or None


def _release_date(scheme: dict[str, Any]) -> str:
    released = scheme.get("dateReleased")
    if not isinstance(released, str) or len(released) < 10:
        raise ValueError("the current export has no dateReleased")
    return released[:10]


def build(source: Path) -> bytes:
    """Return the bytes of ``mediatopics.json`` built from the exports in ``source``."""
    current = _load(source / CURRENT_FILE)
    older = _load(source / TRANSLATIONS_FILE)

    active: dict[str, dict[str, Any]] = {}
    for concept in current["conceptSet"]:
        if concept.get("retired"):
            continue
        active[_qcode(concept["qcode"])] = concept

    parents: dict[str, str | None] = {}
    for code, concept in active.items():
        broader = [_qcode(ref) for ref in concept.get("broader") or []]
        if len(broader) > 1:
            raise ValueError(f"{code}: more than one broader concept")
        parent = broader[0] if broader else None
        if parent is not None and parent not in active:
            raise ValueError(f"{code}: broader concept {parent} is not active")
        parents[code] = parent

    levels: dict[str, int] = {}

    def level_of(code: str, seen: frozenset[str] = frozenset()) -> int:
        if code in levels:
            return levels[code]
        if code in seen:
            raise ValueError(f"{code}: cycle in the broader chain")
        parent = parents[code]
        level = 1 if parent is None else level_of(parent, seen | {code}) + 1
        levels[code] = level
        return level

    translations: dict[str, dict[str, Any]] = {}
    for concept in older["conceptSet"]:
        pref_labels = concept.get("prefLabel")
        if isinstance(pref_labels, dict):
            translations[_qcode(concept["qcode"])] = pref_labels

    topics: dict[str, dict[str, Any]] = {}
    for code, concept in active.items():
        english = _clean((concept.get("prefLabel") or {}).get("en-GB"))
        if english is None:
            raise ValueError(f"{code}: no English label")
        labels: dict[str, str] = {"en": english}
        old_labels = translations.get(code, {})
        for lang, tags in TRANSLATED_LANGUAGES.items():
            for tag in tags:
                text = _clean(old_labels.get(tag))
                if text is not None:
                    labels[lang] = text
                    break
        topics[code] = {"parent": parents[code], "level": level_of(code), "labels": labels}

    document = {"released": _release_date(current), "topics": topics}
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", type=Path, help="folder holding cptall-en-GB.json and cptall-x-all.json")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="file to write")
    args = parser.parse_args(argv)
    payload = build(args.source)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(payload)
    document = json.loads(payload)
    print(f"{args.output}: {len(document['topics'])} topics, {len(payload)} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
