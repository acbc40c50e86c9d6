"""The Salesforce connector: SOQL pages in, upserts (and updates by id) out, in the
connectors' vocabulary.

Every call goes through one path (``_call``): the quota guard, the session (logging in on
first use), one HTTP request through simple-salesforce on a ``PinnedSession`` (timeout and
CA bundle always applied), translation of every simple-salesforce and requests exception,
one new login and one repeat on ``INVALID_SESSION_ID``, and the shared retry policy around
all of it. Each attempt is one REST request, counted in ``api_calls``.

Not thread-safe: use one connector per thread (or per task).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from simple_salesforce import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceError

from connectors.errors import AuthExpired, ConnectorError, Permanent
from connectors.http import PinnedSession
from connectors.retry import retrying
from connectors.salesforce.auth import Token, TokenSource
from connectors.salesforce.errors import (
    SYSTEM,
    from_record_errors,
    from_requests,
    from_salesforce,
)
from connectors.salesforce.quota import QuotaExhausted, QuotaGuard
from connectors.salesforce.settings import SalesforceSettings

__all__ = ["COLLECTION_SIZE", "SalesforceConnector", "UpsertResult"]

log = logging.getLogger("connectors.salesforce")

COLLECTION_SIZE = 200  # most records in one sObject Collections request
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
T = TypeVar("T")


@dataclass(frozen=True)
class UpsertResult:
    """One record's outcome. ``error`` is the classified first error (not raised)."""

    id: str | None
    created: bool
    success: bool = True
    errors: tuple[Mapping[str, Any], ...] = ()
    error: ConnectorError | None = None


class SalesforceConnector:
    """One org's REST API. Raises only the connectors' vocabulary (``connectors.errors``)
    and ``QuotaExhausted`` (a ``RateLimited``); ``ValueError`` for a bad argument.

    ``api_calls`` counts REST requests sent (every attempt, retries and repeats after a new
    login included; logins not); ``api_usage`` is the org's (used, max) as last reported.
    """

    system = SYSTEM

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_total_s: float | None = None,
    ) -> None:
        """No I/O here: the first call logs in.

        ``max_total_s`` caps one call with its retries (default: ``TIMEOUT_S`` times
        ``MAX_ATTEMPTS``); ``sleep`` and ``clock`` are for tests.
        """
        self.settings = settings
        self.session = PinnedSession(timeout_s=settings.timeout_s, ca_bundle=settings.ca_bundle)
        self.session.hooks["response"].append(self._on_response)
        self.quota = QuotaGuard(settings.quota_share)
        self.api_calls = 0
        self._tokens = TokenSource(settings, self.session, clock=clock)
        self._token: Token | None = None
        self._sf: Salesforce | None = None
        self._last_response: requests.Response | None = None
        self._policy = retrying(
            system=SYSTEM,
            max_attempts=settings.max_attempts,
            max_total_s=(
                settings.timeout_s * settings.max_attempts if max_total_s is None else max_total_s
            ),
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            sleep=sleep,
            never_retry=(QuotaExhausted,),
        )

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """The org's (used, max) daily API requests from the last answer that told, if any."""
        if self.quota.used is None or self.quota.max is None:
            return None
        return self.quota.used, self.quota.max

    # -- reading --------------------------------------------------------------------------

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int = 2000
    ) -> Iterator[list[dict[str, Any]]]:
        """The records of a SOQL query, page by page (``attributes`` removed; empty pages
        skipped), following ``nextRecordsUrl``; each page fetch is retried on its own."""
        if not 200 <= batch_size <= 2000:
            raise ValueError("batch_size must be between 200 and 2000 (Salesforce's range)")
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        page: dict[str, Any] = self._call(
            "query", lambda sf: sf.query(soql, include_deleted=include_deleted, headers=headers)
        )
        while True:
            records = [_without_attributes(r) for r in page.get("records", ())]
            if records:
                yield records
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self._call("query_more", partial(_query_more, url=next_url, headers=headers))

    def describe(self, sobject: str) -> dict[str, Any]:
        """The raw describe of one sObject type."""
        _check_api_name(sobject)
        result: dict[str, Any] = self._call(
            "describe", lambda sf: self._sobject(sf, sobject).describe()
        )
        return result

    def limits(self) -> dict[str, Any]:
        """The org's limits (``/limits``); also feeds the quota guard."""
        result: dict[str, Any] = self._call("limits", lambda sf: sf.limits())
        daily = result.get("DailyApiRequests")
        if isinstance(daily, Mapping) and {"Max", "Remaining"} <= daily.keys():
            self.quota.observe(int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"]))
        return result

    # -- writing --------------------------------------------------------------------------

    def upsert(
        self, sobject: str, ext_id_field: str, ext_id: str, record: Mapping[str, Any]
    ) -> UpsertResult:
        """Create or update one record by external id. Several matches raise ``Permanent``
        with code ``MULTIPLE_CHOICES``; any other refusal raises in the vocabulary."""
        _check_api_name(sobject)
        _check_api_name(ext_id_field)
        body = {k: v for k, v in record.items() if k not in ("attributes", ext_id_field)}
        path = f"{ext_id_field}/{quote(str(ext_id), safe='')}"
        response: requests.Response = self._call(
            "upsert", lambda sf: self._sobject(sf, sobject).upsert(path, body, raw_response=True)
        )
        try:
            answer: Any = response.json() if response.content else {}
        except ValueError:  # a 2xx without a JSON body: the status still tells created
            answer = {}
        answer = answer if isinstance(answer, Mapping) else {}
        return UpsertResult(
            id=answer.get("id"),
            created=response.status_code == 201 or answer.get("created") is True,
        )

    def update(self, sobject: str, record_id: str, record: Mapping[str, Any]) -> UpsertResult:
        """Update one record by its Salesforce id (``PATCH /sobjects/{sobject}/{id}``, answered
        204): for a record raised in Salesforce, which has no external id of ours yet (the
        REST API has no upsert by record id). ``Id`` and ``attributes`` are left out of the
        body; an ``Id`` there that names another record is a ``ValueError``. A refusal
        raises in the vocabulary (a missing record: ``Permanent`` with code ``NOT_FOUND``)."""
        _check_api_name(sobject)
        if not _RECORD_ID.fullmatch(record_id):
            raise ValueError(f"not a Salesforce record id: {record_id!r}")
        body: dict[str, Any] = {}
        for key, value in record.items():
            if key == "attributes":
                continue
            if key.lower() == "id":
                if not (isinstance(value, str) and value[:15] == record_id[:15]):
                    raise ValueError(f"the record's Id {value!r} is not {record_id!r}")
                continue
            body[key] = value
        response: requests.Response = self._call(
            "update",
            lambda sf: self._sobject(sf, sobject).update(record_id, body, raw_response=True),
        )
        try:
            answer: Any = response.json() if response.content else {}
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, Mapping) else {}
        return UpsertResult(id=answer.get("id") or record_id, created=False)

    def upsert_many(
        self, sobject: str, ext_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[UpsertResult]:
        """Upsert by external id in sObject Collections of 200 (``allOrNone`` false): one
        result per record, in order; a refused record carries its errors and does not fail
        the others. A whole batch that fails is classified and retried per the policy, and
        if it still fails the error is raised (earlier batches stay applied: upserts by
        external id are safe to send again)."""
        _check_api_name(sobject)
        _check_api_name(ext_id_field)
        path = f"composite/sobjects/{sobject}/{ext_id_field}"
        results: list[UpsertResult] = []
        for start in range(0, len(records), COLLECTION_SIZE):
            batch = records[start : start + COLLECTION_SIZE]
            payload = json.dumps(
                {
                    "allOrNone": False,
                    "records": [
                        {"attributes": {"type": sobject}}
                        | {k: v for k, v in r.items() if k != "attributes"}
                        for r in batch
                    ],
                }
            )
            answer = self._call("upsert_many", partial(_patch, path=path, data=payload))
            if not isinstance(answer, list) or len(answer) != len(batch):
                raise Permanent(
                    SYSTEM,
                    f"sObject Collections answered {len(answer) if isinstance(answer, list) else 0}"
                    f" results for {len(batch)} records",
                    200,
                    body=answer,
                )
            results.extend(_upsert_result(item) for item in answer)
        return results

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> SalesforceConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one path every call takes ----------------------------------------------------

    def _call(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        renewed = False

        def attempt() -> T:
            nonlocal renewed
            sf = self._client()
            try:
                return self._send(sf, fn)
            except AuthExpired:
                if renewed or not self._tokens.can_renew:
                    raise
                renewed = True
                log.info("salesforce: session expired during %s; logging in again", what)
                self._sf = self._token = None
                return self._send(self._client(), fn)

        result: T = self._policy.copy()(attempt)
        return result

    def _send(self, sf: Salesforce, fn: Callable[[Salesforce], T]) -> T:
        self.quota.check()
        self.api_calls += 1
        self._last_response = None
        try:
            return fn(sf)
        except SalesforceError as exc:
            last = self._last_response  # (a Response is falsy for 4xx and 5xx)
            retry_after = last.headers.get("Retry-After") if last is not None else None
            raise from_salesforce(exc, retry_after=retry_after) from exc
        except requests.RequestException as exc:
            raise from_requests(exc) from exc

    def _client(self) -> Salesforce:
        if self._sf is None:
            if self._token is None:
                self._token = self._tokens.fetch()
            self._sf = Salesforce(
                instance_url=self._token.instance_url,
                session_id=self._token.access_token,
                session=self.session,
                version=self.settings.api_version,
                object_pairs_hook=dict,
            )
        return self._sf

    def _sobject(self, sf: Salesforce, name: str) -> SFType:
        _check_api_name(name)
        return SFType(
            name,
            sf.session_id,
            sf.sf_instance,
            sf_version=self.settings.api_version,
            session=self.session,
            salesforce=sf,
            object_pairs_hook=dict,
        )

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_response = response
        self.quota.observe_header(response.headers.get("Sforce-Limit-Info"))


def _query_more(sf: Salesforce, *, url: str, headers: dict[str, str]) -> Any:
    return sf.query_more(url, identifier_is_url=True, headers=headers)


def _patch(sf: Salesforce, *, path: str, data: str) -> Any:
    return sf.restful(path, method="PATCH", data=data)


def _check_api_name(name: str) -> None:
    if not _API_NAME.fullmatch(name):
        raise ValueError(f"not a Salesforce API name: {name!r}")


def _without_attributes(value: Any) -> Any:
    """A record with every ``attributes`` key removed, nested records included."""
    if isinstance(value, Mapping):
        return {k: _without_attributes(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [_without_attributes(v) for v in value]
    return value


def _upsert_result(item: Any) -> UpsertResult:
    if not isinstance(item, Mapping):
        return UpsertResult(None, False, False, error=Permanent(SYSTEM, f"no result: {item!r}"))
    errors = tuple(e for e in item.get("errors") or () if isinstance(e, Mapping))
    success = bool(item.get("success"))
    return UpsertResult(
        id=item.get("id"),
        created=bool(item.get("created")),
        success=success,
        errors=errors,
        error=None if success else from_record_errors(list(errors)),
    )
