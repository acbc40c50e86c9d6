"""The SAP simulator over real HTTPS, read and written by the SAP connector (customers in,
billing requests out, once per message UUID); and the conformance of the project's WSDLs with
SAP's own (skipped when ``../shared/wsdl/sap-bydesign`` is absent)."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import zeep
from lxml import etree

from connectors.errors import AuthExpired, Permanent, Retryable
from connectors.http import PinnedSession
from connectors.sap import BillingItem, BillingRequest, SAPConnector, SAPSettings
from sandbox.sap import MALFORMED_KINDS, SAPSimulator
from tests.support.sap import REAL_WSDL_DIR, body_of, connector, real_schema, real_wsdl
from tests.support.simulators import fresh_simulators

real_wsdls = real_wsdl("QueryCustomerIn")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FIELDBRIDGE_SAP_"):
            monkeypatch.delenv(name)


def read(sap: SAPConnector, **kw: Any) -> list[dict[str, Any]]:
    return [c for page in sap.customer_pages(**kw) for c in page]


def stamp(customer: dict[str, Any]) -> Any:
    return customer["SystemAdministrativeData"]["LastChangeDateTime"]


@pytest.fixture(scope="module")
def sim() -> Iterator[SAPSimulator]:
    """A shared SAP system: 600 customers, 5% malformed. Tests that change it use ``fresh``."""
    with SAPSimulator(seed=4, customers=600, malformed=0.05) as simulator:
        yield simulator


@pytest.fixture
def fresh() -> Iterator[Callable[..., SAPSimulator]]:
    """Simulators of the test's own, stopped after it."""
    with fresh_simulators(SAPSimulator) as make:
        yield make


def test_env_points_the_connector_at_the_simulator(
    sim: SAPSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in sim.env().items():
        monkeypatch.setenv(name, value)
    settings = SAPSettings()
    assert settings.wsdl_dir == sim.wsdl_dir and settings.base_url == sim.url
    assert read(SAPConnector(settings)) == sim.records()


def test_paging_is_stable_across_customers_sharing_one_stamp(sim: SAPSimulator) -> None:
    stamps = Counter(stamp(c) for c in sim.records())
    assert max(stamps.values()) >= 50  # the data load and bulk changes stamp batches alike
    sap = connector(sim)
    got = read(sap, page_size=37)
    assert got == sim.records()  # every customer once, in InternalID order, exactly as served
    assert sap.api_calls == -(-sim.count() // 37)
    ids = [c["InternalID"] for c in got]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == 600


def test_changed_since_selects_the_later_changes(
    fresh: Callable[..., SAPSimulator],
) -> None:
    sim = fresh(seed=8, customers=300)
    touched = sim.touch(25)
    assert len(touched.ids) == 25
    assert all(stamp(sim.get(i) or {}) == touched.stamp for i in touched.ids)
    got = read(connector(sim), changed_since=touched.stamp, page_size=10)
    assert [c["InternalID"] for c in got] == sorted(touched.ids)
    later = read(connector(sim), changed_since=touched.stamp + timedelta(seconds=1))
    assert later == []


def test_changes_during_a_read_skip_nothing_and_deletions_vanish(
    fresh: Callable[..., SAPSimulator],
) -> None:
    sim = fresh(seed=9, customers=200)
    gone = sim.records()[150]["InternalID"]
    sim.delete(gone)
    seen: list[str] = []
    for index, page in enumerate(connector(sim).customer_pages(page_size=40)):
        seen += [c["InternalID"] for c in page]
        if index == 1:  # a bulk change stamps customers on pages read and to come
            sim.touch(60, {"CityName": "Sheffield"})
    assert sorted(seen) == [c["InternalID"] for c in sim.records()]
    assert gone not in seen and sim.get(gone) is None and sim.count() == 199


def test_seeded_faults_are_read_through(fresh: Callable[..., SAPSimulator]) -> None:
    sim = fresh(seed=6, customers=400, faults={"rate": 0.3, "seed": 11})
    sap = connector(sim, max_attempts=10)
    got = read(sap, page_size=50)
    assert got == sim.records()
    kinds = Counter(f["kind"] for f in sim.fault_log)
    assert set(kinds) == {"500", "fault"}
    assert sap.api_calls == 8 + sum(kinds.values())
    statuses = Counter(e["status"] for e in sim.ledger())
    assert statuses[500] == sum(kinds.values()) and statuses[200] == 8


def test_a_hang_ends_in_the_connectors_timeout(fresh: Callable[..., SAPSimulator]) -> None:
    sim = fresh(seed=2, customers=20, faults={"rate": 1.0, "kinds": ["hang"], "hang_s": 10})
    sap = connector(sim, timeout_s=0.4, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(Retryable, match="Timeout"):
        read(sap)
    assert time.monotonic() - started < 5
    sim.clear_faults()
    assert len(read(sap)) == 20


def test_credentials_refused(fresh: Callable[..., SAPSimulator]) -> None:
    sim = fresh(seed=3, customers=10)
    sap = connector(sim, password="wrong")
    with pytest.raises(AuthExpired) as caught:
        read(sap)
    assert caught.value.status == 401 and sap.api_calls == 1
    assert "FIELDBRIDGE_SAP_PASSWORD" in str(caught.value)
    old = connector(sim)
    sim.change_password()
    with pytest.raises(AuthExpired):
        read(old)
    assert len(read(connector(sim))) == 10
    assert [e["status"] for e in sim.ledger()] == [401, 401, 200]


def test_malformed_customers_are_served_as_they_are(sim: SAPSimulator) -> None:
    reasons = sim.malformed_reasons()
    assert set(reasons.values()) == set(MALFORMED_KINDS) and len(reasons) == 30
    by_id = {c["InternalID"]: c for c in read(connector(sim), page_size=200)}
    for internal_id, reason in reasons.items():
        record = by_id[internal_id]
        address = record["AddressInformation"][0]["Address"]
        if reason == "no_name":
            assert "Organisation" not in record and "Person" not in record
        elif reason == "invalid_country":
            assert address["PostalAddress"]["CountryCode"] in ("UK", "EN", "XX")
        else:
            assert "@" not in address["EmailURI"]
    good = [c for i, c in by_id.items() if i not in reasons]
    assert all("@" in c["AddressInformation"][0]["Address"]["EmailURI"] for c in good)
    assert any(c["CategoryCode"] == "1" and "Person" in c for c in good)  # some persons


# -- conformance with SAP's own WSDL ---------------------------------------------------------


@real_wsdls
def test_messages_conform_to_sap_wsdl(fresh: Callable[..., SAPSimulator]) -> None:
    sim = fresh(seed=12, customers=250, malformed=0.1)
    with tempfile.TemporaryDirectory() as tmp:
        schema = real_schema(REAL_WSDL_DIR / "QueryCustomerIn.wsdl", Path(tmp))
    sap_client = zeep.Client(
        str(REAL_WSDL_DIR / "QueryCustomerIn.wsdl"), settings=zeep.Settings(strict=True)
    )
    binding = sap_client.wsdl.bindings["{http://sap.com/xi/A1S/Global}binding"]
    find = binding._operations["FindByElements"]

    touched = sim.touch(30)
    read(connector(sim), page_size=60)
    read(connector(sim), changed_since=touched.stamp, page_size=7)
    requests_sent = [e["request"].encode() for e in sim.ledger()]
    assert len(requests_sent) == 5 + 5

    session = PinnedSession(timeout_s=10, ca_bundle=sim.ca_path)
    session.auth = (sim.username, sim.password)
    for request in requests_sent:
        # what the connector sends is valid against SAP's schema, and SAP's WSDL reads it
        body = body_of(request)
        assert schema.validate(body), schema.error_log
        query = find.input.deserialize(etree.fromstring(request))
        assert query.ProcessingConditions.QueryHitsUnlimitedIndicator is False
        # and what the simulator answers to it is valid against SAP's schema too
        reply = session.post(
            sim.service_url(),
            data=request,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": find.soapaction},
        )
        assert reply.status_code == 200
        assert schema.validate(body_of(reply.content)), schema.error_log
        find.output.deserialize(etree.fromstring(reply.content))

    # a fault, too, carries SAP's StandardFaultMessage
    sim.set_faults(rate=1.0, kinds=["fault"])
    reply = session.post(sim.service_url(), data=requests_sent[0])
    detail = body_of(reply.content).find("detail")
    assert reply.status_code == 500 and detail is not None
    assert schema.validate(detail[0]), schema.error_log
    sim.clear_faults()


@real_wsdls
def test_the_connector_reads_through_sap_wsdl(sim: SAPSimulator) -> None:
    """Pointing WSDL_DIR at SAP's own WSDLs (their SOAP 1.1 binding, their types) reads the
    same customers as the project's compact WSDL."""
    ours = read(connector(sim), page_size=250)
    theirs = read(connector(sim, wsdl_dir=REAL_WSDL_DIR), page_size=250)
    assert theirs == ours == sim.records()


# -- billing requests (ManageCustomerInvoiceRequestIn.MaintainBundle) ------------------------

real_billing_wsdl = pytest.mark.skipif(
    not (REAL_WSDL_DIR / "ManageCustomerInvoiceRequestIn.wsdl").is_file(),
    reason=f"SAP's own WSDLs are not at {REAL_WSDL_DIR} (conformance data kept outside the repo)",
)


def billing(buyer: str, document: str = "WO-2026-000417", **over: Any) -> BillingRequest:
    values: dict[str, Any] = {
        "message_uuid": str(uuid.uuid4()),
        "document_id": document,
        "buyer_id": buyer,
        "name": f"Work order {document}",
        "items": (
            BillingItem("SRV-LABOUR", "Labour", Decimal("2.25"), "HUR"),
            BillingItem("P-VALVE-22", "Valve 22 mm", Decimal(1), "EA"),
        ),
        "currency": "GBP",
    }
    return BillingRequest(**values | over)


def buyers(sim: SAPSimulator, count: int = 1) -> list[str]:
    return [c["InternalID"] for c in sim.records()[:count]]


def test_a_billing_request_creates_one_invoice_request(
    fresh: Callable[..., SAPSimulator],
) -> None:
    sim = fresh(seed=21, customers=20)
    [buyer] = buyers(sim)
    request = billing(buyer)
    result = connector(sim).request_billing(request)
    [made] = sim.invoice_requests()
    assert result.uuid == made["UUID"] and result.change_state_id == made["ChangeStateID"]
    assert result.document_id == made["BaseBusinessTransactionDocumentID"] == "WO-2026-000417"
    assert made["MessageUUID"] == request.message_uuid
    assert made["BuyerParty"] == {"InternalID": buyer}
    assert made["Name"] == "Work order WO-2026-000417"
    lines = [(i["ProductID"], i["Quantity"], i["unitCode"]) for i in made["Item"]]
    assert lines == [("SRV-LABOUR", Decimal("2.25"), "HUR"), ("P-VALVE-22", Decimal(1), "EA")]
    [entry] = sim.requests_by_uuid(request.message_uuid)
    assert entry["operation"] == "MaintainBundle" and entry["status"] == 200


def test_the_same_uuid_again_creates_nothing_more(fresh: Callable[..., SAPSimulator]) -> None:
    sim = fresh(seed=22, customers=20)
    [buyer] = buyers(sim)
    request = billing(buyer)
    first = connector(sim).request_billing(request)
    again = connector(sim).request_billing(request)  # another connector: SAP remembers
    assert again == first and len(sim.invoice_requests()) == 1
    assert [e["status"] for e in sim.requests_by_uuid(request.message_uuid)] == [200, 200]
    # a new UUID is a new billing request, even for the same document
    other = connector(sim).request_billing(billing(buyer))
    assert other.uuid != first.uuid and len(sim.invoice_requests()) == 2


def test_a_lost_answer_is_sent_again_and_creates_nothing_more(
    fresh: Callable[..., SAPSimulator],
) -> None:
    """SAP commits, the answer is lost (HTTP 500): the connector's retry, and later the
    caller's own resend after the retries are spent, carry the same UUID and get the first
    document back."""
    sim = fresh(seed=23, customers=20, faults={"rate": 1.0, "kinds": ["lost"]})
    [buyer] = buyers(sim)
    request = billing(buyer)
    sap = connector(sim, max_attempts=3)
    with pytest.raises(Retryable):
        sap.request_billing(request)
    [made] = sim.invoice_requests()  # the first attempt was committed; the retries were not
    sent = sim.requests_by_uuid(request.message_uuid)
    assert [(e["status"], e["fault"]) for e in sent] == [(500, "lost")] * 3
    sim.clear_faults()
    result = sap.request_billing(request)  # the caller's resend (the dead letter's retry)
    assert result.uuid == made["UUID"] and len(sim.invoice_requests()) == 1
    assert len(sim.requests_by_uuid(request.message_uuid)) == 4


def test_seeded_faults_bill_each_document_once(fresh: Callable[..., SAPSimulator]) -> None:
    sim = fresh(
        seed=24, customers=30, faults={"rate": 0.4, "seed": 5, "kinds": ["lost", "fault", "500"]}
    )
    sap = connector(sim, max_attempts=12)
    requests = [billing(b, f"WO-{n:04d}") for n, b in enumerate(buyers(sim, 12))]
    results = [sap.request_billing(r) for r in requests]
    made = sim.invoice_requests()
    assert [m["BaseBusinessTransactionDocumentID"] for m in made] == [
        r.document_id for r in requests
    ]
    assert [r.uuid for r in results] == [m["UUID"] for m in made]
    kinds = Counter(f["kind"] for f in sim.fault_log)
    assert kinds["lost"] >= 1 and sap.api_calls == 12 + sum(kinds.values())
    assert any(r.attempts > 1 for r in results)


def test_an_unknown_buyer_is_permanent_naming_sap_note(
    fresh: Callable[..., SAPSimulator],
) -> None:
    sim = fresh(seed=25, customers=5)
    sap = connector(sim)
    with pytest.raises(Permanent) as caught:
        sap.request_billing(billing("1099999"))
    assert "Business partner 1099999 does not exist" in caught.value.message
    assert caught.value.code == "LOG_ERROR" and sap.api_calls == 1
    assert sim.invoice_requests() == []


@real_billing_wsdl
def test_billing_messages_conform_to_sap_wsdl(fresh: Callable[..., SAPSimulator]) -> None:
    real = REAL_WSDL_DIR / "ManageCustomerInvoiceRequestIn.wsdl"
    sim = fresh(seed=26, customers=20)
    with tempfile.TemporaryDirectory() as tmp:
        schema = real_schema(real, Path(tmp))
    sap_client = zeep.Client(str(real), settings=zeep.Settings(strict=True))
    binding = sap_client.wsdl.bindings["{http://sap.com/xi/A1S/Global}binding"]
    maintain = binding._operations["MaintainBundle"]

    sap = connector(sim)
    good = billing(buyers(sim)[0])
    sap.request_billing(good)
    sap.request_billing(good)  # the repeat
    sap.request_billing(billing(buyers(sim, 2)[1], "WO-1", currency=None, name="x" * 255))
    with pytest.raises(Permanent):
        sap.request_billing(billing("1099999"))
    requests_sent = [e["request"].encode() for e in sim.ledger()]
    assert len(requests_sent) == 4

    session = PinnedSession(timeout_s=10, ca_bundle=sim.ca_path)
    session.auth = (sim.username, sim.password)
    url = sim.service_url("ManageCustomerInvoiceRequestIn")
    for request in requests_sent:
        # what the connector sends is valid against SAP's schema, and SAP's WSDL reads it
        body = body_of(request)
        assert schema.validate(body), schema.error_log
        bundle = maintain.input.deserialize(etree.fromstring(request))
        assert bundle.BusinessDocumentBasicMessageHeader.UUID is not None
        # and what the simulator answers (a confirmation, a repeat, a refusal) is valid too
        reply = session.post(
            url,
            data=request,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": maintain.soapaction},
        )
        assert reply.status_code == 200
        assert schema.validate(body_of(reply.content)), schema.error_log
        maintain.output.deserialize(etree.fromstring(reply.content))
    assert len(sim.invoice_requests()) == 2  # sending them all again created nothing

    sim.set_faults(rate=1.0, kinds=["fault"])
    reply = session.post(url, data=requests_sent[0])
    detail = body_of(reply.content).find("detail")
    assert reply.status_code == 500 and detail is not None
    assert schema.validate(detail[0]), schema.error_log
    sim.clear_faults()


@real_billing_wsdl
def test_the_connector_bills_through_sap_wsdl(fresh: Callable[..., SAPSimulator]) -> None:
    """Pointing WSDL_DIR at SAP's own WSDLs makes the same billing request."""
    sim = fresh(seed=27, customers=5)
    request = billing(buyers(sim)[0])
    theirs = connector(sim, wsdl_dir=REAL_WSDL_DIR).request_billing(request)
    ours = connector(sim).request_billing(request)
    assert theirs == ours and len(sim.invoice_requests()) == 1
    first, second = (e["request"] for e in sim.ledger())
    assert body_of(first.encode()).tag == body_of(second.encode()).tag


# -- invoices made of the billing requests (QueryCustomerInvoiceIn.FindByElements) -----------

real_invoice_wsdl = pytest.mark.skipif(
    not (REAL_WSDL_DIR / "QueryCustomerInvoiceIn.wsdl").is_file(),
    reason=f"SAP's own WSDLs are not at {REAL_WSDL_DIR} (conformance data kept outside the repo)",
)


def test_invoices_for_marks_the_billed_documents(fresh: Callable[..., SAPSimulator]) -> None:
    sim = fresh(seed=28, customers=10)
    sap = connector(sim)
    documents = [f"WO-{n:04d}" for n in range(7)]
    made = [
        sap.request_billing(billing(b, d)) for b, d in zip(buyers(sim, 7), documents, strict=True)
    ]
    assert sap.invoices_for(documents) == []  # nothing billed yet
    sim.bill(documents[:5])
    got = sap.invoices_for(documents, page_size=2)
    assert {i["ReferenceBusinessTransactionDocumentID"] for i in got} == set(documents[:5])
    assert [i["ID"] for i in got] == [i["ID"] for i in sim.invoices()]
    requests = {r["UUID"]: r["ID"] for r in sim.invoice_requests()}
    assert [i["Item"][0]["CustomerInvoiceRequestReference"][0]["ID"] for i in got] == [
        requests[m.uuid] for m in made[:5]
    ]
    assert sap.invoices_for(["WO-0003"]) == [got[3]]
    assert sim.bill(documents[:5]) == []  # billed once


@real_invoice_wsdl
def test_invoice_queries_conform_to_sap_wsdl(fresh: Callable[..., SAPSimulator]) -> None:
    real = REAL_WSDL_DIR / "QueryCustomerInvoiceIn.wsdl"
    sim = fresh(seed=29, customers=5)
    with tempfile.TemporaryDirectory() as tmp:
        schema = real_schema(real, Path(tmp))
    sap_client = zeep.Client(str(real), settings=zeep.Settings(strict=True))
    find = sap_client.wsdl.bindings["{http://sap.com/xi/A1S/Global}binding"]._operations[
        "FindByElements"
    ]
    sap = connector(sim)
    documents = [f"WO-{n}" for n in range(3)]
    for buyer, document in zip(buyers(sim, 3), documents, strict=True):
        sap.request_billing(billing(buyer, document))
    sim.bill()
    sim.clear_ledger()
    ours = sap.invoices_for(documents, page_size=2)
    sap.invoices_for(["WO-none"])
    requests_sent = [e["request"].encode() for e in sim.ledger()]
    assert len(requests_sent) == 3

    session = PinnedSession(timeout_s=10, ca_bundle=sim.ca_path)
    session.auth = (sim.username, sim.password)
    url = sim.service_url("QueryCustomerInvoiceIn")
    for request in requests_sent:
        assert schema.validate(body_of(request)), schema.error_log
        find.input.deserialize(etree.fromstring(request))
        reply = session.post(
            url,
            data=request,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": find.soapaction},
        )
        assert reply.status_code == 200
        assert schema.validate(body_of(reply.content)), schema.error_log
        find.output.deserialize(etree.fromstring(reply.content))
    # and the connector reads the same through SAP's own WSDL
    assert connector(sim, wsdl_dir=REAL_WSDL_DIR).invoices_for(documents) == ours
