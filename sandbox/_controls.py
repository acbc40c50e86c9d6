"""The ``/__ledger`` and ``/__faults`` controls every simulator serves, over the ledger and
the fault plan its app shares with the simulator under one lock; ``respond(status, body)``
is the app's own JSON answer. Neither is faulted nor recorded.

- ``GET /__ledger``: the ledger; ``DELETE /__ledger``: empties it (204).
- ``GET /__faults``: the plan's settings and its ``log``; ``POST /__faults`` with a JSON
  object of settings changes them first (400 ``{"error": ...}`` when they are wrong).

``Controls`` gives a simulator the same over the same plan and ledger, in Python:
``set_faults``, ``clear_faults``, ``fault_log`` and ``clear_ledger``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox._faults import FaultPlan

__all__ = ["Controls", "Shared", "faults_route", "ledger_route"]

Respond = Callable[[int, Any], Response]


class Shared(Protocol):
    """What an app shares with its simulator under ``lock``: the fault plan and the ledger."""

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    @property
    def faults(self) -> FaultPlan: ...

    @property
    def ledger(self) -> list[dict[str, Any]]: ...


class Controls:
    """The controls on the simulator itself, over what it shares with its app (``_shared``,
    given by the subclass)."""

    @property
    def _shared(self) -> Shared:
        raise NotImplementedError

    def set_faults(self, **settings: Any) -> None:
        """``rate`` (0..1), ``kinds`` (the simulator's own: ``KINDS`` of its ``faults``
        module), ``seed``, ``latency_ms``, ``hang_s``, ``retry_after_s``. The seeded sequence
        restarts."""
        shared = self._shared
        with shared.lock:
            shared.faults.configure(**settings)

    def clear_faults(self) -> None:
        self.set_faults(rate=0)

    @property
    def fault_log(self) -> list[dict[str, Any]]:
        """The faults dealt since the plan was last set: call number, method, path, kind."""
        shared = self._shared
        with shared.lock:
            return [dict(e) for e in shared.faults.log]

    def clear_ledger(self) -> None:
        shared = self._shared
        with shared.lock:
            shared.ledger.clear()


def ledger_route(
    lock: AbstractContextManager[Any], ledger: list[dict[str, Any]], respond: Respond
) -> Route:
    async def ctl_ledger(request: Request) -> Response:
        with lock:
            if request.method == "DELETE":
                ledger.clear()
                return respond(204, None)
            return respond(200, list(ledger))

    return Route("/__ledger", ctl_ledger, methods=["GET", "DELETE"])


def faults_route(lock: AbstractContextManager[Any], plan: FaultPlan, respond: Respond) -> Route:
    async def ctl_faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                settings = json.loads(await request.body() or b"{}")
                if not isinstance(settings, dict):
                    raise ValueError("the body must be a JSON object")
                with lock:
                    plan.configure(**settings)
            except (ValueError, TypeError) as exc:
                return respond(400, {"error": str(exc)})
        with lock:
            return respond(200, {**plan.settings(), "log": list(plan.log)})

    return Route("/__faults", ctl_faults, methods=["GET", "POST"])


def xml_response(status: int, content: bytes) -> Response:
    """A SOAP answer as it is (an envelope, or a Fault with HTTP 500)."""
    return Response(content, status_code=status, media_type="text/xml; charset=utf-8")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON answer (dates and the like as text); no body and no Content-Type for
    ``None``."""
    if body is None:
        return Response(b"", status_code=status, headers=headers)
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    out = {"Content-Type": "application/json"} | (headers or {})
    return Response(payload, status_code=status, headers=out)
