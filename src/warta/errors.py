"""Errors the services raise when a request cannot be carried out.

They say what went wrong in the domain's terms (nothing by that id, not yours, not in a state that
allows it, a field that does not hold); the web layer turns each kind into its HTTP status and the
CLI into a message. `field` names the input at fault, where there is one.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of the services' refusals; `status` and `code` are what the API answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class NotFound(DomainError):
    """Nothing by that id, or nothing this caller may know of."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """The caller may see it but not change it."""

    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The thing is not in a state that allows the change."""

    status = 409
    code = "conflict"


class Invalid(DomainError):
    """A field's value does not hold (e.g. it refers to something that does not exist)."""

    status = 422
    code = "invalid_field"
