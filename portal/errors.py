"""Domain errors raised by services. Views, the API and the admin turn them into responses."""


class DomainError(Exception):
    """A write was refused for a reason the user can act on."""

    status_code = 400

    def __init__(self, message, *, field_errors=None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class InvalidInput(DomainError):
    """The request is malformed or breaks a rule (400)."""


class NotAllowed(DomainError):
    """The actor may not do this (403)."""

    status_code = 403


class Conflict(DomainError):
    """The object changed since the caller read it, or the write clashes with existing data (409)."""

    status_code = 409

    def __init__(self, message, *, current=None, field_errors=None):
        super().__init__(message, field_errors=field_errors)
        self.current = current


class StaleVersion(Conflict):
    """The caller's version of a gate is not the current one: nothing was written."""
