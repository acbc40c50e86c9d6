"""The SAP simulator's equipment (``QueryIdentifiedStocksIn.QueryByElements``) over real HTTPS,
read by a plain zeep client on the project's compact WSDL; and the conformance of that WSDL
with SAP's own (skipped when ``../shared/wsdl/sap-bydesign`` is absent)."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from zeep.helpers import serialize_object
from zeep.transports import Transport

from connectors.sap import plain
from sandbox.sap import STOCK_MALFORMED_KINDS, SAPSimulator
from tests.support.sap import REAL_WSDL_DIR, body_of, connector, real_schema, real_wsdl
from tests.support.simulators import fresh_simulators

SERVICE = "QueryIdentifiedStocksIn"
BINDING = "{http://sap.com/xi/A1S/Global}binding"
real_wsdls = real_wsdl(SERVICE)


def session(sim: SAPSimulator, password: str | None = None) -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # REQUESTS_CA_BUNDLE would override the simulator's CA
    http.verify = str(sim.ca_path)
    http.auth = (sim.username, password or sim.password)
    return http


def service(sim: SAPSimulator, wsdl_dir: Path | None = None, **kw: Any) -> Any:
    wsdl = (wsdl_dir or sim.wsdl_dir) / f"{SERVICE}.wsdl"
    transport = Transport(session=session(sim, **kw), timeout=5, operation_timeout=5)
    client = zeep.Client(str(wsdl), transport=transport, settings=zeep.Settings(strict=True))
    return client.create_service(BINDING, sim.service_url(SERVICE))


def query(svc: Any, selection: dict[str, Any] | None = None, **conditions: Any) -> dict[str, Any]:
    answer = svc.QueryByElements(
        IdentifiedStockSelectionByElements=selection or {},
        ProcessingConditions={"QueryHitsUnlimitedIndicator": False} | conditions,
    )
    return dict(serialize_object(answer, dict))


def read(svc: Any, selection: dict[str, Any] | None = None, page: int = 100) -> list[Any]:
    """Every page, following LastReturnedObjectID."""
    got: list[Any] = []
    last: str | None = None
    while True:
        extra = {"LastReturnedObjectID": last} if last else {}
        answer = query(svc, selection, QueryHitsMaximumNumberValue=page, **extra)
        got += [plain(s) for s in answer["IdentifiedStock"] or []]
        processing = answer["ProcessingConditions"]
        if not processing["MoreHitsAvailableIndicator"]:
            return got
        last = plain(processing["LastReturnedObjectID"])


def since(stamp: datetime, code: str = "9", upper: datetime | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "InclusionExclusionCode": "I",
        "IntervalBoundaryTypeCode": code,
        "LowerBoundaryDateTime": stamp,
    }
    if upper is not None:
        item["UpperBoundaryDateTime"] = upper
    return {"SelectionByAdministrativeDataLastChangeDateTime": [item]}


@pytest.fixture
def fresh() -> Iterator[Callable[..., SAPSimulator]]:
    """Simulators of the test's own, stopped after it."""
    with fresh_simulators(SAPSimulator) as make:
        yield make


@pytest.fixture(scope="module")
def sim() -> Iterator[SAPSimulator]:
    """A shared SAP system: 400 pieces of equipment, 5% malformed. Tests that change it use
    ``fresh``."""
    with SAPSimulator(seed=5, customers=10, stocks=400, malformed=0.05) as simulator:
        yield simulator


def test_paging_is_stable_across_records_sharing_one_stamp(sim: SAPSimulator) -> None:
    stamps = Counter(sim.stock_stamp(r["IdentifiedStockID"]) for r in sim.stock_records())
    assert max(stamps.values()) >= 50  # the data load and bulk changes stamp batches alike
    got = read(service(sim), page=37)
    assert got == sim.stock_records()  # every record once, in ID order, exactly as served
    ids = [r["IdentifiedStockID"] for r in got]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == sim.stock_count() == 400
    assert all(len(i) <= 20 for i in ids)
    assert "SystemAdministrativeData" not in got[0]  # the element carries no change date
    calls = [e for e in sim.ledger() if e["service"] == SERVICE]
    assert {e["operation"] for e in calls} == {"QueryByElements"} and len(calls) == 11


def test_selections_by_change_id_and_status(sim: SAPSimulator) -> None:
    svc = service(sim)
    records = sim.stock_records()
    stamp = {r["IdentifiedStockID"]: sim.stock_stamp(r["IdentifiedStockID"]) for r in records}
    last = max(stamp.values())
    assert last is not None
    assert {r["IdentifiedStockID"] for r in read(svc, since(last))} == {
        i for i, s in stamp.items() if s == last
    }
    assert read(svc, since(last, "8")) == []
    assert (
        read(svc, since(last, "1")) == read(svc, since(last, "3", last)) == read(svc, since(last))
    )
    ids = [r["IdentifiedStockID"] for r in records]
    by_id = {"SelectionByIdentifiedStockID": [
        {"IntervalBoundaryTypeCode": "3", "LowerBoundaryIdentifier": ids[10],
         "UpperBoundaryIdentifier": ids[19]},
        {"InclusionExclusionCode": "E", "IntervalBoundaryTypeCode": "1",
         "LowerBoundaryIdentifier": ids[12]},
    ]}  # fmt: skip
    assert [r["IdentifiedStockID"] for r in read(svc, by_id)] == ids[10:12] + ids[13:20]
    blocked = {"SelectionByLifeCycleStatusCode": [
        {"IntervalBoundaryTypeCode": "1", "LowerBoundaryCode": "3"}
    ]}  # fmt: skip
    got = read(svc, blocked)
    assert got and got == [
        r for r in records if r["LifeCycleStatusCode"]["LifeCycleStatusCode"] == "3"
    ]
    statuses = Counter(r["LifeCycleStatusCode"]["LifeCycleStatusCode"] for r in records)
    assert statuses.most_common(1)[0][0] == "2"
    # a boundary code the simulator does not know is refused in the Log, with no hits
    answer = query(svc, since(last, "5"))
    assert answer["IdentifiedStock"] is None or answer["IdentifiedStock"] == []
    assert answer["Log"]["MaximumLogItemSeverityCode"] == "3"
    assert "IntervalBoundaryTypeCode" in answer["Log"]["Item"][0]["Note"]


def test_touch_and_delete_are_seen(fresh: Callable[..., SAPSimulator]) -> None:
    sim = fresh(seed=8, customers=5, stocks=150)
    svc = service(sim)
    touched = sim.touch_stock(12)
    assert len(touched.ids) == 12 and touched.stamp.microsecond == 0
    assert all(sim.stock_stamp(i) == touched.stamp for i in touched.ids)
    assert [r["IdentifiedStockID"] for r in read(svc, since(touched.stamp), page=5)] == sorted(
        touched.ids
    )
    assert read(svc, since(touched.stamp + timedelta(seconds=1))) == []
    target = touched.ids[0]
    again = sim.touch_stock([target], {"LifeCycleStatusCode": "4", "Description": "Scrapped"})
    assert again.stamp >= touched.stamp
    assert target in {r["IdentifiedStockID"] for r in read(svc, since(again.stamp, "1"))}
    one = {"SelectionByIdentifiedStockID": [
        {"IntervalBoundaryTypeCode": "1", "LowerBoundaryIdentifier": target}
    ]}  # fmt: skip
    (got,) = read(svc, one)
    assert got["LifeCycleStatusCode"] == {"LifeCycleStatusCode": "4"}
    assert got["Description"][0] == {"_value_1": "Scrapped", "languageCode": "EN"}
    assert got == sim.stock(target)
    sim.delete_stock(target)
    assert sim.stock(target) is None and sim.stock_count() == 149
    assert target not in {r["IdentifiedStockID"] for r in read(svc)}
    with pytest.raises(KeyError):
        sim.delete_stock(target)
    with pytest.raises(ValueError):
        sim.touch_stock(1, {"Colour": "red"})


def test_refused_credentials_and_faults(fresh: Callable[..., SAPSimulator]) -> None:
    sim = fresh(seed=9, customers=5, stocks=20)
    with pytest.raises((zeep.exceptions.Fault, zeep.exceptions.TransportError)):
        query(service(sim, password="wrong"))  # SAP's HTML logon page, HTTP 401
    sim.set_faults(rate=1.0, kinds=["fault"])
    with pytest.raises(zeep.exceptions.Fault) as fault:
        query(service(sim))
    assert "temporarily unavailable" in fault.value.message
    sim.clear_faults()
    assert len(read(service(sim))) == 20
    statuses = [(e["status"], e["fault"]) for e in sim.ledger() if e["service"] == SERVICE]
    assert statuses == [(401, None), (500, "fault"), (200, None)]


def test_malformed_records_are_served_as_they_are(sim: SAPSimulator) -> None:
    reasons = sim.malformed_stock_reasons()
    assert set(reasons.values()) == set(STOCK_MALFORMED_KINDS) and len(reasons) == 20
    assert sim.malformed_stock_ids() == set(reasons)
    by_id = {r["IdentifiedStockID"]: r for r in read(service(sim), page=500)}
    for stock_id, reason in reasons.items():
        record = by_id[stock_id]
        if reason == "no_product":
            assert "ProductID" not in record
        elif reason == "blank_description":
            assert [d["_value_1"].strip() for d in record["Description"]] == [""]
        else:
            assert record["ProductionDateTime"] > record["ExpirationDateTime"]
    good = [r for i, r in by_id.items() if i not in reasons]
    assert all(r["ProductID"] and r["Description"][0]["languageCode"] == "EN" for r in good)
    assert any(len(r["Description"]) == 2 for r in good)  # some in two languages
    assert sum("ExternalIdentifiedStockID" in r for r in good) > len(good) * 0.8
    assert any("ExpirationDateTime" in r for r in good)
    assert any("ExpirationDateTime" not in r for r in good)


# -- conformance with SAP's own WSDL ---------------------------------------------------------


@real_wsdls
def test_stock_messages_conform_to_sap_wsdl(fresh: Callable[..., SAPSimulator]) -> None:
    real = REAL_WSDL_DIR / f"{SERVICE}.wsdl"
    sim = fresh(seed=12, customers=5, stocks=120, malformed=0.1)
    with tempfile.TemporaryDirectory() as tmp:
        schema = real_schema(real, Path(tmp))
    sap_op = (
        zeep.Client(str(real), settings=zeep.Settings(strict=True))
        .wsdl.bindings[BINDING]
        ._operations["QueryByElements"]
    )
    svc = service(sim)
    touched = sim.touch_stock(15)
    ours = read(svc, page=50)
    read(svc, since(touched.stamp, "3", touched.stamp), page=4)
    ids = [r["IdentifiedStockID"] for r in ours]
    read(svc, {"SelectionByIdentifiedStockID": [
        {"InclusionExclusionCode": "I", "IntervalBoundaryTypeCode": "3",
         "LowerBoundaryIdentifier": ids[3], "UpperBoundaryIdentifier": ids[40]}],
        "SelectionByLifeCycleStatusCode": [
        {"InclusionExclusionCode": "I", "IntervalBoundaryTypeCode": "1",
         "LowerBoundaryCode": "2"}]})  # fmt: skip
    query(svc, since(touched.stamp, "7"))  # refused: an answer with an error in its Log
    requests_sent = [e["request"].encode() for e in sim.ledger()]
    assert len(requests_sent) >= 8

    http = session(sim)
    for request in requests_sent:
        # what the compact WSDL makes is valid against SAP's schema, and SAP's WSDL reads it
        assert schema.validate(body_of(request)), schema.error_log
        sap_op.input.deserialize(etree.fromstring(request))
        # and what the simulator answers (made from the compact WSDL) is valid against SAP's
        reply = http.post(
            sim.service_url(SERVICE),
            data=request,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": sap_op.soapaction},
        )
        assert reply.status_code == 200
        assert schema.validate(body_of(reply.content)), schema.error_log
        sap_op.output.deserialize(etree.fromstring(reply.content))
    # SAP's own WSDL reads the same records (malformed ones included) as the compact one
    assert read(service(sim, wsdl_dir=REAL_WSDL_DIR), page=500) == ours == sim.stock_records()

    sim.set_faults(rate=1.0, kinds=["fault"])
    reply = http.post(sim.service_url(SERVICE), data=requests_sent[0])
    detail = body_of(reply.content).find("detail")
    assert reply.status_code == 500 and detail is not None
    assert schema.validate(detail[0]), schema.error_log
    sim.clear_faults()


def test_the_connector_reads_equipment_by_change_date(fresh: Callable[..., SAPSimulator]) -> None:
    sim = fresh(stocks=120)
    sap = connector(sim)
    everything = [r for page in sap.equipment_pages(page_size=50) for r in page]
    assert everything == sim.stock_records() and sap.api_calls == 3
    touched = sim.touch_stock(4)
    later = [r for page in sap.equipment_pages(touched.stamp, page_size=50) for r in page]
    assert [r["IdentifiedStockID"] for r in later] == sorted(touched.ids)


@real_wsdls
def test_the_connector_reads_equipment_through_sap_wsdl(sim: SAPSimulator) -> None:
    """Pointing WSDL_DIR at SAP's own WSDLs reads the same equipment, selected alike."""
    since = min(
        filter(None, map(sim.stock_stamp, [r["IdentifiedStockID"] for r in sim.stock_records()]))
    )
    for changed_since in (None, since + timedelta(seconds=1)):
        ours, theirs = (
            [
                r
                for page in connector(sim, **over).equipment_pages(changed_since, page_size=70)
                for r in page
            ]
            for over in ({}, {"wsdl_dir": REAL_WSDL_DIR})
        )
        assert theirs == ours and ours
