"""The domain's refusals, which every caller maps to its own surface in one place: the API's
exception handler answers them as JSON (core.api), the admin shows them as messages.

A service raises `Invalid` for input that cannot be used (400) and `Conflict` for an action the
object's state does not allow now (409). `field` names the input at fault, when there is one."""


class DomainError(Exception):
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field

    def as_json(self) -> dict:
        body = {"error": str(self)}
        if self.field:
            body["field"] = self.field
        return body


class Invalid(DomainError, ValueError):
    http_status = 400


class Conflict(DomainError):
    http_status = 409
