"""The application's errors. The API turns each into one RFC 9457 problem (status in brackets)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError


class FieldbridgeError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(FieldbridgeError):
    """[404] Unknown, or not visible to this caller (so ids do not leak)."""

    status = 404
    title = "Not found"

    def __init__(self, entity: str, ident: object) -> None:
        super().__init__(f"{entity} {ident} not found")


class Forbidden(FieldbridgeError):
    """[403] The caller's role may not do this at all."""

    status = 403
    title = "Forbidden"


class InvalidInput(FieldbridgeError):
    """[422] Input that is well-formed but wrong; ``errors`` names each field."""

    status = 422
    title = "Invalid input"

    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail, errors=errors)

    @classmethod
    def of(cls, detail: str, exc: ValidationError) -> InvalidInput:
        """A model's validation failure, each error named by its dotted field."""
        errors = [
            {
                "field": ".".join(str(part) for part in error["loc"]) or "body",
                "reason": error["msg"],
            }
            for error in exc.errors()
        ]
        return cls(detail, errors)


def invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{field}: {reason}", [{"field": field, "reason": reason}])


class IllegalTransition(FieldbridgeError):
    """[409] Not a move this caller may make from the order's current state."""

    status = 409
    title = "Illegal transition"

    def __init__(self, current: str, requested: str, allowed: list[str]) -> None:
        super().__init__(
            f"cannot move from {current} to {requested}", current=current, allowed=allowed
        )


class ProofMissing(FieldbridgeError):
    """[422] Completing without the work type's proof of work."""

    status = 422
    title = "Proof of work missing"

    def __init__(self, missing: list[dict[str, Any]]) -> None:
        kinds = ", ".join(m["kind"] for m in missing)
        super().__init__(f"the work type requires more proof: {kinds}", missing=missing)


class Conflict(FieldbridgeError):
    """[409] The change collides with what is stored (a duplicate key, say)."""

    status = 409
    title = "Conflict"


class VersionMismatch(FieldbridgeError):
    """[412] ``If-Match`` named a version that is no longer current."""

    status = 412
    title = "Precondition failed"

    def __init__(self, current: int, what: str = "order") -> None:
        super().__init__(
            f"the {what} has changed: current version is {current}", current_version=current
        )


class Unauthorized(FieldbridgeError):
    """[401] No valid bearer token."""

    status = 401
    title = "Unauthorized"


class SetupError(Exception):
    """What cannot run as set up (not a request's fault): a system's settings incomplete, a
    mapping unreadable or not fitting the org. The message is a sentence for a person that
    names what to set; ``problems`` lists each misfit when there are several."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)
