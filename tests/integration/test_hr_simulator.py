"""The HR simulator over real HTTPS, read by plain requests and by the HR connector."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from connectors.errors import AuthExpired, Retryable
from connectors.hr import HRConnector, HRSettings
from sandbox.hr import CATALOGUE, MALFORMED_KINDS, HRSimulator
from tests.support.simulators import fresh_simulators

TODAY = date(2026, 11, 30)
FIELDS = {
    "id",
    "worker_id",
    "code",
    "name",
    "issuer",
    "number",
    "issued_on",
    "expires_on",
    "status",
    "updated_at",
}


def http(sim: HRSimulator) -> requests.Session:
    session = requests.Session()
    session.verify = str(sim.ca_path)
    session.trust_env = False
    return session


def get(sim: HRSimulator, token: str | None = "", **params: Any) -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token or sim.token}"}
    return http(sim).get(f"{sim.url}/v1/certifications", params=params, headers=headers, timeout=10)


def connector(sim: HRSimulator, **over: Any) -> HRConnector:
    values: dict[str, Any] = {"url": sim.url, "token": sim.token, "ca_bundle": sim.ca_path}
    return HRConnector(HRSettings(**values | over), sleep=lambda _: None)


def read(hr: HRConnector, **kw: Any) -> list[dict[str, Any]]:
    return [r for page in hr.certification_pages(**kw) for r in page]


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def sim() -> Iterator[HRSimulator]:
    """A shared HR system: 120 technicians, 3 certifications each, 5% malformed. Tests that
    change it use ``fresh``."""
    with HRSimulator(seed=5, workers=120, malformed=0.05, today=TODAY) as simulator:
        yield simulator


@pytest.fixture
def fresh() -> Iterator[Callable[..., HRSimulator]]:
    """Simulators of the test's own (on ``TODAY`` unless told), stopped after it."""
    with fresh_simulators(lambda **options: HRSimulator(**{"today": TODAY} | options)) as make:
        yield make


# --- the data ----------------------------------------------------------------------------


def test_seeded_data_is_realistic_and_deterministic(sim: HRSimulator) -> None:
    records = sim.records()
    assert sim.count() == len(records) == 360
    assert len({r["id"] for r in records}) == 360
    assert records == sorted(records, key=lambda r: (r["updated_at"], r["id"]))
    good = [r for r in records if r["id"] not in sim.malformed_ids()]
    assert all(set(r) == FIELDS for r in good)
    assert all(r["id"] == f"{r['worker_id']}|{r['code']}" for r in good)
    assert {r["code"] for r in good} <= {c.code for c in CATALOGUE}
    assert len({r["code"] for r in good}) >= 12
    statuses = Counter(r["status"] for r in good)
    assert statuses["active"] > 300 and statuses["suspended"] and statuses["revoked"]
    expiring = [date.fromisoformat(r["expires_on"]) for r in good if r["expires_on"]]
    assert any(d < TODAY for d in expiring), "some expired"
    assert any(TODAY <= d <= TODAY + timedelta(days=30) for d in expiring), "some expire soon"
    assert any(r["expires_on"] is None for r in good), "some never expire"
    assert all(date.fromisoformat(r["issued_on"]) <= TODAY for r in good)
    stamps = Counter(r["updated_at"] for r in records)
    assert max(stamps.values()) >= 50, "bulk changes stamp whole batches alike"

    again = HRSimulator(seed=5, workers=120, malformed=0.05, today=TODAY)
    assert again.records() == records and again.token == sim.token
    assert HRSimulator(seed=6, workers=120, today=TODAY).records() != records
    assert HRSimulator(seed=5, workers=120, token="given").token == "given"


def test_malformed_records_are_served_as_seeded(sim: HRSimulator) -> None:
    reasons = sim.malformed_reasons()
    assert len(reasons) == 18 and set(reasons.values()) == set(MALFORMED_KINDS)
    assert set(reasons) == sim.malformed_ids()
    served = {record["id"]: record for record in read(connector(sim), page_size=1000)}
    for record_id, reason in reasons.items():
        record = served[record_id]
        if reason == "missing_code":
            assert "code" not in record
        elif reason == "unknown_status":
            assert record["status"] not in ("active", "suspended", "revoked")
        elif reason == "expires_before_issued":
            assert record["expires_on"] < record["issued_on"]
        else:
            with pytest.raises(ValueError):
                date.fromisoformat(record["issued_on"])
    assert http(sim).get(f"{sim.url}/__malformed").json() == reasons


# --- auth --------------------------------------------------------------------------------


def test_a_bearer_token_is_required(sim: HRSimulator) -> None:
    for token in (None, "wrong"):
        response = get(sim, token)
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert get(sim, limit=1).status_code == 200
    hr = connector(sim, token="wrong")
    with pytest.raises(AuthExpired, match="FIELDBRIDGE_HR_TOKEN"):
        read(hr)
    assert hr.api_calls == 1


def test_an_expired_token_is_auth_expired_until_renewed(
    fresh: Callable[..., HRSimulator],
) -> None:
    sim = fresh(workers=10)
    old = sim.token
    hr = connector(sim, page_size=5)
    pages = hr.certification_pages(page_size=5)
    first = next(pages)
    sim.expire_token()
    assert get(sim).json()["error"] == "token_expired" and sim.token == old
    with pytest.raises(AuthExpired) as raised:
        next(pages)
    assert raised.value.code == "token_expired"
    assert "cannot be renewed" in str(raised.value) and "FIELDBRIDGE_HR_TOKEN" in str(raised.value)
    assert hr.api_calls == 2, "not retried"
    new = sim.renew_token()
    assert new == sim.token != old
    assert get(sim, old).json()["error"] == "token_expired"
    rest = read(connector(sim))
    assert first == rest[:5] and len(rest) == 30
    assert [e["status"] for e in sim.ledger] == [200, 401, 401, 401, 200]


# --- paging ------------------------------------------------------------------------------


def test_paging_is_stable_across_records_sharing_one_updated_at(sim: HRSimulator) -> None:
    hr = connector(sim)
    pages = list(hr.certification_pages(page_size=7))
    assert all(len(p) == 7 for p in pages[:-1]) and hr.api_calls == len(pages) == 52
    assert [r for p in pages for r in p] == sim.records()
    ties = sum(1 for a, b in itertools.pairwise(pages) if a[-1]["updated_at"] == b[0]["updated_at"])
    assert ties >= 40, "most page boundaries fall inside a group sharing one updated_at"


def test_limit_and_cursor_by_hand(sim: HRSimulator) -> None:
    first = get(sim).json()
    assert len(first["items"]) == 360 and first["next_cursor"] is None, "default limit 500"
    page = get(sim, limit=1000).json()
    assert page["items"] == sim.records()
    one = get(sim, limit=100).json()
    two = get(sim, limit=100, cursor=one["next_cursor"]).json()
    assert one["items"] + two["items"] == sim.records()[:200]
    for params, error in (
        ({"limit": 0}, "invalid_request"),
        ({"limit": 1001}, "invalid_request"),
        ({"limit": "ten"}, "invalid_request"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"updated_since": "2026-11-30T08:00:00"}, "invalid_request"),
        ({"updated_since": "yesterday"}, "invalid_request"),
    ):
        response = get(sim, **params)
        assert (response.status_code, response.json()["error"]) == (400, error), params
    assert http(sim).get(f"{sim.url}/v1/workers").status_code == 404


def test_updated_since_is_inclusive(sim: HRSimulator) -> None:
    records = sim.records()
    stamps = sorted({r["updated_at"] for r in records})
    at = stamps[len(stamps) // 2]
    expected = [r for r in records if r["updated_at"] >= at]
    moment = parse(at)
    hr = connector(sim)
    assert read(hr, updated_since=moment) == expected
    in_paris = moment.astimezone(timezone(timedelta(hours=1)))
    assert read(hr, updated_since=in_paris, page_size=3) == expected
    after = read(hr, updated_since=moment + timedelta(seconds=1))
    assert after == [r for r in expected if r["updated_at"] > at]
    assert read(hr, updated_since=parse(stamps[-1]) + timedelta(days=1)) == []
    assert get(sim, updated_since=at).json()["items"] == expected  # ...Z accepted as it is


def test_records_touched_or_deleted_mid_read_are_neither_skipped_nor_lost(
    fresh: Callable[..., HRSimulator],
) -> None:
    sim = fresh(seed=8, workers=40)
    before = sim.records()
    pages = connector(sim).certification_pages(page_size=10)
    seen = next(pages) + next(pages)
    already, later = [r["id"] for r in seen[:5]], [r["id"] for r in before[50:55]]
    touched = sim.touch(already + later)
    assert touched.ids == already + later
    gone = before[60]
    sim.delete(gone["worker_id"], gone["code"])
    seen += [r for p in pages for r in p]
    ids = Counter(r["id"] for r in seen)
    assert set(ids) == {r["id"] for r in before} - {gone["id"]}
    assert {i for i, n in ids.items() if n > 1} == set(already), "read again once changed"
    latest = {r["id"]: r for r in seen}
    assert all(latest[i]["updated_at"] == touched.stamp for i in already + later)
    assert seen[-10:] == [sim.get(i) for i in sorted(already + later)]
    assert latest == {r["id"]: r for r in sim.records()}


def test_touch_revoke_delete_count_get(fresh: Callable[..., HRSimulator]) -> None:
    sim = fresh(seed=3, workers=20, malformed=0)
    one = sim.touch(6)
    assert len(one.ids) == 6 and all(sim.get(i)["updated_at"] == one.stamp for i in one.ids)  # type: ignore[index]
    assert one.stamp >= max(r["updated_at"] for r in sim.records())
    renewed = [sim.get(i) for i in one.ids]
    assert all(
        r is not None and r["issued_on"] == TODAY.isoformat()
        for r in renewed
        if r and r["expires_on"]
    )
    worker, code = one.ids[0].split("|")
    revoked = sim.revoke(worker, code)
    assert sim.get(one.ids[0])["status"] == "revoked"  # type: ignore[index]
    assert revoked.stamp >= one.stamp
    fields = sim.touch(one.ids[1:3], {"status": "suspended"})
    assert [sim.get(i)["status"] for i in fields.ids] == ["suspended", "suspended"]  # type: ignore[index]
    with pytest.raises(ValueError, match="not writable"):
        sim.touch(1, {"updated_at": "2020-01-01T00:00:00Z"})
    sim.delete(worker, code)
    assert sim.get(one.ids[0]) is None and sim.count() == 59
    with pytest.raises(KeyError):
        sim.delete(worker, code)
    since = read(connector(sim), updated_since=parse(one.stamp))
    assert {r["id"] for r in since} == set(one.ids[1:])


# --- faults, ledger ----------------------------------------------------------------------


def test_thirty_percent_faults_read_through_to_exactly_the_records(
    fresh: Callable[..., HRSimulator],
) -> None:
    sim = fresh(seed=9, workers=100, faults={"rate": 0.3, "seed": 4, "retry_after_s": 1})
    hr = connector(sim)
    pages = list(hr.certification_pages(page_size=10))
    assert [r for p in pages for r in p] == sim.records()
    log = sim.fault_log
    assert len(log) >= 10 and {f["kind"] for f in log} == {"500", "503", "429"}
    ledger = sim.ledger
    assert hr.api_calls == len(ledger) == len(pages) + len(log)
    assert {e["status"] for e in ledger if e["fault"]} == {500, 503, 429}
    assert all(e["status"] == 200 for e in ledger if e["fault"] is None)
    assert all(e["method"] == "GET" and e["path"] == "/v1/certifications" for e in ledger)
    assert "limit=10" in ledger[0]["query"]

    again = fresh(seed=9, workers=100, faults={"rate": 0.3, "seed": 4})
    read(connector(again), page_size=10)
    assert [f["kind"] for f in again.fault_log] == [f["kind"] for f in log], "reproducible"


def test_faults_by_control_and_retry_after(fresh: Callable[..., HRSimulator]) -> None:
    sim = fresh(workers=5)
    control = http(sim).post(
        f"{sim.url}/__faults", json={"rate": 1.0, "kinds": ["429"], "retry_after_s": 4, "seed": 1}
    )
    assert control.status_code == 200 and control.json()["kinds"] == ["429"]
    response = get(sim)
    assert (response.status_code, response.headers["Retry-After"], response.json()["error"]) == (
        429,
        "4",
        "rate_limited",
    )
    assert http(sim).post(f"{sim.url}/__faults", json={"kinds": ["teapot"]}).status_code == 400
    sim.set_faults(rate=1.0, kinds=["500", "503"], seed=2)
    assert {get(sim).status_code for _ in range(8)} == {500, 503}
    sim.clear_faults()
    assert get(sim).status_code == 200
    assert http(sim).get(f"{sim.url}/__ledger").json() == sim.ledger
    assert len(sim.ledger) == 10
    sim.clear_ledger()
    assert sim.ledger == []


def test_latency_delays_and_a_hang_times_out_without_holding_shutdown(
    fresh: Callable[..., HRSimulator],
) -> None:
    sim = fresh(workers=5, faults={"rate": 1.0, "kinds": ["latency"], "latency_ms": 300})
    started = time.monotonic()
    assert len(read(connector(sim))) == 15 and time.monotonic() - started >= 0.3
    sim.set_faults(rate=1.0, kinds=["hang"], hang_s=30)
    hr = HRConnector(
        HRSettings(
            url=sim.url, token=sim.token, ca_bundle=sim.ca_path, timeout_s=0.3, max_attempts=2
        ),
        sleep=lambda _: None,
        max_total_s=10,
    )
    with pytest.raises(Retryable, match="Timeout"):
        read(hr)
    assert hr.api_calls == 2
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 5, "stopping does not wait for the hang"


def test_env_points_the_connector_at_the_simulator(sim: HRSimulator) -> None:
    env = sim.env()
    assert env == {
        "FIELDBRIDGE_HR_URL": sim.url,
        "FIELDBRIDGE_HR_TOKEN": sim.token,
        "FIELDBRIDGE_HR_CA_BUNDLE": str(sim.ca_path),
    }
    given = {k.removeprefix("FIELDBRIDGE_HR_").lower(): v for k, v in env.items()}
    with HRConnector(HRSettings(**given)) as hr:
        assert len(read(hr, updated_since=datetime(2000, 1, 1, tzinfo=UTC))) == 360
