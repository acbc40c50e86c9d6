"""What a request must pass before its body is read (``api.gate``), revocation on every
route, and whose ``X-Forwarded-For`` counts (``FIELDBRIDGE_TRUSTED_PROXIES``)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from orchestrator.runtime.bootstrap import bootstrap
from orchestrator.runtime.settings import Settings
from tests.support.cli import Server, cli_env, run, serving
from tests.support.databases import Templates, make_settings
from tests.support.http import Api, World, picture

CHUNK = 64 * 1024
EMPTY_DAY: dict[str, list[object]] = {"technicians": [], "jobs": []}


def _stream(base: str, path: str, headers: dict[str, str], total: int) -> tuple[int, int]:
    """POST ``total`` bytes of zeros to ``path`` in chunked framing, as ``curl -T -`` does,
    until the server answers: its status and how many bytes went out before it did."""
    host, port = base.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Transfer-Encoding: chunked"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        chunk = f"{CHUNK:x}\r\n".encode() + b"\0" * CHUNK + b"\r\n"
        sock.setblocking(False)
        while sent < total:
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break  # the answer has started
            except BlockingIOError:
                pass
            except ConnectionError:
                break
            try:
                sock.sendall(chunk)
            except (BlockingIOError, ConnectionError):
                time.sleep(0.01)  # the server reads no more: wait for its answer
                continue
            sent += CHUNK
        sock.settimeout(20)
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1]), sent


def _rss_kib(server: Server) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


@pytest.fixture(scope="module")
def served(
    templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, dict[str, str]]]:
    """``fieldbridge serve`` on the embedded defaults, and the environment it runs with."""
    tmp = tmp_path_factory.mktemp("gate")
    env = cli_env(templates.sqlite_copy(tmp / "gate.db"), tmp, FIELDBRIDGE_OUTBOX_RELAY="false")
    with serving(env, tmp, "--no-access-log") as running:
        yield running, env


@pytest.fixture
def server(served: tuple[Server, dict[str, str]]) -> Server:
    return served[0]


def test_a_streamed_body_is_stopped_at_the_json_limit_with_memory_flat(server: Server) -> None:
    before = _rss_kib(server)
    for _ in range(3):
        started = time.monotonic()
        status, sent = _stream(
            server.base,
            "/api/v1/service-requests",
            {"Content-Type": "application/json"},
            200 * 1024 * 1024,
        )
        assert status == 413
        assert time.monotonic() - started < 10
        assert sent < 32 * 1024 * 1024, f"{sent:,} bytes went out before the answer"
    grown = _rss_kib(server) - before
    assert grown < 64 * 1024, f"the server grew by {grown:,} KiB"


def test_an_upload_without_a_token_is_refused_before_its_body(server: Server) -> None:
    boundary = "gate"
    status, sent = _stream(
        server.base,
        "/api/v1/work-orders/1/attachments",
        {"Content-Type": f"multipart/form-data; boundary={boundary}", "If-Match": '"1"'},
        300 * 1024 * 1024,
    )
    assert status == 401
    assert sent < 32 * 1024 * 1024, f"{sent:,} bytes went out before the answer"


def test_a_revocation_by_another_process_holds_on_the_next_request(
    served: tuple[Server, dict[str, str]],
) -> None:
    server, env = served
    created = run(env, "token", "create", "--role", "dispatcher", "--subject", "dora")
    assert created.returncode == 0, created.stderr
    token_id, token = created.stdout.split()
    auth = {"Authorization": f"Bearer {token}"}
    planned = httpx.post(f"{server.base}/api/v1/plans", json=EMPTY_DAY, headers=auth)
    assert planned.status_code == 200, planned.text
    assert run(env, "token", "revoke", token_id).returncode == 0
    for method, path, body in (
        ("POST", "/api/v1/plans", EMPTY_DAY),
        ("GET", "/api/v1/work-orders", None),
        ("POST", "/api/v1/work-orders", {"summary": "after revocation"}),
    ):
        refused = httpx.request(method, server.base + path, json=body, headers=auth)
        assert refused.status_code == 401, (path, refused.text)
        assert "revoked" in refused.json()["detail"]


def test_serve_trusts_no_x_forwarded_for_by_default(served: tuple[Server, dict[str, str]]) -> None:
    """Even from 127.0.0.1 (uvicorn's own default is to trust it)."""
    server, env = served
    assert "FIELDBRIDGE_TRUSTED_PROXIES" not in env
    limit = Settings.model_fields["status_rate_per_min"].default
    answers = [
        httpx.get(
            f"{server.base}/status/NOPE", headers={"X-Forwarded-For": f"10.9.{n // 250}.{n % 250}"}
        )
        for n in range(limit + 1)
    ]
    assert [a.status_code for a in answers[:limit]] == [404] * limit
    assert answers[-1].status_code == 429 and answers[-1].headers["retry-after"]


def test_a_json_body_past_its_limit_is_413_and_creates_nothing(api: Api, world: World) -> None:
    limit = api.container.settings.max_json_bytes
    body = json.dumps({"summary": "x" * limit})
    response = api.call(
        "POST",
        "/api/v1/work-orders",
        world.dispatcher,
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "FIELDBRIDGE_MAX_JSON_BYTES" in response.json()["detail"]
    listed = api.call("GET", "/api/v1/work-orders", world.dispatcher).json()["items"]
    assert listed == []


def test_an_upload_keeps_its_own_limit_with_an_idempotency_key(api: Api, world: World) -> None:
    """The JSON limit is not the upload's, even where the body is read before routing."""
    created = api.call("POST", "/api/v1/work-orders", world.dispatcher, json={"summary": "s"})
    oid = created.json()["id"]
    photo = picture("BMP", (800, 600))  # 1.4 MB, past the JSON limit
    assert len(photo) > api.container.settings.max_json_bytes
    response = api.call(
        "POST",
        f"/api/v1/work-orders/{oid}/attachments",
        world.dispatcher,
        files={"file": ("a.bmp", photo, "image/bmp")},
        headers={"If-Match": created.headers["etag"], "Idempotency-Key": "big-photo"},
    )
    assert response.status_code in (201, 409, 422), response.text
    assert response.status_code != 413


def test_the_token_and_role_are_checked_before_the_body(api: Api, world: World) -> None:
    """A body that would not parse shows what is looked at first: not the body."""

    def unreadable(path: str, token: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        return api.call("POST", path, token, content=b"{not json", headers=headers).status_code

    assert unreadable("/api/v1/plans", world.tech_token) == 403
    assert unreadable("/api/v1/work-orders", None) == 401
    assert unreadable("/api/v1/work-orders", world.dispatcher[:-4] + "AAAA") == 401  # tampered
    assert unreadable("/api/v1/work-orders", world.dispatcher) == 422


def _limited_app(database_url: str, tmp_path: Path, **overrides: object) -> TestClient:
    settings = make_settings(
        database_url, tmp_path, status_rate_per_min=5, service_request_rate_per_min=3, **overrides
    )
    return TestClient(create_app(container=bootstrap(settings)), client=("203.0.113.9", 50000))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_rate_limited_request_is_counted_once(database_url: str, tmp_path: Path) -> None:
    with _limited_app(database_url, tmp_path) as client:
        answers = [
            client.post("/api/v1/service-requests", json={"description": "no water"}).status_code
            for _ in range(4)
        ]
    assert answers == [201, 201, 201, 429]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    database_url: str, tmp_path: Path
) -> None:
    with _limited_app(database_url, tmp_path) as client:
        answers = [
            client.get("/status/NOPE", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
            for n in range(7)
        ]
    assert answers[-1] == 429, "fresh X-Forwarded-For values from an untrusted peer are ignored"
    with _limited_app(database_url, tmp_path, trusted_proxies="203.0.113.0/24") as client:
        answers = [
            client.get("/status/NOPE", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
            for n in range(7)
        ]
        assert set(answers) == {404}, "each forwarded client has its own count"
        same = [
            client.get("/status/NOPE", headers={"X-Forwarded-For": "198.51.100.1"}).status_code
            for _ in range(6)
        ]
        assert same[-1] == 429


def test_a_refusal_is_logged_with_its_reason_and_never_the_token(
    api: Api, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    tampered = world.dispatcher[:-4] + "AAAA"
    with caplog.at_level("WARNING", logger="fieldbridge.security"):
        api.call("POST", "/api/v1/work-orders", tampered, json={"summary": "s"}, expect=401)
        api.call("GET", "/api/v1/audit/verify", world.dispatcher, expect=403)
    logged = [r.getMessage() for r in caplog.records if r.name == "fieldbridge.security"]
    assert len(logged) == 2, logged
    assert logged[0].startswith("refused POST /api/v1/work-orders from testclient: 401")
    assert "GET /api/v1/audit/verify" in logged[1] and "may not" in logged[1]
    assert not any(tampered in line or world.dispatcher in line for line in logged)
