"""SAP Business ByDesign's customers: a seeded, realistic set of billing accounts of
field-service customers (organisations with addresses, some persons), read as
``QueryCustomerIn.FindByElements`` reads them: selected by ``LastChangeDateTime`` since a
moment, ordered by ``InternalID``, paged after the last returned ID.

Each record is kept in the shape of the response's ``Customer`` element (nested dicts, lists
where the element repeats, elements left out when empty), with ``LastChangeDateTime`` under
``SystemAdministrativeData`` as SAP has it. Changes are stamped as the system stamps them:
whole seconds, in batches that share one stamp (the initial data load, then bulk changes).
SAP's queries carry no deletion flag: a deleted customer just stops being found. A share of
the records is malformed on purpose (``MALFORMED_KINDS``) and served as it is.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.sap.register import IDRange, Register, pattern, selects

__all__ = [
    "MALFORMED_KINDS",
    "WRITABLE",
    "Customers",
    "IDRange",
]

FIRST_ID = 1000100
MALFORMED_KINDS = ("no_name", "invalid_country", "email_without_at")

# flat names a caller of ``touch`` may set -> where they live in the record
WRITABLE: dict[str, tuple[str, ...]] = {
    "FirstLineName": ("Organisation", "FirstLineName"),
    "LifeCycleStatusCode": ("LifeCycleStatusCode",),
    "EmailURI": ("AddressInformation", "Address", "EmailURI"),
    "Telephone": ("AddressInformation", "Address", "Telephone"),
    "CountryCode": ("AddressInformation", "Address", "PostalAddress", "CountryCode"),
    "CityName": ("AddressInformation", "Address", "PostalAddress", "CityName"),
    "StreetPostalCode": ("AddressInformation", "Address", "PostalAddress", "StreetPostalCode"),
    "StreetName": ("AddressInformation", "Address", "PostalAddress", "StreetName"),
    "HouseID": ("AddressInformation", "Address", "PostalAddress", "HouseID"),
}

_PREFIXES = (
    "Northgate", "Harbour View", "Pennine", "Riverside", "Castlefield", "Meridian", "Oakwood",
    "Kingsway", "Westbrook", "Ashford", "Highfield", "Beacon", "Thames Valley", "Clyde",
    "Severn", "Elmstead", "Greystone", "Lakeside", "Moorland", "Stonebridge",
)  # fmt: skip
_KINDS = (
    "Facilities", "Hotels", "Property Management", "Leisure Centres", "Care Homes",
    "Retail Parks", "Housing Association", "Logistics", "Academy Trust", "Dental Group",
    "Cold Storage", "Business Park", "Medical Centre", "Bakeries", "Vets",
)  # fmt: skip
_FORMS = ("Ltd", "Ltd", "plc", "LLP", "Ltd", "Group Ltd")
_GIVEN = ("Sarah", "James", "Priya", "Tom", "Aisha", "David", "Emma", "Kwame", "Joanna", "Liam")
_FAMILY = ("Hughes", "Patel", "O'Brien", "Walker", "Nowak", "Campbell", "Okafor", "Reid")
_STREETS = (
    "High Street", "Station Road", "Church Lane", "Mill Road", "Victoria Street",
    "Park Avenue", "Queens Road", "Canal Wharf", "Market Place", "Commercial Street",
)  # fmt: skip
# country, city, postcode pattern (# a digit, @ a letter), dialling prefix, e-mail domain end
_PLACES = (
    ("GB", "Leeds", "LS# #@@", "+44 113", "co.uk"),
    ("GB", "Manchester", "M# #@@", "+44 161", "co.uk"),
    ("GB", "Bristol", "BS# #@@", "+44 117", "co.uk"),
    ("GB", "Glasgow", "G# #@@", "+44 141", "co.uk"),
    ("GB", "Birmingham", "B# #@@", "+44 121", "co.uk"),
    ("GB", "London", "EC# #@@", "+44 20", "co.uk"),
    ("IE", "Dublin", "D0#", "+353 1", "ie"),
    ("DE", "Hamburg", "20###", "+49 40", "de"),
    ("NL", "Rotterdam", "30## @@", "+31 10", "nl"),
    ("FR", "Lille", "59###", "+33 3", "fr"),
)


def stamp_of(record: Mapping[str, Any]) -> datetime:
    stamp: datetime = record["SystemAdministrativeData"]["LastChangeDateTime"]
    return stamp


class Customers(Register):
    """The customers, by ``InternalID``; every method takes ``lock``."""

    NOUN = "customer"
    KEY = "InternalID"
    WRITABLE = WRITABLE

    def __init__(self, *, seed: int, now: datetime | None = None) -> None:
        now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        super().__init__(random.Random(f"sap-{seed}"), now - timedelta(days=60))  # nosec B311  # a simulator's seeded randomness (the same seed, the same world); it guards nothing

    # --- stamps ----------------------------------------------------------------------------

    def _stamp(self, record: dict[str, Any], stamp: datetime) -> None:
        record["SystemAdministrativeData"]["LastChangeDateTime"] = stamp

    # --- seeding ---------------------------------------------------------------------------

    def seed(self, count: int, malformed: float) -> None:
        """``count`` customers loaded in batches sharing a stamp, then two bulk changes that stamp
        scattered records alike (``Register._load``)."""
        rng = self.rng
        clock = self.last_stamp + timedelta(hours=6)
        made: list[dict[str, Any]] = []
        number = FIRST_ID
        for _ in range(count):  # ids grow with gaps (customers archived or never created)
            number += rng.randint(1, 3)
            made.append(self._make(number, clock))
        self._spoil_share(made, "InternalID", malformed, MALFORMED_KINDS)
        self._load(made, clock)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _make(self, number: int, created: datetime) -> dict[str, Any]:
        rng = self.rng
        country, city, postcode, dialling, tld = rng.choice(_PLACES)
        person = rng.random() < 0.15
        record: dict[str, Any] = {
            "UUID": self._uuid(),
            "InternalID": str(number),
            "SystemAdministrativeData": {
                "CreationDateTime": created - timedelta(days=rng.randint(30, 2000)),
                "LastChangeDateTime": created,
            },
            "CategoryCode": "1" if person else "2",
            "CustomerIndicator": True,
            "LifeCycleStatusCode": "3" if rng.random() < 0.04 else "2",
        }
        if person:
            given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
            record["Person"] = {"GivenName": given, "FamilyName": family}
            email = f"{given}.{family}".lower().replace("'", "") + "@example-mail." + tld
        else:
            trade = f"{rng.choice(_PREFIXES)} {rng.choice(_KINDS)}"
            record["Organisation"] = {"FirstLineName": f"{trade} {rng.choice(_FORMS)}"[:40]}
            domain = trade.lower().replace(" ", "-")
            email = f"{rng.choice(('accounts', 'facilities', 'invoices'))}@{domain}.{tld}"
        phone = f"{dialling} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        address: dict[str, Any] = {
            "EmailURI": email,
            "PostalAddress": {
                "CountryCode": country,
                "CityName": city,
                "StreetPostalCode": pattern(rng, postcode),
                "StreetName": rng.choice(_STREETS),
                "HouseID": str(rng.randint(1, 240)),
            },
            "Telephone": [{"FormattedNumberDescription": phone}],
        }
        record["AddressInformation"] = [{"UUID": self._uuid(), "Address": address}]
        return record

    def _spoil(self, record: dict[str, Any], reason: str) -> None:
        address = record["AddressInformation"][0]["Address"]
        if reason == "no_name":
            record.pop("Organisation", None)
            record.pop("Person", None)
        elif reason == "invalid_country":  # "UK" is no ISO 3166 code (GB is)
            address["PostalAddress"]["CountryCode"] = self.rng.choice(("UK", "EN", "XX"))
        elif reason == "email_without_at":
            address["EmailURI"] = address["EmailURI"].replace("@", ".", 1)

    # --- reading ---------------------------------------------------------------------------

    def find(
        self,
        since: datetime | None,
        ranges: Sequence[IDRange],
        after: str | None,
        limit: int | None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` (all, when None) customers changed at or after ``since`` whose
        ``InternalID`` is selected by ``ranges`` and comes after ``after``, in ``InternalID``
        order; and whether more hits are available."""

        def keep(internal_id: str, record: dict[str, Any]) -> bool:
            return (since is None or stamp_of(record) >= since) and selects(ranges, internal_id)

        return self._select(after, limit, keep)

    # --- changes ---------------------------------------------------------------------------

    def touch(
        self, which: int | Sequence[str], fields: Mapping[str, Any] | None = None
    ) -> tuple[list[str], datetime]:
        """Change customers in one batch that stamps them alike: ``which`` customers picked
        by the seeded generator, or these InternalIDs. ``fields`` are flat names
        (``WRITABLE``); without them each gets a typical change (a new telephone number or
        e-mail address); malformed records are stamped only."""
        with self.lock:
            ids = self._batch(which, fields)
            stamp = self.next_stamp()
            for internal_id in ids:
                record = self.records[internal_id]
                if fields is not None:
                    for name, value in fields.items():
                        _set(record, WRITABLE[name], value)
                elif internal_id not in self.malformed:
                    self._typical_change(record)
                self._stamp(record, stamp)
            return ids, stamp

    def _typical_change(self, record: dict[str, Any]) -> None:
        address = record["AddressInformation"][0]["Address"]
        if self.rng.random() < 0.5:
            old = address["Telephone"][0]["FormattedNumberDescription"]
            prefix = old.rsplit(" ", 2)[0]
            number = f"{prefix} {self.rng.randint(100, 999)} {self.rng.randint(1000, 9999)}"
            address["Telephone"] = [{"FormattedNumberDescription": number}]
        else:
            domain = address["EmailURI"].partition("@")[2]
            address["EmailURI"] = f"{self.rng.choice(('billing', 'ap', 'finance'))}@{domain}"


def _set(record: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node: Any = record
    for name in path[:-1]:
        if isinstance(node, list):
            node = node[0]
        node = node.setdefault(name, {})
    if isinstance(node, list):
        node = node[0]
    if path[-1] == "Telephone" and isinstance(value, str):
        value = [{"FormattedNumberDescription": value}]
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
