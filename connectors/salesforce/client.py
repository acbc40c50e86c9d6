"""The Salesforce connector: SOQL pages in, upserts (and updates by id) out, in the
connectors' vocabulary.

Every call goes through one path (``_call``): the quota guard, the session (logging in on
first use), one HTTP request through simple-salesforce on a ``PinnedSession`` (timeout and
CA bundle always applied), translation of every simple-salesforce and requests exception,
one new login and one repeat on ``INVALID_SESSION_ID``, and the shared retry policy around
all of it. Each attempt is one REST request, counted in ``api_calls``.

Reads go through REST (``query_pages``) or, for large sets, a Bulk API 2.0 query job
(``bulk_query_pages``: CSV results, about one call per 50,000 records), whose records are
shaped as REST gives them so the same mapping reads either. A read takes a ``Query``
(``connectors.salesforce.query``), which the connector writes as SOQL, or SOQL text as it is
(for what a ``Query`` does not describe: an aggregate, a query made by hand).

Not thread-safe: use one connector per thread (or per task).
"""

from __future__ import annotations

import csv
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

from connectors.base import Connector
from connectors.errors import AuthExpired, ConnectorError, Permanent, Retryable
from connectors.salesforce.auth import Token, TokenSource
from connectors.salesforce.bulk import RecordShaper, parse_csv
from connectors.salesforce.errors import (
    SYSTEM,
    from_answer,
    from_record_errors,
    from_requests,
    from_salesforce,
)
from connectors.salesforce.query import Query, count_soql, to_soql
from connectors.salesforce.quota import QuotaExhausted, QuotaGuard
from connectors.salesforce.settings import SalesforceSettings

__all__ = ["COLLECTION_SIZE", "SalesforceConnector", "UpsertResult"]

log = logging.getLogger("connectors.salesforce")

COLLECTION_SIZE = 200  # most records in one sObject Collections request
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_FROM = re.compile(r"\bFROM\s+([A-Za-z][A-Za-z0-9_]*)", re.IGNORECASE)
T = TypeVar("T")


@dataclass(frozen=True)
class UpsertResult:
    """One record's outcome. ``error`` is the classified first error (not raised)."""

    id: str | None
    created: bool
    success: bool = True
    errors: tuple[Mapping[str, Any], ...] = ()
    error: ConnectorError | None = None


class SalesforceConnector(Connector[SalesforceSettings]):
    """One org's REST API. Raises only the connectors' vocabulary (``connectors.errors``)
    and ``QuotaExhausted`` (a ``RateLimited``); ``ValueError`` for a bad argument.

    ``api_calls`` counts REST requests sent (every attempt, retries and repeats after a new
    login included; logins not); ``api_usage`` is the org's (used, max) as last reported.
    """

    system = SYSTEM
    never_retry = (QuotaExhausted,)

    # Bulk API 2.0 query jobs: the first look at a job after this many seconds, each next wait
    # doubled up to the most; all the waits of one job together at most the timeout.
    bulk_poll_first_s = 0.5
    bulk_poll_max_s = 10.0
    bulk_job_timeout_s = 600.0

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
        super().__init__(
            settings,
            sleep=sleep,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            max_total_s=max_total_s,
        )
        self.session.hooks["response"].append(self._on_response)
        self.quota = QuotaGuard(settings.quota_share)
        self._tokens = TokenSource(settings, self.session, clock=clock)
        self._token: Token | None = None
        self._sf: Salesforce | None = None
        self._last_response: requests.Response | None = None
        self._sleep = sleep
        self._describes: dict[str, dict[str, Any]] = {}  # by lower-cased name, for bulk reads

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """The org's (used, max) daily API requests from the last answer that told, if any."""
        if self.quota.used is None or self.quota.max is None:
            return None
        return self.quota.used, self.quota.max

    # -- reading --------------------------------------------------------------------------

    def query_pages(
        self, query: Query | str, *, include_deleted: bool = False, batch_size: int = 2000
    ) -> Iterator[list[dict[str, Any]]]:
        """The records of a query (a ``Query``, or SOQL text as it is), page by page
        (``attributes`` removed; empty pages skipped), following ``nextRecordsUrl``; each page
        fetch is retried on its own."""
        if not 200 <= batch_size <= 2000:
            raise ValueError("batch_size must be between 200 and 2000 (Salesforce's range)")
        soql = _soql(query)
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

    def bulk_query_pages(
        self,
        query: Query | str,
        *,
        include_deleted: bool = False,
        page_size: int = 2000,
        results_per_call: int = 50_000,
    ) -> Iterator[list[dict[str, Any]]]:
        """The records of a query (a ``Query``, or SOQL text as it is) through a Bulk API 2.0
        query job (operation ``queryAll`` when ``include_deleted``), in the query's order,
        yielded in pages of ``page_size`` records (the last may be shorter; none when there
        are no records), each record shaped exactly as ``query_pages`` (REST) yields it: types
        restored from the describes of the objects the columns belong to (each describe one
        call, cached for the connector's life), lookups as nested records, ``None`` for an
        empty cell and for a parent whose cells are all empty, dateTimes as REST writes them
        (``connectors.salesforce.bulk`` says how).

        Calls: one to create the job, one per look at it (after ``bulk_poll_first_s``, then
        doubling up to ``bulk_poll_max_s``; ``Failed`` or ``Aborted`` raises ``Permanent``
        with the job's ``errorMessage``; still running after ``bulk_job_timeout_s`` of waits
        raises ``Retryable`` after aborting the job), one per ``results_per_call`` records,
        and the describes not cached yet: 100,000 Accounts cost create + poll + 2 result sets
        + describe = 5. Each is one request on the connector's one path (``_call``): counted,
        quota-guarded, retried by the shared policy, renewed on ``INVALID_SESSION_ID``.

        What this relies on (Salesforce's Bulk API 2.0 guide, "Understanding Bulk API 2.0
        Query" and "Get Results for a Query Job"): results are CSV with a header row, columns
        in the query's order from API 50.0; ``maxRecords`` caps one results set; the
        ``Sforce-Locator`` header names the next set and is the string ``"null"`` after the
        last; a locator does not change while the job exists and may be fetched again, so a
        results fetch retried after a failure neither skips nor repeats records;
        ``Sforce-NumberOfRecords`` counts the set (checked: a short set is fetched again).
        ``ORDER BY`` is supported (it only turns off PK chunking, so a very large ordered query
        runs slower); aggregates (``COUNT()``), ``GROUP BY``, ``OFFSET``, ``TYPEOF``,
        parent-to-child subqueries and compound address or location fields are not (the job
        is refused: ``Permanent``). A null is an empty cell (Salesforce stores no empty
        strings); a dateTime is written ``...000Z`` where REST writes ``...000+0000``.

        The job is left to Salesforce to delete (it removes query jobs after some days; their
        results count against a daily 1 TB store no sync of ours comes near): deleting it
        would be one more call per read and could not happen when the caller stops early.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if not 1 <= results_per_call <= 1_000_000:
            raise ValueError("results_per_call must be between 1 and 1,000,000")
        job_id, sobject = self._bulk_job(query, include_deleted)
        yield from self._bulk_pages(job_id, sobject, page_size, results_per_call)

    def count(self, query: Query, *, include_deleted: bool = False) -> int:
        """How many records ``query`` selects: ``SELECT COUNT() FROM sobject [WHERE ...]``
        (``count_soql``) through REST ``query`` (``queryAll`` when ``include_deleted``), its
        ``totalSize``. One API call."""
        soql = count_soql(query)
        page: Any = self._call("count", lambda sf: sf.query(soql, include_deleted=include_deleted))
        total = page.get("totalSize") if isinstance(page, Mapping) else None
        if not isinstance(total, int):
            raise Permanent(SYSTEM, f"COUNT() answered without a totalSize: {page!r}", body=page)
        return total

    def describe(self, sobject: str) -> dict[str, Any]:
        """The raw describe of one sObject type."""
        _check_api_name(sobject)
        result: dict[str, Any] = self._call(
            "describe", lambda sf: self._sobject(sf, sobject).describe()
        )
        return result

    def record(self, sobject: str, record_id: str) -> dict[str, Any]:
        """One record by its Id (``GET /sobjects/{sobject}/{id}``), without ``attributes``.
        The sync never reads one record at a time; a tool that compares with it does."""
        _check_api_name(sobject)
        found = self._call("get", lambda sf: self._sobject(sf, sobject).get(record_id))
        record: dict[str, Any] = _without_attributes(found)
        return record

    def limits(self) -> dict[str, Any]:
        """The org's limits (``/limits``); also feeds the quota guard."""
        result: dict[str, Any] = self._call("limits", lambda sf: sf.limits())
        daily = result.get("DailyApiRequests")
        if isinstance(daily, Mapping) and {"Max", "Remaining"} <= daily.keys():
            self.quota.observe(int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"]))
        return result

    # -- Bulk API 2.0 query jobs ----------------------------------------------------------

    def _bulk_job(self, query: Query | str, include_deleted: bool) -> tuple[str, str]:
        """Create the query job and wait until it is complete: its id, and the sObject its
        columns belong to (as the job names it, else as the query does)."""
        soql = _soql(query)
        payload = json.dumps(
            {
                "operation": "queryAll" if include_deleted else "query",
                "query": soql,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            }
        )
        job = self._call(
            "bulk_create", partial(_restful, path="jobs/query", method="POST", data=payload)
        )
        job_id = job.get("id") if isinstance(job, Mapping) else None
        if not isinstance(job_id, str) or not _RECORD_ID.fullmatch(job_id):
            raise Permanent(SYSTEM, f"a query job was answered without an id: {job!r}", body=job)
        sobject = job.get("object")
        if not isinstance(sobject, str) or not _API_NAME.fullmatch(sobject):
            if isinstance(query, Query):
                sobject = query.sobject
            else:
                found = _FROM.search(soql)
                if found is None:
                    raise ValueError(f"no FROM in the query: {soql!r}")
                sobject = found.group(1)
        self._await_bulk_job(job_id, job)
        return job_id, sobject

    def _bulk_pages(
        self, job_id: str, sobject: str, page_size: int, results_per_call: int
    ) -> Iterator[list[dict[str, Any]]]:
        """The complete job's records, results set by results set, in pages of
        ``page_size``."""
        shaper: RecordShaper | None = None
        pending: list[dict[str, Any]] = []
        locator: str | None = None
        while True:
            header, rows, locator = self._call(
                "bulk_results",
                partial(self._bulk_results, job_id=job_id, locator=locator, size=results_per_call),
            )
            if header:
                if shaper is None or shaper.header != header:
                    shaper = RecordShaper(sobject, header, self._described)
                pending.extend(shaper.records(rows))
            if len(pending) >= page_size:
                full = len(pending) - len(pending) % page_size
                for start in range(0, full, page_size):
                    yield pending[start : start + page_size]
                pending = pending[full:]
            if locator is None:
                break
        if pending:
            yield pending

    def _described(self, sobject: str) -> dict[str, Any]:
        """The describe of one sObject type, fetched once for the connector's life."""
        key = sobject.lower()
        if key not in self._describes:
            self._describes[key] = self.describe(sobject)
        return self._describes[key]

    def _await_bulk_job(self, job_id: str, job: Mapping[str, Any]) -> None:
        """Look at the job until it is ``JobComplete``; raises when it failed or overran."""
        info: Mapping[str, Any] = job
        waited, delay = 0.0, self.bulk_poll_first_s
        while True:
            state = info.get("state")
            if state == "JobComplete":
                return
            if state in ("Failed", "Aborted"):
                message = info.get("errorMessage") or "no message"
                raise Permanent(
                    SYSTEM,
                    f"bulk query job {job_id} {state}: {message}",
                    code=f"BULK_JOB_{str(state).upper()}",
                    body=dict(info),
                )
            if waited + delay > self.bulk_job_timeout_s:
                self._abort_bulk_job(job_id)
                raise Retryable(
                    SYSTEM,
                    f"bulk query job {job_id} still {state} after {waited:.1f} s (aborted)",
                    code="BULK_JOB_TIMEOUT",
                )
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, self.bulk_poll_max_s)
            answer = self._call(
                "bulk_poll", partial(_restful, path=f"jobs/query/{job_id}", method="GET")
            )
            if not isinstance(answer, Mapping):
                raise Permanent(SYSTEM, f"job {job_id} answered {answer!r}", body=answer)
            info = answer

    def _abort_bulk_job(self, job_id: str) -> None:
        try:
            self._call(
                "bulk_abort",
                partial(
                    _restful,
                    path=f"jobs/query/{job_id}",
                    method="PATCH",
                    data=json.dumps({"state": "Aborted"}),
                ),
            )
        except ConnectorError as exc:  # the timeout is what the caller needs to hear
            log.warning("salesforce: could not abort bulk query job %s: %s", job_id, exc)

    def _bulk_results(
        self, sf: Salesforce, *, job_id: str, locator: str | None, size: int
    ) -> tuple[list[str], list[list[str]], str | None]:
        """One results set: (header, rows, the next locator or None after the last). A set
        whose rows do not fit its header or its ``Sforce-NumberOfRecords`` is ``Retryable``:
        the same locator fetches the same set again."""
        params: dict[str, Any] = {"maxRecords": size}
        if locator is not None:
            params["locator"] = locator
        response = self.session.get(
            f"{sf.base_url}jobs/query/{job_id}/results",
            headers={**sf.headers, "Accept": "text/csv"},
            params=params,
        )
        if response.status_code >= 300:
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            raise from_answer(
                response.status_code, body, retry_after=response.headers.get("Retry-After")
            )
        try:
            header, rows = parse_csv(response.content.decode("utf-8"))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise Retryable(SYSTEM, f"unreadable results of job {job_id}: {exc}") from exc
        if any(len(row) != len(header) for row in rows):
            raise Retryable(SYSTEM, f"a results set of job {job_id} has rows cut short")
        told = response.headers.get("Sforce-NumberOfRecords")
        if told is not None and told.strip().isdigit() and int(told) != len(rows):
            raise Retryable(
                SYSTEM, f"a results set of job {job_id} has {len(rows)} of {told} records"
            )
        following = response.headers.get("Sforce-Locator")
        if following is None:
            raise Permanent(SYSTEM, f"results of job {job_id} without a Sforce-Locator")
        following = following.strip()
        return header, rows, None if following in ("", "null") else following

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
        return self._collections("upsert_many", path, sobject, records)

    def update_many(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[UpsertResult]:
        """Update records by their Salesforce ``Id`` in sObject Collections of 200
        (``PATCH composite/sobjects``, ``allOrNone`` false): one result per record, in order,
        as ``upsert_many``. For records raised in Salesforce, which carry no key of ours yet."""
        _check_api_name(sobject)
        for record in records:
            if not (isinstance(record.get("Id"), str) and _RECORD_ID.fullmatch(record["Id"])):
                raise ValueError(f"not a Salesforce record id: {record.get('Id')!r}")
        return self._collections("update_many", "composite/sobjects", sobject, records)

    def _collections(
        self, what: str, path: str, sobject: str, records: Sequence[Mapping[str, Any]]
    ) -> list[UpsertResult]:
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
            answer = self._call(what, partial(_patch, path=path, data=payload))
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


def _restful(sf: Salesforce, *, path: str, method: str, data: str | None = None) -> Any:
    return sf.restful(path, method=method, data=data)


def _soql(query: Query | str) -> str:
    return to_soql(query) if isinstance(query, Query) else query


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
