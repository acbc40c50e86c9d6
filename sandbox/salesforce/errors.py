"""Errors as the org answers them."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A whole request refused: ``status`` and the body ``[{"message", "errorCode", ...}]``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        headers: dict[str, str] | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.headers = headers or {}
        self.code = code
        self.field = field  # the field a value did not fit (JSON_PARSER_ERROR), for Bulk
        error: dict[str, Any] = {"message": message, "errorCode": code}
        if fields is not None:
            error["fields"] = fields
        self.body: Any = [error]


class MultipleChoices(Exception):
    """An external ID that matches several records: 300 with the records' URLs."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__("external ID matches several records")
        self.urls = urls


class RecordError(Exception):
    """One record refused (a DML error): within a collection it fails that record alone."""

    def __init__(self, errors: list[tuple[str, str, list[str]]]) -> None:
        super().__init__("; ".join(f"{code}: {message}" for code, message, _ in errors))
        self.errors = errors

    @classmethod
    def one(cls, code: str, message: str, fields: list[str] | None = None) -> RecordError:
        return cls([(code, message, fields or [])])

    def rest_body(self) -> list[dict[str, Any]]:
        """As a single-record call answers it (400)."""
        return [{"message": m, "errorCode": c, "fields": f} for c, m, f in self.errors]

    def collection_errors(self) -> list[dict[str, Any]]:
        """As a collection's per-record result lists it."""
        return [{"statusCode": c, "message": m, "fields": f} for c, m, f in self.errors]


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> ApiError:
    return ApiError(
        401,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
        headers={"WWW-Authenticate": 'Token realm="Salesforce"'},
    )
