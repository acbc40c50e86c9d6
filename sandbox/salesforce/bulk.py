"""Bulk API 2.0: query jobs (CSV results paged by ``Sforce-Locator``) and ingest jobs (CSV
uploaded in batches, processed on ``UploadComplete`` in chunks of 200 records, one transaction
and one SystemModstamp per chunk, with successful, failed and unprocessed results).

Jobs run at once: a query job is ``UploadComplete`` when created and ``JobComplete`` when next
looked at; an ingest job is ``JobComplete`` (or ``Failed``) as soon as it is closed.

Query results are written as the org writes them: every cell quoted (a null is ``""``), and a
dateTime in UTC with a ``Z`` (``2024-05-01T09:30:00.000Z``) where REST answers ``+0000``.
"""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.salesforce import soql
from sandbox.salesforce.errors import ApiError, RecordError
from sandbox.salesforce.org import Org, Plan, Row, sort_key
from sandbox.salesforce.schema import IdMinter, normalize_id
from sandbox.salesforce.soql import datetime_text

DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
DEFAULT_MAX_RECORDS = 50_000
CHUNK = 200
NULL = "#N/A"  # a CSV cell that sets a field to null (an empty cell leaves it as it is)


@dataclass
class Job:
    info: dict[str, Any]
    # query jobs
    rows: list[Row] = field(default_factory=list)
    columns: list[tuple[str, soql.Getter]] = field(default_factory=list)
    # ingest jobs
    uploads: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)


def _invalid_job(message: str) -> ApiError:
    return ApiError(400, "INVALIDJOB", message)


def _bulk_datetime(getter: soql.Getter) -> soql.Getter:
    """A dateTime column as Bulk API query results write it: ``...000Z``, not ``...000+0000``."""

    def get(row: Row) -> Any:
        value = getter(row)
        if isinstance(value, str) and value.endswith("+0000"):
            return value[:-5] + "Z"
        return value

    return get


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


class Bulk:
    def __init__(self, org: Org) -> None:
        self.org = org
        self.jobs: dict[str, Job] = {}
        self.minter = IdMinter("750", 62**4 * 10)

    def _new_info(self, payload: dict[str, Any], version: str, kind: str) -> dict[str, Any]:
        delimiter = payload.get("columnDelimiter", "COMMA")
        line_ending = payload.get("lineEnding", "LF")
        if delimiter not in DELIMITERS:
            raise _invalid_job(f"InvalidJob : Invalid column delimiter: {delimiter}")
        if line_ending not in LINE_ENDINGS:
            raise _invalid_job(f"InvalidJob : Invalid line ending: {line_ending}")
        if payload.get("contentType", "CSV") != "CSV":
            raise _invalid_job("InvalidJob : contentType must be CSV")
        now = datetime_text(datetime.now(UTC))
        return {
            "id": self.minter.mint(),
            "operation": payload.get("operation"),
            "object": payload.get("object"),
            "createdById": "",
            "createdDate": now,
            "systemModstamp": now,
            "state": "Open",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "jobType": "V2Query" if kind == "query" else "V2Ingest",
            "lineEnding": line_ending,
            "columnDelimiter": delimiter,
        }

    def _job(self, job_id: str, kind: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or (job.info["jobType"] == "V2Query") != (kind == "query"):
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _csv(
        self, job: Job, header: list[str], rows: list[list[str]], quote_all: bool = False
    ) -> str:
        out = io.StringIO()
        writer = csv.writer(
            out,
            delimiter=DELIMITERS[job.info["columnDelimiter"]],
            lineterminator=LINE_ENDINGS[job.info["lineEnding"]],
            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
        )
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue()

    # --- query jobs ------------------------------------------------------------------------

    def create_query(self, payload: Any, version: str, created_by: str) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        operation = payload.get("operation")
        if operation not in QUERY_OPERATIONS:
            raise _invalid_job(f"InvalidJob : Invalid operation: {operation}")
        text = payload.get("query")
        if not text:
            raise _invalid_job("InvalidJob : query is required")
        info = self._new_info(payload, version, "query")
        with self.org.lock:
            try:
                query = soql.parse(text)
                compiled = self.org.binder.compile(query)
            except soql.SoqlError as exc:
                raise ApiError(400, "API_ERROR", f"{exc.code}: {exc.message}") from None
            if compiled.count_items or query.offset:
                raise ApiError(
                    400,
                    "API_ERROR",
                    "Aggregate queries and OFFSET are not supported by Bulk API 2.0",
                )
            table = self.org.tables[compiled.sobject.name]
            pred = compiled.predicate
            rows = [
                r
                for r in table.rows
                if (operation == "queryAll" or not r[1]) and (pred is None or pred(r))
            ]
            for getter, desc, nulls_last, fold in reversed(compiled.order):
                rows.sort(key=sort_key(getter, desc, nulls_last, fold), reverse=desc)
            if compiled.limit is not None:
                rows = rows[: compiled.limit]
            columns = []
            for item in query.items:
                assert item.path is not None  # nosec B101  # the parser gives every selected item a path; this narrows the type
                resolved = self.org.binder.resolve(query, compiled.sobject, item.path)
                name = ".".join(
                    [*(f.relationship_name or "" for f in resolved.chain), resolved.field.name]
                )
                getter = (
                    _bulk_datetime(resolved.getter)
                    if resolved.field.type == "datetime"
                    else resolved.getter
                )
                columns.append((name, getter))
        info.update(object=compiled.sobject.name, createdById=created_by, query=text)
        info["state"] = "UploadComplete"
        job = Job(dict(info), rows=rows, columns=columns)
        self.jobs[info["id"]] = job
        job.info.update(state="JobComplete", numberRecordsProcessed=len(rows), retries=0)
        job.info["totalProcessingTime"] = 1
        return info

    def query_results(
        self, job_id: str, locator: str | None, max_records: int | None
    ) -> tuple[str, dict[str, str]]:
        job = self._job(job_id, "query")
        if job.info["state"] != "JobComplete":
            raise ApiError(400, "API_ERROR", "The job is not complete")
        offset = 0
        if locator and locator != "null":
            try:
                offset = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
            except ValueError:
                raise ApiError(400, "INVALID_LOCATOR", f"Invalid locator: {locator}") from None
        size = max_records or DEFAULT_MAX_RECORDS
        with self.org.lock:
            page = job.rows[offset : offset + size]
            values = [[_cell(get(row)) for _, get in job.columns] for row in page]
        end = offset + len(page)
        next_locator = (
            base64.b64encode(str(end).encode()).decode().rstrip("=")
            if end < len(job.rows)
            else "null"
        )
        text = self._csv(job, [name for name, _ in job.columns], values, quote_all=True)
        return text, {"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(page))}

    # --- ingest jobs -----------------------------------------------------------------------

    def create_ingest(self, payload: Any, version: str, created_by: str) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        operation = payload.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise _invalid_job(f"InvalidJob : Invalid operation: {operation}")
        obj = payload.get("object")
        table = self.org.tables_lower.get(str(obj).lower())
        if table is None:
            raise _invalid_job(f"InvalidJob : Invalid object: {obj}")
        ext = payload.get("externalIdFieldName")
        if operation == "upsert":
            if not ext:
                raise _invalid_job("InvalidJob : External ID was blank for the upsert")
            field = table.type.field(ext)
            if field is None or not (field.external_id or field.name == "Id"):
                raise _invalid_job(f"InvalidJob : Invalid external ID field: {ext}")
            ext = field.name
        info = self._new_info(payload, version, "ingest")
        info.update(object=table.type.name, createdById=created_by)
        if operation == "upsert":
            info["externalIdFieldName"] = ext
        info["contentUrl"] = f"services/data/v{version}/jobs/ingest/{info['id']}/batches"
        self.jobs[info["id"]] = Job(dict(info))
        return info

    def upload(self, job_id: str, data: bytes) -> None:
        job = self._job(job_id, "ingest")
        if job.info["state"] != "Open":
            raise ApiError(
                409,
                "INVALIDJOBSTATE",
                f"Job {job_id} is not open for uploads (it is {job.info['state']})",
            )
        if not data.strip():
            raise ApiError(400, "INVALIDBATCH", "InvalidBatch : the batch is empty")
        job.uploads.append(data.decode("utf-8-sig"))

    def set_state(self, job_id: str, kind: str, state: Any) -> dict[str, Any]:
        job = self._job(job_id, kind)
        current = job.info["state"]
        if state == "Aborted":
            if current in ("JobComplete", "Failed", "Aborted"):
                raise ApiError(409, "INVALIDJOBSTATE", f"Job is already {current}")
            job.info["state"] = "Aborted"
            if kind == "ingest":
                self._unprocessed(job)
            return dict(job.info)
        if kind == "ingest" and state == "UploadComplete":
            if current != "Open":
                raise ApiError(409, "INVALIDJOBSTATE", f"Job is {current}, not Open")
            self._process(job)
            return {**job.info, "state": "UploadComplete"}
        raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state: {state}")

    def _rows(self, job: Job) -> tuple[list[str], list[list[str]]]:
        delimiter = DELIMITERS[job.info["columnDelimiter"]]
        header: list[str] = []
        rows: list[list[str]] = []
        for upload in job.uploads:
            reader = csv.reader(io.StringIO(upload, newline=""), delimiter=delimiter)
            lines = [line for line in reader if line]
            if not lines:
                continue
            if not header:
                header = [h.strip() for h in lines[0]]
            elif [h.strip() for h in lines[0]] != header:
                raise _invalid_job("InvalidBatch : every batch must have the same header")
            rows.extend(lines[1:])
        return header, rows

    def _unprocessed(self, job: Job) -> None:
        try:
            job.header, rows = self._rows(job)
        except ApiError:
            return
        job.unprocessed = rows

    def _fail(self, job: Job, message: str) -> None:
        job.info.update(state="Failed", errorMessage=message)
        job.info.setdefault("numberRecordsProcessed", 0)
        job.info.setdefault("numberRecordsFailed", 0)

    def _process(self, job: Job) -> None:
        org = self.org
        try:
            header, rows = self._rows(job)
        except ApiError as exc:
            self._fail(job, str(exc.body[0]["message"]))
            return
        job.header = header
        table = org.tables[job.info["object"]]
        operation = job.info["operation"]
        ext = job.info.get("externalIdFieldName")
        if not header:
            self._fail(job, "InvalidBatch : no data uploaded")
            return
        for name in header:
            base, dot, _ = name.partition(".")
            if name.lower() == "id":
                continue
            if dot and base.lower() in table.type.relationships:
                continue
            if not dot and table.type.field(name) is not None:
                continue
            self._fail(job, f"InvalidBatch : Field name not found : {name}")
            job.unprocessed = rows
            return
        if operation in ("delete", "hardDelete") and [h.lower() for h in header] != ["id"]:
            self._fail(job, "InvalidBatch : The 'delete' batch must contain only 'Id'")
            job.unprocessed = rows
            return
        processed = failed = 0
        seen: dict[str, int] = {}  # external ids of an upsert: a repeated one fails each row
        if operation == "upsert" and ext and ext != "Id":
            col = next((i for i, h in enumerate(header) if h.lower() == ext.lower()), None)
            for values in rows:
                if col is not None and col < len(values) and values[col]:
                    key = values[col].lower()
                    seen[key] = seen.get(key, 0) + 1
        with org.lock:
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start : start + CHUNK]
                outcomes: list[tuple[list[str], Plan | Row | RecordError]] = []
                for values in chunk:
                    try:
                        outcomes.append(
                            (values, self._plan(table, header, values, operation, ext, seen))
                        )
                    except RecordError as exc:
                        outcomes.append((values, exc))
                    except ApiError as exc:
                        outcomes.append((values, self._cell_error(table, header, values, exc)))
                stamp = org.next_stamp()  # one chunk, one transaction
                for values, outcome in outcomes:
                    processed += 1
                    if isinstance(outcome, RecordError):
                        failed += 1
                        message = "; ".join(
                            f"{code}:{msg}:{'/'.join(fields)} --"
                            for code, msg, fields in outcome.errors
                        )
                        job.failed.append(["", message, *values])
                    elif isinstance(outcome, Plan):
                        record_id, created = org.apply(outcome, stamp)
                        job.successful.append([record_id, _cell(created), *values])
                    else:
                        org._delete(table, outcome, stamp)
                        job.successful.append([outcome[0], "false", *values])
        job.info.update(
            state="JobComplete",
            numberRecordsProcessed=processed,
            numberRecordsFailed=failed,
            retries=0,
            totalProcessingTime=1,
        )

    def _cell_error(
        self, table: Any, header: list[str], values: list[str], exc: ApiError
    ) -> RecordError:
        """A value that does not fit its field fails its row, as Bulk API reports it."""
        field = table.type.field(exc.field) if exc.field else None
        if exc.code == "JSON_PARSER_ERROR" and field is not None:
            raw = next((v for h, v in zip(header, values, strict=False) if h == field.name), "")
            return RecordError.one(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                f"{field.label}: value not of required type: {raw}",
                [field.name],
            )
        return RecordError.one(exc.code, str(exc.body[0]["message"]))

    def _plan(
        self,
        table: Any,
        header: list[str],
        values: list[str],
        operation: str,
        ext: str | None,
        seen: dict[str, int],
    ) -> Plan | Row:
        if len(values) != len(header):
            raise RecordError.one(
                "INVALID_FIELD",
                f"The row has {len(values)} columns, the header {len(header)}",
            )
        body: dict[str, Any] = {}
        given_id: str | None = None
        for name, value in zip(header, values, strict=True):
            if name.lower() == "id":
                given_id = value or None
                continue
            if value == "":
                continue  # an empty cell leaves the field as it is
            cell: Any = None if value == NULL else value
            base, dot, rest = name.partition(".")
            if dot:
                body.setdefault(base, {})[rest] = cell
            else:
                body[name] = cell
        org = self.org
        if operation in ("update", "delete", "hardDelete") or (
            operation == "upsert" and ext == "Id"
        ):
            if given_id is None:
                if operation == "upsert":
                    return org.prepare(table, body, None)
                raise RecordError.one("MISSING_ARGUMENT", "Id not specified", [])
            normal = normalize_id(given_id)
            row = table.by_id.get(normal) if normal else None
            if normal is None or normal[:3] != table.type.key_prefix:
                raise RecordError.one("MALFORMED_ID", f"malformed id {given_id}", [])
            if row is None:
                raise RecordError.one(
                    "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []
                )
            if row[1]:
                raise RecordError.one("ENTITY_IS_DELETED", "entity is deleted", [])
            if operation in ("delete", "hardDelete"):
                return row
            return org.prepare(table, body, row)
        if operation == "insert":
            if given_id is not None:
                raise RecordError.one(
                    "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
                )
            return org.prepare(table, body, None)
        assert ext is not None  # nosec B101  # an upsert job names its external id field (checked when the job was made); this narrows the type
        key = next((v for k, v in body.items() if k.lower() == ext.lower()), None)
        if key is None:
            raise RecordError.one("MISSING_ARGUMENT", f"{ext} not specified", [])
        if seen.get(str(key).lower(), 0) > 1:
            raise RecordError.one(
                "DUPLICATE_VALUE", f"Duplicate external id specified: {key}", [ext]
            )
        found = table.matches(ext, str(key))
        if len(found) > 1:
            raise RecordError.one(
                "DUPLICATE_EXTERNAL_ID",
                f"{ext}: more than one record found for external id field: "
                f"[{', '.join(r[0] for r in found)}]",
                [ext],
            )
        if found:
            body = {k: v for k, v in body.items() if k.lower() != ext.lower()}
            return org.prepare(table, body, found[0])
        return org.prepare(table, body, None)

    def ingest_results(self, job_id: str, kind: str) -> str:
        job = self._job(job_id, "ingest")
        if kind == "successfulresults":
            return self._csv(job, ["sf__Id", "sf__Created", *job.header], job.successful)
        if kind == "failedresults":
            return self._csv(job, ["sf__Id", "sf__Error", *job.header], job.failed)
        if kind == "unprocessedrecords":
            return self._csv(job, job.header, job.unprocessed)
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    def info(self, job_id: str, kind: str) -> dict[str, Any]:
        return dict(self._job(job_id, kind).info)

    def delete(self, job_id: str, kind: str) -> None:
        job = self._job(job_id, kind)
        if job.info["state"] in ("Open", "UploadComplete", "InProgress"):
            raise ApiError(409, "INVALIDJOBSTATE", "Abort the job before deleting it")
        del self.jobs[job_id]

    def list(self, kind: str) -> dict[str, Any]:
        records = [
            dict(j.info)
            for j in self.jobs.values()
            if (j.info["jobType"] == "V2Query") == (kind == "query")
        ]
        return {"done": True, "records": records, "nextRecordsUrl": None}
