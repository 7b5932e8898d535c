"""The formats registry: every output format is one small class registered by name.

A format has a name, a media type and `render(rendered, event) -> bytes`: the document one
rendered edition makes for one event (published, corrected, withdrawn). Channels and pages ask
the registry for a format by name (an endpoint's or a feed's) and never import a format module;
a format may offer richer methods of its own (a feed document of many entries, an email message
addressed to one recipient) for callers that need them.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar, overload

from warta.editions.rendered import RenderedEdition
from warta.formats.events import Event


class UnknownFormat(KeyError):
    """No format is registered under this name."""


class Format:
    name: ClassVar[str]
    media_type: ClassVar[str]
    # offered as a webhook endpoint's format (what `webhook_format` may name)
    for_webhooks: ClassVar[bool] = False

    def render(self, rendered: RenderedEdition, event: Event) -> bytes:
        raise NotImplementedError


F = TypeVar("F", bound=Format)
_FORMATS: dict[str, Format] = {}


def register(cls: type[F]) -> type[F]:
    _FORMATS[cls.name] = cls()
    return cls


@overload
def get(name: str) -> Format: ...
@overload
def get(name: str, kind: type[F]) -> F: ...
def get(name: str, kind: type[Format] = Format) -> Format:
    """The format registered as ``name``; ``kind`` is the class the caller relies on (a feed
    format for a feed's page, the email format for the email channel)."""
    found = _FORMATS.get(name)
    if found is None:
        raise UnknownFormat(name)
    if not isinstance(found, kind):
        raise UnknownFormat(f"{name} is not a {kind.__name__}")
    return found


def names(*, webhooks: bool = False) -> tuple[str, ...]:
    """The registered formats' names, sorted; with ``webhooks`` only those a webhook may use."""
    return tuple(sorted(n for n, f in _FORMATS.items() if f.for_webhooks or not webhooks))
