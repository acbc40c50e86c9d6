"""Issue 19's proof, end to end over a real ``fieldbridge serve``: a technician's day worked
offline. The device fetches its day (ten orders), goes offline and records 120 ops and 20
photos; meanwhile the office re-plans one order, cancels another and edits a third. Back in
signal, the device sends its ops in batches cut at random places, twice over, one batch cut
off mid-body by a dropped connection, and its photos resumably, one transfer cut midway,
some completions arriving before their photos and some after. Then the supervisor closes
what was completed and the relay inside the server writes back to the Salesforce, SAP and
finance simulators.

What a user would see: every fact stored once, however often it was sent; the cancelled
order's work kept as late facts and applied to nothing (its parts still left the van); the
van's stock what the day took, never below zero, shortfalls flagged; an intact audit chain;
one ProductConsumed per order and part code with the quantities summed, and one SAP billing
request per closed order carrying its labour and every part."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from sqlalchemy import select

from devtools.field_client import FieldClient, UploadFailed
from devtools.world import World, world
from orchestrator.access import tokens as auth
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from sandbox.finance import FinanceSimulator
from sandbox.salesforce import SalesforceSimulator
from sandbox.sap import SAPSimulator
from tests.support.cli import Server, cli_env, serving, wait_for
from tests.support.offline import cut_request, photo

ZONE = ZoneInfo("Europe/Berlin")
ORDERS = 10
PARTS = {  # code: name, unit, SAP material, how many the van starts with (0: not carried)
    "FLT-10": ("Filter cartridge", "EA", "P-FLT10", 9),
    "VLV-22": ("Check valve 22 mm", "EA", "P-VLV22", 2),
    "CBL-3": ("Cable, 3 core", "M", "P-CBL3", 10),
    "SEAL-7": ("Seal kit", "EA", "P-SEAL7", 0),
}
RESOLUTIONS = ["FIXED", "REPLACED", "TEMPORARY"]
CANCELLED, RESCHEDULED, EDITED = 3, 5, 7  # which of the day's orders the office changes
FACTS = {"checklist", "note", "part_used", "labour", "reading", "signature_signer"}
TUS = {"Tus-Resumable": "1.0.0"}
LABOUR_PRODUCT = "S-FIELD-LABOUR"


@pytest.fixture
def sims() -> Iterator[World]:
    with world(
        salesforce=SalesforceSimulator(seed=19),
        sap=SAPSimulator(seed=19, customers=3, stocks=0, malformed=0.0),
        finance=FinanceSimulator(seed=19),
    ) as running:
        yield running


# -- the API over the socket ------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """``/api/v1`` of the running server, as a token's holder calls it."""

    http: httpx.Client

    def __call__(
        self, method: str, path: str, token: str, *, expect: int | None = 200, **kw: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} | kw.pop("headers", {})
        answer = self.http.request(method, "/api/v1" + path, headers=headers, **kw)
        if expect is not None:
            assert answer.status_code == expect, (method, path, answer.status_code, answer.text)
        return answer

    def move(self, oid: int, token: str, to: str, **fields: Any) -> dict[str, Any]:
        """A transition with the order's current ETag."""
        etag = self("GET", f"/work-orders/{oid}", token).headers["etag"]
        return self(
            "POST",
            f"/work-orders/{oid}/transitions",
            token,
            json={"to": to, **fields},
            headers={"If-Match": etag},
        ).json()


def issue(container: Container, role: str, subject: str, **more: Any) -> str:
    with container.new_uow() as uow:
        made = auth.issue(uow, container.secret_key, role=role, subject=subject, **more)
    return made.token


@dataclass(frozen=True)
class Office:
    """Who works in the office, the technician and their device's token, and the day."""

    admin: str
    dispatcher: str
    supervisor: str
    technician_id: int
    device: str
    day: date
    buyer: str


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


# -- set-up: the catalogue, the technician, the customer, ten orders -------------------------


def catalogue(call: Caller, admin: str, sf: SalesforceSimulator) -> None:
    """The parts, in our catalogue and at Salesforce (a product and its standard price book
    entry under our code, which a ProductConsumed names)."""
    sf.seed()
    (book,) = sf.find("Pricebook2", "IsStandard", True)
    for code, (name, unit, material, _) in PARTS.items():
        body = {"code": code, "name": name, "unit": unit, "sap_product_id": material}
        call("POST", "/parts", admin, json=body, expect=201)
        product = sf.create("Product2", {"Name": name, "ProductCode": code, "IsActive": True})
        sf.create("PricebookEntry", {
            "Pricebook2Id": book["Id"], "Product2Id": product, "UnitPrice": 10.0,
            "IsActive": True, "Fieldbridge_Id__c": code,
        })  # fmt: skip


def set_up(
    call: Caller, container: Container, sims: World, today: date
) -> tuple[Office, list[int]]:
    """Everything the day needs, over the API; the ten orders dispatched to the technician."""
    assert sims.salesforce is not None and sims.sap is not None and sims.finance is not None
    admin = issue(container, "admin", "ada")
    dispatcher = issue(container, "dispatcher", "dora")
    catalogue(call, admin, sims.salesforce)
    finance = {"url": sims.finance.endpoint, "secret": sims.finance.secret}
    call("POST", "/webhook-subscriptions", admin, json=finance, expect=201)
    division = call("POST", "/divisions", admin, json={"code": "S", "name": "South"}, expect=201)
    work_type = call("POST", "/work-types", admin, expect=201, json={
        "code": "BOILER-SVC", "name": "Boiler service", "default_duration_min": 45,
        "checklist": [{"code": "isolate", "label": "Isolate the supply"},
                      {"code": "inspect", "label": "Inspect the burner"},
                      {"code": "extra", "label": "Anything else", "required": False}],
        "min_photos": 2, "signature_required": False, "resolution_codes": RESOLUTIONS,
        "parts": {"FLT-10": 1},
    }).json()  # fmt: skip
    van = {code: held for code, (_, _, _, held) in PARTS.items() if held}
    tech = call("POST", "/technicians", admin, expect=201, json={
        "name": "Tess", "home_latitude": 48.14, "home_longitude": 11.58,
        "time_zone": "Europe/Berlin", "van_stock": van,
    }).json()  # fmt: skip
    buyer = str(sims.sap.records()[0]["InternalID"])
    customer = call("POST", "/customers", dispatcher, expect=201, json={
        "name": "Stadtwerke Süd", "source_system": "sap", "external_id": buyer,
    }).json()  # fmt: skip
    site = call("POST", "/sites", dispatcher, expect=201, json={
        "customer_id": customer["id"], "name": "Heating plant", "address": "Ring 1, München",
        "latitude": 48.13, "longitude": 11.57, "time_zone": "Europe/Berlin",
    }).json()  # fmt: skip
    office = Office(
        admin=admin,
        dispatcher=dispatcher,
        supervisor=issue(container, "supervisor", "sam"),
        technician_id=tech["id"],
        device=issue(container, "technician", "tess", technician_id=tech["id"], ttl_hours=720),
        day=today,
        buyer=buyer,
    )
    orders = []
    for index in range(ORDERS):
        asset = call("POST", "/assets", dispatcher, expect=201, json={
            "site_id": site["id"], "serial": f"BLR-{index:03d}", "model": "Vitodens 200",
        }).json()  # fmt: skip
        oid = call("POST", "/work-orders", dispatcher, expect=201, json={
            "summary": f"Boiler {index} service", "customer_id": customer["id"],
            "site_id": site["id"], "asset_id": asset["id"],
        }).json()["id"]  # fmt: skip
        call.move(oid, dispatcher, "triaged", priority=3, division_id=division.json()["id"],
                  work_type_id=work_type["id"])  # fmt: skip
        start = local(today, 7, 30) + timedelta(minutes=55 * index)
        call.move(oid, dispatcher, "scheduled", technician_id=tech["id"],
                  window_start=start.isoformat(),
                  window_end=(start + timedelta(minutes=45)).isoformat())  # fmt: skip
        call.move(oid, dispatcher, "dispatched")
        orders.append(oid)
    return office, orders


# -- the device, offline ----------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One order as the device worked it: the ops it queued, in order, and its photos
    (the attachment id the device made for each, and the file)."""

    order_id: int
    tracking_code: str
    ops: list[dict[str, Any]]
    photos: list[tuple[str, bytes]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [op for op in self.ops if op["kind"] == kind]


def made_id(rng: random.Random) -> str:
    """An id the device makes (a version 4 UUID, from the seeded generator)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def work(rng: random.Random, index: int, order: dict[str, Any]) -> Job:
    """The twelve ops of one visit (travel, check-in, ticks, notes, two parts, a reading,
    the work, the signer, the completion naming its two photos) and the photos."""
    start = datetime.fromisoformat(order["window_start"]).astimezone(ZONE)
    minutes = iter(range(0, 600, 4))

    def op(kind: str, **fields: Any) -> dict[str, Any]:
        at = start + timedelta(minutes=next(minutes))
        return {"op_id": made_id(rng), "at": at.isoformat(), "work_order_id": order["id"],
                "base_version": order["version"], "kind": kind, **fields}  # fmt: skip

    def used(code: str) -> dict[str, Any]:
        quantity = rng.choice([0.5, 1.5, 2.5]) if PARTS[code][1] == "M" else rng.randint(1, 2)
        return op("part_used", part_code=code, quantity=quantity, from_van=rng.random() < 0.75)

    codes = rng.sample(sorted(PARTS), 2)
    if index == 0:  # one part used twice on one order: one line, the uses added up
        codes[1] = codes[0]
    travel, labour = rng.randint(10, 40), rng.randint(30, 110)
    photos = [(made_id(rng), photo(rng)) for _ in range(2)]
    ops = [
        op("labour", activity="travel", start=(start - timedelta(minutes=travel)).isoformat(),
           end=start.isoformat()),
        op("transition", to="in_progress", position={"lat": 48.13, "lon": 11.57}),
        op("checklist", items={"isolate": True}),
        op("note", text=f"Flue on boiler {index} sooted; cleaned it"),
        used(codes[0]),
        op("reading", asset_id=order["asset"]["id"], measure="burner_hours",
           value=round(rng.uniform(100, 9000), 1), unit="h"),
        op("checklist", items={"inspect": True}),
        used(codes[1]),
        op("note", text=f"Pressure {rng.uniform(1, 2):.1f} bar after refill"),
        op("labour", activity="work", start=start.isoformat(),
           end=(start + timedelta(minutes=labour)).isoformat()),
        op("signature_signer", name=rng.choice(["Pat Owner", "Kim Berger", "Alex Vogel"])),
        op("transition", to="completed", resolution_code=rng.choice(RESOLUTIONS),
           resolution_note=f"Boiler {index} serviced", attachment_ids=[a for a, _ in photos]),
    ]  # fmt: skip
    return Job(order["id"], order["tracking_code"], ops, photos)


# -- the office, meanwhile --------------------------------------------------------------------


REPLANNED = (18, 0)
DESCRIPTION = "Ring twice: the bell at the side door is broken"


def office_meanwhile(call: Caller, office: Office, orders: list[int]) -> None:
    """The dispatcher recalls one order, re-plans it later that day and sends it out again;
    the supervisor cancels another; the dispatcher edits a third's description."""
    replanned = orders[RESCHEDULED]
    call.move(replanned, office.dispatcher, "scheduled")
    start = local(office.day, *REPLANNED)
    call.move(replanned, office.dispatcher, "scheduled", window_start=start.isoformat(),
              window_end=(start + timedelta(hours=1)).isoformat())  # fmt: skip
    call.move(replanned, office.dispatcher, "dispatched")
    call.move(orders[CANCELLED], office.supervisor, "cancelled", reason="fixed by the owner")
    edited = orders[EDITED]
    etag = call("GET", f"/work-orders/{edited}", office.dispatcher).headers["etag"]
    call("PATCH", f"/work-orders/{edited}", office.dispatcher, json={"description": DESCRIPTION},
         headers={"If-Match": etag})  # fmt: skip


# -- back in signal ---------------------------------------------------------------------------


def cuts(rng: random.Random, ops: list[dict[str, Any]], batches: int) -> list[list[Any]]:
    """The queue cut into ``batches`` at random places, in order."""
    at = [0, *sorted(rng.sample(range(1, len(ops)), batches - 1)), len(ops)]
    return [ops[start:end] for start, end in itertools.pairwise(at)]


@dataclass
class Device:
    """The device back in signal: its token, the server, and a tus client."""

    call: Caller
    server: Server
    token: str
    files: FieldClient

    def send(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"device_id": "tess-phone", "ops": batch}
        results = self.call("POST", "/me/ops", self.token, json=body).json()["results"]
        assert [r["op_id"] for r in results] == [op["op_id"] for op in batch]
        return list(results)

    def send_cut_off(self, batch: list[dict[str, Any]]) -> None:
        """The batch's body half sent, then the connection gone."""
        body = json.dumps({"device_id": "tess-phone", "ops": batch}).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        cut_request(self.server.base, "POST", "/api/v1/me/ops", headers, body, len(body) // 2)

    def status(self, oid: int) -> str:
        return str(self.call("GET", f"/work-orders/{oid}", self.token).json()["status"])

    def upload(self, job: Job, attachment_id: str, content: bytes) -> None:
        self.files.upload(content, work_order_id=job.order_id, attachment_id=attachment_id)

    def upload_cut_midway(self, job: Job, attachment_id: str, content: bytes, tus: Path) -> None:
        """A tus upload made, half its bytes PATCHed and the connection closed, then the
        rest sent from where the server says it got (``FieldClient`` asks, HEAD)."""
        auth_header = {"Authorization": f"Bearer {self.token}"}
        meta = {"work_order_id": str(job.order_id), "attachment_id": attachment_id,
                "kind": "photo", "sha256": hashlib.sha256(content).hexdigest()}  # fmt: skip
        said = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
        made = self.call.http.post("/api/v1/uploads", headers=auth_header | TUS | {
            "Upload-Length": str(len(content)), "Upload-Metadata": said,
        })  # fmt: skip
        assert made.status_code == 201, made.text
        location = made.headers["location"]
        partial = tus / location.rsplit("/", 1)[1]
        half = len(content) // 2
        patch = auth_header | TUS | {
            "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
        }  # fmt: skip

        def arrived() -> bool:
            return partial.exists() and partial.stat().st_size >= half

        cut_request(self.server.base, "PATCH", location, patch, content, half, arrived=arrived)

        def offset() -> int:
            answer = self.call.http.head(location, headers=auth_header | TUS)
            return int(answer.headers["upload-offset"])

        wait_for(lambda: offset() == half, 10, "the server did not keep the half that arrived")
        assert self.status(job.order_id) == "in_progress", "its completion waits for the photo"
        self.files.upload(content, work_order_id=job.order_id, attachment_id=attachment_id,
                          url=self.server.base + location)  # fmt: skip
        assert self.status(job.order_id) == "completed", "the last photo applied the completion"


@dataclass(frozen=True)
class Photo:
    """A photo's way to the server: whole, cut midway and resumed, or refused."""

    job: Job
    attachment_id: str
    content: bytes
    how: str = "whole"


def photo_slots(
    rng: random.Random, jobs: list[Job], batches: list[list[Any]]
) -> tuple[dict[int, list[Photo]], set[str]]:
    """When each photo goes (slot ``n``: before batch ``n``; the last slot, after every
    batch), and the completions that will wait for theirs (sent before the last photo).
    Four orders' photos all go before their completion; the others' last photo after it,
    one of those cut midway; the cancelled order's whenever (refused)."""
    where = {op["op_id"]: n for n, batch in enumerate(batches) for op in batch}
    live = [n for n in range(len(jobs)) if n != CANCELLED]
    early = set(rng.sample(live, 4))
    cut = rng.choice([n for n in live if n not in early])
    slots: dict[int, list[Photo]] = {}
    waiting = set()
    for index, job in enumerate(jobs):
        (first, first_file), (last, last_file) = job.photos
        done = where[job.of("transition")[-1]["op_id"]]
        if index == CANCELLED:
            times = [
                (rng.randint(0, len(batches)), Photo(job, first, first_file, "refused")),
                (rng.randint(0, len(batches)), Photo(job, last, last_file, "refused")),
            ]
        elif index in early:
            times = [(rng.randint(0, done), Photo(job, first, first_file)),
                     (rng.randint(0, done), Photo(job, last, last_file))]  # fmt: skip
        else:
            waiting.add(job.of("transition")[-1]["op_id"])
            after = rng.randint(done + 1, len(batches))
            how = "cut" if index == cut else "whole"
            times = [(rng.randint(0, after), Photo(job, first, first_file)),
                     (after, Photo(job, last, last_file, how))]  # fmt: skip
        for slot, sent in times:
            slots.setdefault(slot, []).append(sent)
    return slots, waiting


def send_photos(device: Device, photos: list[Photo], tus: Path) -> None:
    for sent in photos:
        if sent.how == "cut":
            device.upload_cut_midway(sent.job, sent.attachment_id, sent.content, tus)
        elif sent.how == "refused":  # the order is cancelled: it takes no more attachments
            with pytest.raises(UploadFailed) as refused:
                device.upload(sent.job, sent.attachment_id, sent.content)
            assert refused.value.status == 409, refused.value.problem
        else:
            device.upload(sent.job, sent.attachment_id, sent.content)


def device_ops(container: Container, op_ids: list[str]) -> int:
    """How many of these ops the server kept."""
    with container.new_uow() as uow:
        kept = uow.session.scalars(
            select(models.DeviceOp.op_id).where(models.DeviceOp.op_id.in_(op_ids))
        )
        return len(kept.all())


def come_back(
    device: Device, container: Container, jobs: list[Job], rng: random.Random, tus: Path
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The queue sent in eight batches cut at random, one of them first cut off mid-body
    (nothing of it kept) and sent again; the photos between the batches. The first answer
    to each op, and the completions that waited."""
    queue = [op for job in jobs for op in job.ops]
    batches = cuts(rng, queue, 8)
    slots, waiting = photo_slots(rng, jobs, batches)
    dropped = rng.randrange(len(batches))
    first: dict[str, dict[str, Any]] = {}
    for number, batch in enumerate(batches):
        send_photos(device, slots.get(number, []), tus)
        if number == dropped:
            device.send_cut_off(batch)
            kept = device_ops(container, [op["op_id"] for op in batch])
            assert kept == 0, "a batch whose body was cut off applies nothing"
        first |= {result["op_id"]: result for result in device.send(batch)}
    send_photos(device, slots.get(len(batches), []), tus)
    return first, waiting


def replay(
    device: Device, jobs: list[Job], first: dict[str, dict[str, Any]], rng: random.Random
) -> None:
    """The whole queue again, cut elsewhere: each op a duplicate carrying its first answer
    (a completion that waited: what became of it, applied)."""
    queue = [op for job in jobs for op in job.ops]
    for batch in cuts(rng, queue, 6):
        for again in device.send(batch):
            was = first[again["op_id"]]
            if was["status"] == "pending":
                assert (again["status"], again["first"]) == ("duplicate", "applied"), again
            else:
                assert again == was | {"status": "duplicate", "first": was["status"]}


# -- what the user sees -----------------------------------------------------------------------


def check_answers(first: dict[str, dict[str, Any]], jobs: list[Job], waiting: set[str]) -> None:
    """Every op of a live order applied (a completion sent before its photos: pending), stale
    where the office had moved the order on; the cancelled order's transitions in conflict,
    its facts kept late."""
    assert len(first) == 120
    for index, job in enumerate(jobs):
        answers = [first[op["op_id"]] for op in job.ops]
        if index == CANCELLED:
            for op, answer in zip(job.ops, answers, strict=True):
                said = (answer["status"], answer["current"])
                assert said == ("conflict", "cancelled"), (op["kind"], op.get("to"), answer)
                if op["kind"] in FACTS:
                    assert "late fact" in answer["reason"], answer
            continue
        completion = job.ops[-1]["op_id"]
        expected = ["applied"] * 11 + ["pending" if completion in waiting else "applied"]
        assert [a["status"] for a in answers] == expected, (index, answers)
        applied = [a for a in answers if a["status"] == "applied"]
        if index in (RESCHEDULED, EDITED):
            assert all(a["stale"] for a in applied), (index, answers)
        else:
            assert answers[0]["stale"] is False, "nothing had moved the order on"
    assert waiting and len(waiting) < 9, "some completions waited for photos, some did not"


def stored(container: Container, column: Any) -> Counter[str]:
    with container.new_uow() as uow:
        return Counter(
            str(v) for v in uow.session.scalars(select(column).where(column.is_not(None)))
        )


def check_store(container: Container, jobs: list[Job]) -> None:
    """Every fact of a live order stored once, by its op id (photos by the device's id);
    nothing of the cancelled order's but its ops, kept late."""
    live = [job for index, job in enumerate(jobs) if index != CANCELLED]

    def once(*kinds: str) -> Counter[str]:
        return Counter(op["op_id"] for job in live for op in job.ops if op["kind"] in kinds)

    assert stored(container, models.PartUse.op_id) == once("part_used")
    assert stored(container, models.LabourLine.op_id) == once("labour")
    assert stored(container, models.Reading.op_id) == once("reading")
    assert stored(container, models.Note.op_id) == once("note", "signature_signer")
    assert stored(container, models.Attachment.client_id) == Counter(
        attachment for job in live for attachment, _ in job.photos
    )
    assert stored(container, models.DeviceOp.op_id) == Counter(
        op["op_id"] for job in jobs for op in job.ops
    )
    with container.new_uow() as uow:
        late = uow.session.scalars(select(models.DeviceOp.op_id).where(models.DeviceOp.late))
        assert sorted(late) == sorted(
            op["op_id"] for op in jobs[CANCELLED].ops if op["kind"] in FACTS
        )
        files = dict(
            uow.session.execute(select(models.Attachment.client_id, models.Attachment.sha256)).all()
        )
        completed = dict(uow.session.execute(
            select(models.WorkOrder.id, models.WorkOrder.resolution_code)
            .where(models.WorkOrder.status == "completed")
        ).all())  # fmt: skip
    assert files == {a: hashlib.sha256(c).hexdigest() for job in live for a, c in job.photos}
    assert completed == {job.order_id: job.ops[-1]["resolution_code"] for job in live}


def van_after(jobs: list[Job]) -> tuple[dict[str, float], dict[str, bool]]:
    """The van as the day leaves it, every part taken from it in the order the ops apply
    (the cancelled order's too: the part left the van), and whether each use was off the van
    (not from it, or more than it held)."""
    stock = {code: float(held) for code, (_, _, _, held) in PARTS.items() if held}
    off: dict[str, bool] = {}
    for op in (op for job in jobs for op in job.of("part_used")):
        held = stock.get(op["part_code"], 0.0)
        off[op["op_id"]] = not op["from_van"] or held < op["quantity"]
        if op["from_van"] and op["part_code"] in stock:
            stock[op["part_code"]] = max(held - op["quantity"], 0.0)
    return stock, off


def check_van(call: Caller, container: Container, office: Office, jobs: list[Job]) -> None:
    """The van's stock is what it started with less every part used from it, the cancelled
    order's too, never below zero; each use is flagged off the van where the van ran short
    (or it was not from the van)."""
    stock, off = van_after(jobs)
    without, _ = van_after([job for index, job in enumerate(jobs) if index != CANCELLED])
    assert stock != without, "the day must take a part from the van for the cancelled order"
    assert any(held > 0 for held in stock.values()), "the day must leave something on the van"
    short = [
        op for job in jobs for op in job.of("part_used") if op["from_van"] and off[op["op_id"]]
    ]
    assert short, "the day must run the van short somewhere"
    van = call("GET", f"/technicians/{office.technician_id}", office.admin).json()["van_stock"]
    assert van == stock and min(van.values()) >= 0
    with container.new_uow() as uow:
        flags = uow.session.execute(select(models.PartUse.op_id, models.PartUse.off_van))
        assert dict(flags.all()) == {
            op["op_id"]: off[op["op_id"]]
            for index, job in enumerate(jobs)
            if index != CANCELLED
            for op in job.of("part_used")
        }


def check_changes(call: Caller, office: Office, day: dict[str, Any], jobs: list[Job]) -> None:
    """What changed since the day: every order, as it now stands."""
    since = {"since": day["sync_token"]}
    changes = call("GET", "/me/changes", office.device, params=since).json()
    assert changes["removed"] == []
    shown = {order["id"]: order for order in changes["orders"]}
    assert sorted(shown) == sorted(job.order_id for job in jobs)
    for index, job in enumerate(jobs):
        order = shown[job.order_id]
        if index == CANCELLED:
            assert order["status"] == "cancelled"
            assert [f["op_id"] for f in order["late_facts"]] == [
                op["op_id"] for op in job.ops if op["kind"] in FACTS
            ]
            assert order["parts_used"] == order["labour"] == order["readings"] == []
            assert order["attachments"] == [] and order["checklist"] == {}
            assert [note["kind"] for note in order["notes"]] == ["reason"]
            continue
        assert order["status"] == "completed" and order["late_facts"] == []
        assert [p["op_id"] for p in order["parts_used"]] == [
            o["op_id"] for o in job.of("part_used")
        ]
        assert len(order["labour"]) == 2 and len(order["readings"]) == 1
        assert sorted(a["attachment_id"] for a in order["attachments"]) == sorted(
            a for a, _ in job.photos
        )
    replanned = shown[jobs[RESCHEDULED].order_id]["window_start"]
    assert datetime.fromisoformat(replanned) == local(office.day, *REPLANNED)
    assert shown[jobs[EDITED].order_id]["description"] == DESCRIPTION


def settled(call: Caller, office: Office) -> dict[str, int]:
    outbox = call("GET", "/outbox", office.supervisor).json()
    assert not outbox["dead_letters"], outbox["dead_letters"]
    return {state: count for state, count in outbox["by_state"].items() if count}


def hours(minutes: int) -> Decimal:
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"), ROUND_HALF_UP)


def minutes_of(op: dict[str, Any]) -> int:
    spent = datetime.fromisoformat(op["end"]) - datetime.fromisoformat(op["start"])
    return round(spent.total_seconds() / 60)


def parts_summed(job: Job) -> dict[str, Decimal]:
    """Each part code the order used, its uses added up."""
    summed: dict[str, Decimal] = {}
    for op in job.of("part_used"):
        quantity = Decimal(str(op["quantity"]))  # as the store sums them: 0.5 m + 2.5 m
        summed[op["part_code"]] = summed.get(op["part_code"], Decimal(0)) + quantity
    return summed


def check_salesforce(sf: SalesforceSimulator, closed: list[Job]) -> None:
    """One ProductConsumed per order and part code, the uses added up."""
    for job in closed:
        (order,) = sf.find("WorkOrder", "Fieldbridge_Id__c", job.tracking_code)
        consumed = sorted(
            (r["Fieldbridge_Id__c"], Decimal(str(r["QuantityConsumed"])))
            for r in sf.find("ProductConsumed", "WorkOrderId", order["Id"])
        )
        assert consumed == sorted(
            (f"{job.tracking_code}:{code}", quantity)
            for code, quantity in parts_summed(job).items()
        ), job.tracking_code


def check_sap(sap: SAPSimulator, closed: list[Job], buyer: str) -> None:
    """One billing request per closed order, for its SAP customer: the labour in hours
    (work, travel) and every part as its material, with its summed quantity and unit."""
    requests = sap.invoice_requests()
    assert Counter(r["BaseBusinessTransactionDocumentID"] for r in requests) == Counter(
        job.tracking_code for job in closed
    )
    by_document = {r["BaseBusinessTransactionDocumentID"]: r for r in requests}
    for job in closed:
        request = by_document[job.tracking_code]
        assert request["BuyerParty"]["InternalID"] == buyer
        items = sorted(
            (i["ProductID"], Decimal(i["Quantity"]), i["unitCode"]) for i in request["Item"]
        )
        labour = [(LABOUR_PRODUCT, hours(minutes_of(op)), "HUR") for op in job.of("labour")]
        parts = [
            (PARTS[code][2], quantity, PARTS[code][1])
            for code, quantity in parts_summed(job).items()
        ]
        assert items == sorted(labour + parts), job.tracking_code


def check_finance(finance: FinanceSimulator, closed: list[Job]) -> None:
    """One billing trigger per closed order at the finance subscriber, its part lines summed."""
    deliveries = finance.deliveries()
    assert sorted(d["payload"]["tracking_code"] for d in deliveries) == sorted(
        job.tracking_code for job in closed
    )
    for delivery in deliveries:
        job = next(j for j in closed if j.tracking_code == delivery["payload"]["tracking_code"])
        lines = delivery["payload"]["lines"]
        billed = {
            line["part_code"]: Decimal(str(line["quantity"]))
            for line in lines
            if line["kind"] == "part"
        }
        assert billed == parts_summed(job)


# -- the day --------------------------------------------------------------------------------


def test_a_day_worked_offline_is_kept_once_and_written_back_once(
    container: Container, database_url: str, tmp_path: Path, sims: World
) -> None:
    """The day, the office meanwhile, the device back in signal, the close and the
    write-back: see the module."""
    assert sims.salesforce is not None and sims.sap is not None and sims.finance is not None
    rng = random.Random(19)
    today = datetime.now(ZONE).date()
    env = cli_env(database_url, tmp_path, FIELDBRIDGE_SECRET_KEY=container.secret_key)
    env |= sims.variables() | {
        "FIELDBRIDGE_SALESFORCE_API_VERSION": sims.salesforce.api_version,
        "FIELDBRIDGE_OUTBOX_RELAY_EVERY_S": "0.2",
    }
    with (
        serving(env, tmp_path, "--no-access-log") as server,
        httpx.Client(base_url=server.base, timeout=30) as http,
    ):
        call = Caller(http)
        office, orders = set_up(call, container, sims, today)
        day = call("GET", "/me/day", office.device, params={"date": today.isoformat()}).json()
        assert [order["id"] for order in day["orders"]] == orders
        assert {order["status"] for order in day["orders"]} == {"dispatched"}
        jobs = [work(rng, index, order) for index, order in enumerate(day["orders"])]
        assert sum(len(job.ops) for job in jobs) == 120
        assert sum(len(job.photos) for job in jobs) == 20

        office_meanwhile(call, office, orders)

        device = Device(call, server, office.device, FieldClient(server.base, office.device))
        first, waiting = come_back(device, container, jobs, rng, tmp_path / "att" / ".tus")
        check_answers(first, jobs, waiting)
        replay(device, jobs, first, rng)
        check_store(container, jobs)
        check_van(call, container, office, jobs)
        verified = call("GET", "/audit/verify", office.supervisor).json()
        assert verified["ok"] and verified["first_broken"] is None, verified
        check_changes(call, office, day, jobs)

        closed = [job for index, job in enumerate(jobs) if index != CANCELLED]
        for job in closed:
            call.move(job.order_id, office.supervisor, "closed")
        owed = {"delivered": 3 * len(closed)}
        wait_for(lambda: settled(call, office) == owed, 60, f"undelivered: see {server.log}")
    check_salesforce(sims.salesforce, closed)
    check_sap(sims.sap, closed, office.buyer)
    check_finance(sims.finance, closed)
