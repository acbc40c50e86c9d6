"""The org over HTTP: the OAuth token endpoint, the REST API subset, and ``/__*`` controls.

Every REST call is authenticated (``Authorization: Bearer <session>``), counted against the
daily allowance (``Sforce-Limit-Info: api-usage=USED/MAX`` on every answer), may draw a fault
from the seeded plan, and, when it writes, goes into the ledger with what it asked and what it
was answered. The token endpoint and the controls are never counted nor faulted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox._controls import faults_route, ledger_route
from sandbox._faults import delay
from sandbox._server import ServerState
from sandbox.salesforce.bulk import Bulk
from sandbox.salesforce.errors import (
    ApiError,
    MultipleChoices,
    RecordError,
    invalid_session,
    not_found,
)
from sandbox.salesforce.org import Org
from sandbox.salesforce.soql import SoqlError, datetime_text

MIN_VERSION, MAX_VERSION = 31, 66
DEFAULT_BATCH, MIN_BATCH, MAX_BATCH = 2000, 200, 2000
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
ALL_METHODS = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]


@dataclass
class Identity:
    """Who the org is and whom it trusts."""

    login_url: str
    instance_url: str
    org_id: str
    user_id: str
    client_id: str
    client_secret: str
    username: str
    password: str
    public_key_pem: bytes


@dataclass
class Call:
    request: Request
    version: str
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        if not self.body.strip():
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body is empty")
        try:
            return json.loads(self.body)
        except json.JSONDecodeError as exc:
            raise ApiError(
                400,
                "JSON_PARSER_ERROR",
                f"Unexpected character: {exc.msg} at [line:{exc.lineno}, column:{exc.colno}]",
            ) from None
        except ValueError:
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body is not UTF-8") from None


Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Raw:
    """A body that is not JSON (Bulk API 2.0 CSV)."""

    text: str
    media_type: str = "text/csv"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    out = {"Content-Type": "application/json;charset=UTF-8"}
    out.update(headers or {})
    if isinstance(body, Raw):
        out["Content-Type"] = f"{body.media_type};charset=UTF-8"
        return Response(body.text.encode(), status_code=status, headers=out)
    if body is None:
        out.pop("Content-Type")
        return Response(b"", status_code=status, headers=out)
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(payload, status_code=status, headers=out)


def version_label(major: int) -> str:
    season = ("Winter", "Spring", "Summer")[(major - 59) % 3]
    return f"{season} '{24 + (major - 59) // 3:02d}"


def _version_ok(version: str) -> bool:
    major, dot, minor = version.partition(".")
    return (
        dot == "." and minor == "0" and major.isdigit() and MIN_VERSION <= int(major) <= MAX_VERSION
    )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


def _batch_size(request: Request) -> int | None:
    options = request.headers.get("sforce-query-options")
    if not options:
        return None
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return min(max(int(value), MIN_BATCH), MAX_BATCH)
    return None


def _method_not_allowed(method: str, allowed: str) -> ApiError:
    return ApiError(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
    )


def _fault_reply(kind: str, retry_after_s: int) -> tuple[int, Any, dict[str, str]]:
    if kind == "REQUEST_LIMIT_EXCEEDED":
        return (
            403,
            [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
            {"Retry-After": str(retry_after_s)},
        )
    if kind == "UNABLE_TO_LOCK_ROW":
        return (
            400,
            [
                {
                    "message": "unable to obtain exclusive access to this record or 1 records",
                    "errorCode": "UNABLE_TO_LOCK_ROW",
                    "fields": [],
                }
            ],
            {},
        )
    if kind == "INVALID_SESSION_ID":
        error = invalid_session()
        return error.status, error.body, error.headers
    return (
        503,
        [
            {
                "message": "Server is unavailable, please try again later.",
                "errorCode": "SERVER_UNAVAILABLE",
            }
        ],
        {"Retry-After": str(retry_after_s)},
    )


class SalesforceApp:
    def __init__(self, org: Org, bulk: Bulk, identity: Identity, state: ServerState) -> None:
        self.org = org
        self.bulk = bulk
        self.identity = identity
        self.state = state
        base = "/services/data/v{version}"

        def api(path: str, handler: Handler) -> Route:
            # every method reaches the handler, which answers 405 as the org does
            return Route(path, self.api(handler), methods=ALL_METHODS)

        self.routes = [
            Route("/services/oauth2/token", self.token, methods=["POST"]),
            Route("/services/data", self.versions, methods=["GET"]),
            Route("/services/data/", self.versions, methods=["GET"]),
            api(base, self.resources),
            api(base + "/", self.resources),
            api(base + "/limits", self.limits),
            api(base + "/limits/", self.limits),
            api(base + "/query", lambda c: self.query(c, False)),
            api(base + "/query/", lambda c: self.query(c, False)),
            api(base + "/queryAll", lambda c: self.query(c, True)),
            api(base + "/queryAll/", lambda c: self.query(c, True)),
            api(base + "/query/{locator}", self.query_more),
            api(base + "/queryAll/{locator}", self.query_more),
            api(base + "/sobjects", self.sobjects),
            api(base + "/sobjects/", self.sobjects),
            api(base + "/sobjects/{obj}", self.sobject),
            api(base + "/sobjects/{obj}/", self.sobject),
            api(base + "/sobjects/{obj}/describe", self.describe),
            api(base + "/sobjects/{obj}/describe/", self.describe),
            api(base + "/sobjects/{obj}/{id}", self.record),
            api(base + "/sobjects/{obj}/{id}/", self.record),
            api(base + "/sobjects/{obj}/{field}/{value:path}", self.by_external_id),
            api(base + "/composite/sobjects", self.collection),
            api(base + "/composite/sobjects/{obj}/{field}", self.collection_upsert),
            api(base + "/jobs/query", lambda c: self.jobs(c, "query")),
            api(base + "/jobs/query/{job}", lambda c: self.job(c, "query")),
            api(base + "/jobs/query/{job}/results", self.query_job_results),
            api(base + "/jobs/ingest", lambda c: self.jobs(c, "ingest")),
            api(base + "/jobs/ingest/{job}", lambda c: self.job(c, "ingest")),
            api(base + "/jobs/ingest/{job}/batches", self.ingest_batches),
            api(base + "/jobs/ingest/{job}/{results}", self.ingest_results),
            ledger_route(org.lock, org.ledger, json_response),
            faults_route(org.lock, org.faults, json_response),
            Route("/__sessions/expire", self.ctl_expire, methods=["POST"]),
            Route("/__touch", self.ctl_touch, methods=["POST"]),
            Route("/__malformed", self.ctl_malformed, methods=["GET"]),
            Route("/__health", self.ctl_health, methods=["GET"]),
            Route("/{rest:path}", self.missing, methods=ALL_METHODS),
        ]
        self.app = Starlette(routes=self.routes)

    # --- plumbing --------------------------------------------------------------------------

    def api(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        org = self.org

        async def endpoint(request: Request) -> Response:
            params = dict(request.path_params)
            version = params.pop("version", "")
            if not _version_ok(version):
                return self._error(not_found())
            token = _bearer(request)
            if token is None or not org.session_valid(token):
                return self._error(invalid_session())
            method, path = request.method, request.url.path
            with org.lock:
                if org.api_used >= org.api_max:
                    return json_response(
                        403,
                        [
                            {
                                "message": "TotalRequests Limit exceeded.",
                                "errorCode": "REQUEST_LIMIT_EXCEEDED",
                            }
                        ],
                        {"Sforce-Limit-Info": f"api-usage={org.api_used}/{org.api_max}"},
                    )
                org.api_used += 1
                org.calls += 1
                fault = org.faults.draw(org.calls, method, path)
                plan = org.faults
            body = await request.body()
            call = Call(request, version, body, params)
            answer_with = await delay(fault, plan, self.state)
            if fault == "latency":
                fault = None
            reply: Reply
            if answer_with is not None:
                reply = _fault_reply(answer_with, plan.retry_after_s)
            else:
                reply = self._run(handler, call)
            status, out = reply[0], reply[1]
            headers: dict[str, str] = dict(reply[2]) if len(reply) > 2 else {}
            if method in WRITE_METHODS:
                self._ledger(call, status, out, fault)
            headers["Sforce-Limit-Info"] = f"api-usage={org.api_used}/{org.api_max}"
            return json_response(status, out, headers)

        return endpoint

    def _run(self, handler: Handler, call: Call) -> Reply:
        try:
            return handler(call)
        except ApiError as exc:
            return exc.status, exc.body, exc.headers
        except RecordError as exc:
            return 400, exc.rest_body()
        except MultipleChoices as exc:
            return 300, exc.urls
        except SoqlError as exc:
            return 400, [{"message": exc.message, "errorCode": exc.code}]

    def _error(self, exc: ApiError) -> Response:
        return json_response(exc.status, exc.body, exc.headers)

    def _ledger(self, call: Call, status: int, out: Any, fault: str | None) -> None:
        params = call.params
        try:
            body: Any = json.loads(call.body) if call.body.strip() else None
        except ValueError:
            body = call.body.decode("utf-8", "replace")
        entry: dict[str, Any] = {
            "at": datetime_text(datetime.now(UTC)),
            "method": call.request.method,
            "path": call.request.url.path,
            "query": str(call.request.url.query),
            "object": params.get("obj"),
            "id": params.get("id"),
            "external_id_field": params.get("field"),
            "external_id": params.get("value"),
            "body": body,
            "status": status,
            "fault": fault,
            "result": out,
        }
        if entry["id"] is None and isinstance(out, dict) and out.get("id"):
            entry["id"] = out["id"]
        self.org.record_write(entry)

    # --- OAuth -----------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", "replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
        for key, value in request.query_params.items():
            form.setdefault(key, value)
        grant = form.get("grant_type", "")
        ident = self.identity
        if grant == "password":
            if form.get("client_id") != ident.client_id:
                return self._oauth_error("invalid_client_id", "client identifier invalid")
            if form.get("client_secret") != ident.client_secret:
                return self._oauth_error("invalid_client", "invalid client credentials")
            if form.get("username") != ident.username or form.get("password") != ident.password:
                return self._oauth_error("invalid_grant", "authentication failure")
            return self._issue(jwt_flow=False)
        if grant == JWT_GRANT:
            return self._jwt_bearer(form.get("assertion", ""))
        return self._oauth_error("unsupported_grant_type", "grant type not supported")

    def _jwt_bearer(self, assertion: str) -> Response:
        ident = self.identity
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return self._oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != ident.client_id:
            return self._oauth_error("invalid_client_id", "client identifier invalid")
        audiences = {ident.login_url, ident.login_url + "/"}
        aud = claims.get("aud")
        given = set(aud) if isinstance(aud, list) else {aud}
        if not given & audiences:
            return self._oauth_error("invalid_grant", "audience is invalid")
        try:
            jwt.decode(
                assertion,
                ident.public_key_pem,
                algorithms=["RS256"],
                audience=list(audiences),
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            return self._oauth_error("invalid_grant", "expired authorization code")
        except jwt.PyJWTError:
            return self._oauth_error("invalid_grant", "invalid assertion")
        if claims.get("sub") != ident.username:
            return self._oauth_error("invalid_grant", "user hasn't approved this consumer")
        return self._issue(jwt_flow=True)

    def _issue(self, jwt_flow: bool) -> Response:
        ident = self.identity
        token = self.org.issue_session(ident.org_id)
        issued_at = str(int(time.time() * 1000))
        identity_url = f"{ident.login_url}/id/{ident.org_id}/{ident.user_id}"
        signature = base64.b64encode(
            hmac.new(
                ident.client_secret.encode(),
                (identity_url + issued_at).encode(),
                hashlib.sha256,
            ).digest()
        ).decode()
        body = {
            "access_token": token,
            "instance_url": ident.instance_url,
            "id": identity_url,
            "token_type": "Bearer",  # nosec B105  # OAuth's token type, not a password
            "issued_at": issued_at,
            "signature": signature,
        }
        if jwt_flow:
            body["scope"] = "api"
        return json_response(
            200, body, {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"}
        )

    def _oauth_error(self, error: str, description: str) -> Response:
        return json_response(
            400,
            {"error": error, "error_description": description},
            {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"},
        )

    # --- REST ------------------------------------------------------------------------------

    async def versions(self, request: Request) -> Response:
        return json_response(
            200,
            [
                {"label": version_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(MIN_VERSION, MAX_VERSION + 1)
            ],
        )

    def resources(self, call: Call) -> Reply:
        self._only(call, "GET")
        base = f"/services/data/v{call.version}"
        return 200, {
            name: f"{base}/{name}"
            for name in ("limits", "query", "queryAll", "sobjects", "composite")
        }

    def limits(self, call: Call) -> Reply:
        self._only(call, "GET")
        with self.org.lock:
            return 200, self.org.limits()

    def query(self, call: Call, include_deleted: bool) -> Reply:
        self._only(call, "GET")
        text = call.request.query_params.get("q")
        if not text:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        batch = _batch_size(call.request) or DEFAULT_BATCH
        return 200, self.org.query(text, include_deleted, batch, call.version)

    def query_more(self, call: Call) -> Reply:
        self._only(call, "GET")
        locator, _, offset = call.params["locator"].rpartition("-")
        if not locator or not offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return 200, self.org.query_more(
            locator, int(offset), _batch_size(call.request), call.version
        )

    def sobjects(self, call: Call) -> Reply:
        self._only(call, "GET")
        return 200, {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [t.summary(call.version) for t in self.org.schema.values()],
        }

    def sobject(self, call: Call) -> Reply:
        method = call.request.method
        table = self.org.table(call.params["obj"])
        if method == "GET":
            return 200, {"objectDescribe": table.type.summary(call.version), "recentItems": []}
        if method == "POST":
            record_id = self.org.create(table.type.name, call.json())
            return 201, {"id": record_id, "success": True, "errors": []}
        raise _method_not_allowed(method, "HEAD,GET,POST")

    def describe(self, call: Call) -> Reply:
        self._only(call, "GET")
        return 200, self.org.table(call.params["obj"]).type.describe(call.version)

    def record(self, call: Call) -> Reply:
        method = call.request.method
        obj, record_id = call.params["obj"], call.params["id"]
        table = self.org.table(obj)
        query = call.request.query_params
        if record_id in ("updated", "deleted") and method == "GET":
            start, end = query.get("start", ""), query.get("end", "")
            if record_id == "updated":
                return 200, self.org.updated(table.type.name, start, end)
            return 200, self.org.deleted(table.type.name, start, end)
        if record_id == "Id" and method == "POST":  # upsert by Id with no value: a create
            new_id = self.org.create(table.type.name, call.json())
            return 201, {"id": new_id, "success": True, "errors": [], "created": True}
        if method == "GET":
            fields = [f for f in query.get("fields", "").split(",") if f.strip()] or None
            return 200, self.org.get(table.type.name, record_id, call.version, fields)
        if method == "PATCH":
            self.org.update(table.type.name, record_id, call.json())
            return 204, None
        if method == "DELETE":
            self.org.delete(table.type.name, record_id)
            return 204, None
        raise _method_not_allowed(method, "HEAD,GET,PATCH,DELETE")

    def by_external_id(self, call: Call) -> Reply:
        method = call.request.method
        obj, field_name, value = call.params["obj"], call.params["field"], call.params["value"]
        table = self.org.table(obj)
        if method == "PATCH":
            update_only = call.request.query_params.get("updateOnly", "").lower() == "true"
            record_id, created = self.org.upsert(
                table.type.name, field_name, value, call.json(), call.version, update_only
            )
            return (201 if created else 200), {
                "id": record_id,
                "success": True,
                "errors": [],
                "created": created,
            }
        if method in ("GET", "DELETE"):
            rows = self.org.by_external_id(table.type.name, field_name, value)
            if len(rows) > 1:
                raise MultipleChoices(self.org.urls(table, rows, call.version))
            if not rows:
                raise not_found()
            if method == "GET":
                return 200, self.org.get(table.type.name, rows[0][0], call.version)
            self.org.delete(table.type.name, rows[0][0])
            return 204, None
        raise _method_not_allowed(method, "HEAD,GET,PATCH,DELETE")

    def collection_upsert(self, call: Call) -> Reply:
        self._only(call, "PATCH")
        payload = call.json()
        if not isinstance(payload, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        results = self.org.collection_upsert(
            call.params["obj"],
            call.params["field"],
            payload.get("records"),
            bool(payload.get("allOrNone", False)),
        )
        return 200, results

    def collection(self, call: Call) -> Reply:
        method = call.request.method
        if method == "DELETE":
            query = call.request.query_params
            ids = [i for i in query.get("ids", "").split(",") if i]
            all_or_none = query.get("allOrNone", "false").lower() == "true"
            return 200, self.org.collection_delete(ids, all_or_none)
        if method not in ("POST", "PATCH"):
            raise _method_not_allowed(method, "POST,PATCH,DELETE")
        payload = call.json()
        if not isinstance(payload, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        all_or_none = bool(payload.get("allOrNone", False))
        if method == "POST":
            return 200, self.org.collection_create(payload.get("records"), all_or_none)
        return 200, self.org.collection_update(payload.get("records"), all_or_none)

    # --- Bulk API 2.0 ----------------------------------------------------------------------

    def jobs(self, call: Call, kind: str) -> Reply:
        method = call.request.method
        if method == "GET":
            return 200, self.bulk.list(kind)
        if method != "POST":
            raise _method_not_allowed(method, "GET,POST")
        create = self.bulk.create_query if kind == "query" else self.bulk.create_ingest
        return 200, create(call.json(), call.version, self.identity.user_id)

    def job(self, call: Call, kind: str) -> Reply:
        method, job_id = call.request.method, call.params["job"]
        if method == "GET":
            return 200, self.bulk.info(job_id, kind)
        if method == "PATCH":
            payload = call.json()
            state = payload.get("state") if isinstance(payload, dict) else None
            return 200, self.bulk.set_state(job_id, kind, state)
        if method == "DELETE":
            self.bulk.delete(job_id, kind)
            return 204, None
        raise _method_not_allowed(method, "GET,PATCH,DELETE")

    def query_job_results(self, call: Call) -> Reply:
        self._only(call, "GET")
        query = call.request.query_params
        max_records = query.get("maxRecords", "")
        text, headers = self.bulk.query_results(
            call.params["job"],
            query.get("locator"),
            int(max_records) if max_records.isdigit() and int(max_records) > 0 else None,
        )
        return 200, Raw(text), headers

    def ingest_batches(self, call: Call) -> Reply:
        self._only(call, "PUT")
        self.bulk.upload(call.params["job"], call.body)
        return 201, None

    def ingest_results(self, call: Call) -> Reply:
        self._only(call, "GET")
        return 200, Raw(
            self.bulk.ingest_results(call.params["job"], call.params["results"].lower())
        )

    def _only(self, call: Call, method: str) -> None:
        if call.request.method != method:
            raise _method_not_allowed(
                call.request.method, method if method != "GET" else "HEAD,GET"
            )

    async def missing(self, request: Request) -> Response:
        return self._error(not_found())

    # --- controls --------------------------------------------------------------------------

    async def ctl_expire(self, request: Request) -> Response:
        return json_response(200, {"expired": self.org.expire_sessions()})

    async def ctl_touch(self, request: Request) -> Response:
        try:
            spec = json.loads(await request.body() or b"{}")
            which = spec["ids"] if "ids" in spec else int(spec.get("n", 1))
            ids, stamp = self.org.touch(spec["object"], which, spec.get("fields"))
        except (ValueError, TypeError, KeyError) as exc:
            return json_response(400, {"error": f"bad touch: {exc}"})
        except (ApiError, RecordError) as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(200, {"ids": ids, "stamp": stamp})

    async def ctl_malformed(self, request: Request) -> Response:
        with self.org.lock:
            return json_response(
                200,
                {
                    record_id: {"object": obj, "reason": reason}
                    for record_id, (obj, reason) in self.org.malformed.items()
                },
            )

    async def ctl_health(self, request: Request) -> Response:
        return json_response(200, {"ok": True})
