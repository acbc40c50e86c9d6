"""SAP Business ByDesign's identified stock: the equipment installed at field-service
customers' sites (boilers, chillers, heat pumps, lifts, fire panels, generators, ...), read
as ``QueryIdentifiedStocksIn.QueryByElements`` reads it: selected by the administrative
last-change date-time, by ``IdentifiedStockID`` or by life-cycle status, ordered by
``IdentifiedStockID``, paged after the last returned ID.

Each record is kept in the shape of the response's ``IdentifiedStock`` element (nested dicts,
lists where the element repeats, elements left out when empty; a ``Description`` is
``{"_value_1": text, "languageCode": "EN"}``). That element carries no change date-time, so
each record's last change is kept apart (``stamps``), stamped as the system stamps: whole
seconds, in batches that share one stamp (the initial data load, then bulk changes). A
deleted record just stops being found. A share is malformed on purpose (``MALFORMED_KINDS``)
and served as it is, still valid against the WSDL.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.sap.register import IDRange, Register, StampRange, pattern, selects

__all__ = ["LIFE_CYCLE_STATUSES", "MALFORMED_KINDS", "WRITABLE", "Stocks"]

FIRST_NUMBER = 4100020
MALFORMED_KINDS = ("no_product", "blank_description", "produced_after_expiry")
# IdentifiedStockLifeCycleStatusCode
LIFE_CYCLE_STATUSES = {"1": "In Preparation", "2": "Active", "3": "Blocked", "4": "Obsolete"}
WRITABLE = (
    "ExternalIdentifiedStockID",
    "ProductID",
    "ProductionDateTime",
    "ExpirationDateTime",
    "SupplierID",
    "LifeCycleStatusCode",
    "Description",
)

# what, maker, model, material number, serial pattern (# a digit, @ a letter), German name,
# warranty years
_CATALOGUE = [
    line.split("|")
    for line in """
Gas boiler|Viessmann|Vitodens 200-W 45 kW|BLR-VI-B2HF45|7###########|Gas-Brennwertkessel|5
Gas boiler|Worcester Bosch|Greenstar 8000 Life 35|BLR-WB-GS8035|##@####@###|Gas-Brennwertkessel|7
Condensing boiler|Ideal|Evomax 2 150|BLR-ID-EVX150|####-##-#####|Brennwertkessel|5
Air-cooled chiller|Daikin|EWAT-B 210 kW|CHL-DK-EWAT210|J###########|Luftgekühlter Kaltwassersatz|2
Screw chiller|Carrier|AquaForce 30XW-V 600|CHL-CA-30XW600|####@#####|Schrauben-Kaltwassersatz|2
Air-source heat pump|Mitsubishi|Ecodan PUZ-WM112|HP-ME-PUZWM112|##@#####|Wärmepumpe|7
Air-source heat pump|Vaillant|aroTHERM plus 12 kW|HP-VA-ATP12|21########@####|Wärmepumpe|5
Passenger lift|KONE|MonoSpace 500 8 pers|LFT-KO-MS500-8|@#######|Personenaufzug|2
Goods lift|Otis|Gen2 Life 1000 kg|LFT-OT-GEN2-1000|@@#####|Lastenaufzug|2
Fire alarm panel|Advanced|MxPro 5 4-loop|FAP-AD-MX5-4L|MX5-######|Brandmelderzentrale|3
Fire alarm panel|Kentec|Syncro AS 2-loop|FAP-KT-SYAS-2L|@#####-##|Brandmelderzentrale|3
Standby generator|Cummins|C110 D5 110 kVA|GEN-CU-C110D5|@##@######|Notstromaggregat|2
Standby generator|FG Wilson|P165-5 165 kVA|GEN-FW-P1655|FGWPEP##@#####|Notstromaggregat|2
Air handling unit|Systemair|Topvex TR 09|AHU-SY-TVTR09|#######|Lüftungsgerät|3
Unvented cylinder|Megaflo|Eco 300i|CYL-MF-ECO300I|MF#######|Warmwasserspeicher|10
Booster pump set|Grundfos|Hydro Multi-E 3 CRE 5-8|PMP-GF-HME3CRE5|########|Druckerhöhungsanlage|2
Water heater|Andrews|MAXXflo EVO 45/258|WH-AN-MXE45258|##@#######|Speicherwassererwärmer|3
Split air conditioner|Fujitsu|ASYG18KMTA 5.2 kW|AC-FJ-ASYG18|E#######|Split-Klimagerät|5
""".strip().splitlines()
]
_SUPPLIERS = ("300100", "300104", "300117", "300122", "300131")


def description(text: str, language: str = "EN") -> dict[str, Any]:
    """A ``Description`` as the response's ``MEDIUM_Description`` carries it."""
    return {"_value_1": text, "languageCode": language}


class Stocks(Register):
    """The identified stock, by ``IdentifiedStockID``; every method takes ``lock``."""

    NOUN = "identified stock"
    KEY = "IdentifiedStockID"
    WRITABLE = WRITABLE

    def __init__(self, *, seed: int, now: datetime | None = None) -> None:
        now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        super().__init__(random.Random(f"sap-stocks-{seed}"), now - timedelta(days=60))  # nosec B311  # a simulator's seeded randomness (the same seed, the same world); it guards nothing
        self.now = now
        self.stamps: dict[str, datetime] = {}  # IdentifiedStockID -> last change

    # --- stamps ----------------------------------------------------------------------------

    def _stamp(self, record: dict[str, Any], stamp: datetime) -> None:
        self.stamps[record[self.KEY]] = stamp

    def stamp(self, stock_id: str) -> datetime | None:
        """When the record last changed (SAP's administrative last-change date-time)."""
        with self.lock:
            return self.stamps.get(stock_id)

    # --- seeding ---------------------------------------------------------------------------

    def seed(self, count: int, malformed: float) -> None:
        """``count`` records loaded in batches sharing a stamp, then two bulk changes that stamp
        scattered records alike (``Register._load``)."""
        rng = self.rng
        clock = self.last_stamp + timedelta(hours=5)
        made: list[dict[str, Any]] = []
        number = FIRST_NUMBER
        for _ in range(count):  # numbers grow with gaps (stock scrapped or never put in place)
            number += rng.randint(1, 4)
            made.append(self._make(number))
        self._spoil_share(made, self.KEY, malformed, MALFORMED_KINDS)
        self._load(made, clock)

    def _make(self, number: int) -> dict[str, Any]:
        rng = self.rng
        what, maker, model, product, serial, german, years = rng.choice(_CATALOGUE)
        produced = (self.now - timedelta(days=rng.randint(120, 15 * 365))).replace(
            hour=rng.randint(6, 17), minute=rng.randint(0, 59), second=0
        )
        roll = rng.random()
        status = "2" if roll < 0.88 else "3" if roll < 0.94 else "4" if roll < 0.98 else "1"
        record: dict[str, Any] = {"IdentifiedStockID": f"EQ-{number}"}
        if rng.random() < 0.9:
            record["ExternalIdentifiedStockID"] = pattern(rng, serial)[:20]
        record["ProductID"] = product
        record["ProductionDateTime"] = produced
        if rng.random() < 0.6:
            record["ExpirationDateTime"] = produced + timedelta(days=365 * int(years))
        if rng.random() < 0.4:
            record["SupplierID"] = {"PartyID": rng.choice(_SUPPLIERS)}
        record["LifeCycleStatusCode"] = {"LifeCycleStatusCode": status}
        record["Description"] = [description(f"{what} {maker} {model}"[:80])]
        if rng.random() < 0.3:
            record["Description"].append(description(f"{german} {maker} {model}"[:80], "DE"))
        return record

    def _spoil(self, record: dict[str, Any], reason: str) -> None:
        if reason == "no_product":
            record.pop("ProductID", None)
        elif reason == "blank_description":
            record["Description"] = [description("   ")]
        elif reason == "produced_after_expiry":  # a typo in the year: made after it expired
            produced = record["ProductionDateTime"]
            record["ExpirationDateTime"] = produced - timedelta(days=self.rng.randint(30, 900))

    # --- reading ---------------------------------------------------------------------------

    def find(
        self,
        changed: Sequence[StampRange] = (),
        ids: Sequence[IDRange] = (),
        statuses: Sequence[IDRange] = (),
        after: str | None = None,
        limit: int | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` (all, when None) records whose last change is selected by
        ``changed``, whose ``IdentifiedStockID`` by ``ids`` and whose life-cycle status code
        by ``statuses`` (no ranges: all), after ``after`` in ``IdentifiedStockID`` order;
        and whether more hits are available."""

        def keep(stock_id: str, record: dict[str, Any]) -> bool:
            status = (record.get("LifeCycleStatusCode") or {}).get("LifeCycleStatusCode", "")
            return (
                selects(changed, self.stamps[stock_id])
                and selects(ids, stock_id)
                and selects(statuses, status)
            )

        return self._select(after, limit, keep)

    # --- changes ---------------------------------------------------------------------------

    def touch(
        self, which: int | Sequence[str], fields: Mapping[str, Any] | None = None
    ) -> tuple[list[str], datetime]:
        """Change records in one batch that stamps them alike: ``which`` records picked by
        the seeded generator, or these IdentifiedStockIDs. ``fields`` are ``WRITABLE``
        names (``LifeCycleStatusCode`` a code, ``Description`` an English text or the list,
        ``SupplierID`` a party ID; None removes the element); without them each gets a
        typical change (blocked or active again, a warranty extended, a description
        corrected); malformed records are stamped only."""
        with self.lock:
            ids = self._batch(which, fields)
            stamp = self.next_stamp()
            for stock_id in ids:
                record = self.records[stock_id]
                if fields is not None:
                    for name, value in fields.items():
                        _set(record, name, value)
                elif stock_id not in self.malformed:
                    self._typical_change(record)
                self._stamp(record, stamp)
            return ids, stamp

    def _typical_change(self, record: dict[str, Any]) -> None:
        rng = self.rng
        status = record["LifeCycleStatusCode"]["LifeCycleStatusCode"]
        roll = rng.random()
        if roll < 0.4:
            _set(record, "LifeCycleStatusCode", "3" if status == "2" else "2")
        elif roll < 0.7 or "Description" not in record:
            expiry = record.get("ExpirationDateTime") or record["ProductionDateTime"]
            record["ExpirationDateTime"] = expiry + timedelta(days=365 * rng.randint(1, 3))
        else:
            first = record["Description"][0]
            first["_value_1"] = (first["_value_1"].removesuffix(" (serviced)") + " (serviced)")[:80]


def _set(record: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        record.pop(name, None)
        return
    if name == "LifeCycleStatusCode" and isinstance(value, str):
        value = {"LifeCycleStatusCode": value}
    elif name == "SupplierID" and isinstance(value, str):
        value = {"PartyID": value}
    elif name == "Description" and isinstance(value, str):
        others = [d for d in record.get("Description") or [] if d.get("languageCode") != "EN"]
        value = [description(value), *others]
    record[name] = value
