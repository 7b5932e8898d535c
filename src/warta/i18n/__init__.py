"""Localisation of the wire's fixed texts and dates in Warta's fifteen languages."""

from warta.i18n.catalog import (
    DEFAULT_LANGUAGE,
    LANGUAGE_NAMES,
    LANGUAGES,
    babel_locale,
    make_gettext,
    normalise_lang,
    text_direction,
    translate,
)
from warta.i18n.dates import dateline_date, iso, long_datetime

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "babel_locale",
    "dateline_date",
    "iso",
    "long_datetime",
    "make_gettext",
    "normalise_lang",
    "text_direction",
    "translate",
]
