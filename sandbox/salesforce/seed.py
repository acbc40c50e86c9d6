"""A seeded, realistic data set: customers with addresses and coordinates, their contacts,
installed equipment and the work orders raised on it, with a small share of malformed records
(each listed with its reason) that a sync should quarantine.

Records are stamped as a data load stamps them: in batches of 200 that share one
``SystemModstamp``, then a few mass updates that stamp scattered records alike. No external
faker: small built-in word lists, combined with a seeded ``random.Random``. Rows are built
directly (no per-record validation), so 100,000 accounts take about a second.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sandbox.salesforce.org import EPOCH, Org, Row, Table
from sandbox.salesforce.schema import POD, id18
from sandbox.salesforce.soql import datetime_text

Progress = Callable[[str, int, int], None]

BATCH = 200  # records a data-load batch stamps alike
PROGRESS_EVERY = 10_000


@dataclass(frozen=True)
class City:
    name: str
    country: str
    lat: float
    lon: float
    postal: str  # pattern: # a digit, @ a capital letter
    phone: str
    suffixes: tuple[str, ...]
    style: str  # how a street address is written: de, en, fr


CITIES = (
    City("Berlin", "Germany", 52.5200, 13.4050, "1####", "+49 30", ("GmbH", "AG"), "de"),
    City("Hamburg", "Germany", 53.5511, 9.9937, "2####", "+49 40", ("GmbH", "GmbH & Co. KG"), "de"),
    City("München", "Germany", 48.1372, 11.5756, "8####", "+49 89", ("GmbH", "AG"), "de"),
    City("Köln", "Germany", 50.9375, 6.9603, "5####", "+49 221", ("GmbH",), "de"),
    City("Frankfurt am Main", "Germany", 50.1109, 8.6821, "60###", "+49 69", ("GmbH", "AG"), "de"),
    City("Stuttgart", "Germany", 48.7758, 9.1829, "70###", "+49 711", ("GmbH", "KG"), "de"),
    City("Düsseldorf", "Germany", 51.2277, 6.7735, "40###", "+49 211", ("GmbH",), "de"),
    City("Leipzig", "Germany", 51.3397, 12.3731, "04###", "+49 341", ("GmbH",), "de"),
    City("Dresden", "Germany", 51.0504, 13.7373, "01###", "+49 351", ("GmbH",), "de"),
    City("Hannover", "Germany", 52.3759, 9.7320, "30###", "+49 511", ("GmbH", "AG"), "de"),
    City("Nürnberg", "Germany", 49.4521, 11.0767, "90###", "+49 911", ("GmbH",), "de"),
    City("Bremen", "Germany", 53.0793, 8.8017, "28###", "+49 421", ("GmbH",), "de"),
    City("Wien", "Austria", 48.2082, 16.3738, "1###", "+43 1", ("GmbH", "AG"), "de"),
    City("Graz", "Austria", 47.0707, 15.4395, "80##", "+43 316", ("GmbH",), "de"),
    City("Linz", "Austria", 48.3069, 14.2858, "40##", "+43 732", ("GmbH",), "de"),
    City("Zürich", "Switzerland", 47.3769, 8.5417, "80##", "+41 44", ("AG", "GmbH"), "de"),
    City("Basel", "Switzerland", 47.5596, 7.5886, "40##", "+41 61", ("AG",), "de"),
    City("Bern", "Switzerland", 46.9480, 7.4474, "30##", "+41 31", ("AG", "GmbH"), "de"),
    City("Amsterdam", "Netherlands", 52.3676, 4.9041, "10## @@", "+31 20", ("B.V.",), "de"),
    City("Rotterdam", "Netherlands", 51.9244, 4.4777, "30## @@", "+31 10", ("B.V.",), "de"),
    City("Utrecht", "Netherlands", 52.0907, 5.1214, "35## @@", "+31 30", ("B.V.",), "de"),
    City("Antwerpen", "Belgium", 51.2194, 4.4025, "2###", "+32 3", ("NV", "BV"), "de"),
    City("Bruxelles", "Belgium", 50.8503, 4.3517, "1###", "+32 2", ("SA", "NV"), "fr"),
    City("Lyon", "France", 45.7640, 4.8357, "6900#", "+33 4", ("SAS", "SARL"), "fr"),
    City("Lille", "France", 50.6292, 3.0573, "590##", "+33 3", ("SAS",), "fr"),
    City("London", "United Kingdom", 51.5074, -0.1278, "EC# #@@", "+44 20", ("Ltd", "plc"), "en"),
    City("Manchester", "United Kingdom", 53.4808, -2.2426, "M# #@@", "+44 161", ("Ltd",), "en"),
    City("Birmingham", "United Kingdom", 52.4862, -1.8904, "B# #@@", "+44 121", ("Ltd",), "en"),
    City("København", "Denmark", 55.6761, 12.5683, "1###", "+45", ("A/S", "ApS"), "de"),
)

# The state, province or county an address names (BillingState); none in Denmark.
STATES = {
    "Berlin": "Berlin",
    "Hamburg": "Hamburg",
    "München": "Bayern",
    "Köln": "Nordrhein-Westfalen",
    "Frankfurt am Main": "Hessen",
    "Stuttgart": "Baden-Württemberg",
    "Düsseldorf": "Nordrhein-Westfalen",
    "Leipzig": "Sachsen",
    "Dresden": "Sachsen",
    "Hannover": "Niedersachsen",
    "Nürnberg": "Bayern",
    "Bremen": "Bremen",
    "Wien": "Wien",
    "Graz": "Steiermark",
    "Linz": "Oberösterreich",
    "Zürich": "ZH",
    "Basel": "BS",
    "Bern": "BE",
    "Amsterdam": "Noord-Holland",
    "Rotterdam": "Zuid-Holland",
    "Utrecht": "Utrecht",
    "Antwerpen": "Antwerpen",
    "Bruxelles": "Bruxelles-Capitale",
    "Lyon": "Auvergne-Rhône-Alpes",
    "Lille": "Hauts-de-France",
    "London": "Greater London",
    "Manchester": "Greater Manchester",
    "Birmingham": "West Midlands",
}

STREETS = {
    "de": (
        "Hauptstraße",
        "Bahnhofstraße",
        "Industriestraße",
        "Gewerbering",
        "Am Hafen",
        "Lindenallee",
        "Schillerstraße",
        "Mühlenweg",
        "Werkstraße",
        "Kanalstraße",
        "Havenweg",
        "Industrieweg",
    ),
    "en": (
        "High Street",
        "Station Road",
        "Mill Lane",
        "Church Street",
        "Dock Road",
        "Victoria Road",
        "Park Lane",
        "Trafford Way",
    ),
    "fr": (
        "Rue de la République",
        "Avenue Jean Jaurès",
        "Rue du Port",
        "Boulevard Industriel",
        "Rue des Entrepôts",
    ),
}

SURNAMES = (
    "Keller",
    "Schneider",
    "Fischer",
    "Weber",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schulz",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Braun",
    "Zimmermann",
    "Hartmann",
    "Krüger",
    "Lange",
    "Huber",
    "Gruber",
    "Meier",
    "Jansen",
    "de Vries",
    "Bakker",
    "Visser",
    "Peeters",
    "Dubois",
    "Moreau",
    "Laurent",
    "Smith",
    "Taylor",
    "Brown",
    "Wilson",
    "Evans",
    "Nielsen",
    "Jensen",
    "Baumann",
    "Vogel",
    "Frank",
)

TRADES = (
    "Cold Storage",
    "Logistics",
    "Dairy",
    "Bakery",
    "Brewery",
    "Clinic",
    "Hotels",
    "Foods",
    "Facility Services",
    "Data Centre",
    "Laboratories",
    "Pharma",
    "Supermarkets",
    "Engineering",
    "Plastics",
    "Metalworks",
    "Printing",
    "Seafood",
    "Catering",
    "Ice Rink",
)

FIRST_NAMES = (
    "Anna",
    "Lukas",
    "Sophie",
    "Jonas",
    "Marie",
    "Felix",
    "Laura",
    "Paul",
    "Emma",
    "Max",
    "Lena",
    "Tim",
    "Sarah",
    "Jan",
    "Julia",
    "David",
    "Eva",
    "Tom",
    "Lisa",
    "Noah",
    "Claire",
    "Pieter",
    "Sanne",
    "Oliver",
    "Amelia",
    "Louis",
    "Camille",
    "Mads",
    "Freja",
    "Elif",
)

ACCOUNT_TYPES = (
    ("Customer - Direct", 0.62),
    ("Customer - Channel", 0.2),
    ("Prospect", 0.1),
    ("Installation Partner", 0.04),
    ("Other", 0.04),
)

# (name, code, family, list price in the standard price book)
PRODUCTS = (
    ("Chiller CX-400", "CX-400", "Equipment", 18_400.0),
    ("Chiller CX-800", "CX-800", "Equipment", 31_900.0),
    ("Heat Pump HP-12", "HP-12", "Equipment", 9_850.0),
    ("Heat Pump HP-24", "HP-24", "Equipment", 15_200.0),
    ("Compressor RC-30", "RC-30", "Equipment", 4_300.0),
    ("Condensing Unit CU-9", "CU-9", "Equipment", 6_750.0),
    ("Air Handler AH-5000", "AH-5000", "Equipment", 12_600.0),
    ("Cold Room CR-2", "CR-2", "Equipment", 22_500.0),
    ("Boiler GB-150", "GB-150", "Equipment", 8_900.0),
    ("Ice Machine IM-300", "IM-300", "Equipment", 3_450.0),
    ("Display Cabinet DC-1800", "DC-1800", "Equipment", 5_200.0),
    ("Blast Freezer BF-20", "BF-20", "Equipment", 14_800.0),
    ("Expansion Valve EV-3", "EV-3", "Spare Part", 189.0),
    ("Fan Motor FM-250", "FM-250", "Spare Part", 342.5),
    ("Filter Drier FD-16", "FD-16", "Spare Part", 48.9),
    ("Door Gasket DG-1", "DG-1", "Spare Part", 76.0),
    ("Thermostat TS-2", "TS-2", "Spare Part", 129.0),
    ("Control Board CB-7", "CB-7", "Spare Part", 612.0),
    ("Pressure Switch PS-4", "PS-4", "Spare Part", 94.5),
    ("Refrigerant R-290 (kg)", "R-290", "Consumable", 38.0),
    ("Leak Test Kit LT-1", "LT-1", "Consumable", 24.9),
)
STANDARD_PRICE_BOOK = "Standard Price Book"

ASSET_STATUSES = (("Installed", 0.8), ("Registered", 0.1), ("Shipped", 0.05), ("Obsolete", 0.05))

SUBJECTS = (
    "Annual maintenance",
    "Compressor does not start",
    "Temperature alarm in cold room",
    "Refrigerant leak suspected",
    "Noise from fan motor",
    "Ice build-up on evaporator",
    "Door seal damaged",
    "Controller shows error E4",
    "Heat pump fails to heat",
    "Commissioning of new unit",
    "Quarterly inspection",
    "Water leak under unit",
)

WO_STATUSES = (
    ("New", 0.7),
    ("In Progress", 0.08),
    ("On Hold", 0.05),
    ("Completed", 0.07),
    ("Closed", 0.05),
    ("Cannot Complete", 0.02),
    ("Canceled", 0.03),
)
WO_PRIORITIES = (("Low", 0.3), ("Medium", 0.45), ("High", 0.2), ("Critical", 0.05))

MALFORMED_KINDS = {
    "Account": ("missing_coordinates", "latitude_out_of_range"),
    "Contact": ("invalid_email",),
    "Asset": ("account_not_found",),
    "WorkOrder": ("end_before_start",),
}

_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", " ": ""})


@dataclass
class SeedSummary:
    counts: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, str] = field(default_factory=dict)  # Id -> reason
    first_stamp: str = ""
    last_stamp: str = ""


def _cumulative(weighted: tuple[tuple[str, float], ...]) -> tuple[list[str], list[float]]:
    values, edges, total = [], [], 0.0
    for value, weight in weighted:
        total += weight
        values.append(value)
        edges.append(total)
    edges[-1] = 1.0
    return values, edges


def _pick(values: list[str], edges: list[float], roll: float) -> str:
    for value, edge in zip(values, edges, strict=True):
        if roll < edge:
            return value
    return values[-1]


class Seeder:
    def __init__(self, org: Org, rng: random.Random, progress: Progress | None) -> None:
        self.org = org
        self.rng = rng
        self.progress = progress
        start = max(EPOCH, org.last_stamp) + timedelta(minutes=5)
        self.clock = start
        self.summary = SeedSummary(first_stamp=datetime_text(start))

    # stamps

    def _stamp(self) -> str:
        return self.org.stamp_at(self.clock)

    def _tick(self, seconds: int) -> None:
        self.clock += timedelta(seconds=seconds)

    def _batches(self, count: int) -> list[str]:
        """The stamp of each batch of BATCH records: a data load a few seconds per batch."""
        stamps = []
        for _ in range(0, count, BATCH):
            stamps.append(self._stamp())
            self._tick(self.rng.randint(1, 4))
        self._tick(300)
        return stamps

    def _report(self, name: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(name, done, total)

    def _malformed(self, name: str, count: int, share: float) -> dict[int, str]:
        kinds = MALFORMED_KINDS.get(name, ())
        if not kinds or share <= 0 or count < 10:
            return {}
        spoiled = min(max(1, round(count * share)), count // 10)
        positions = sorted(self.rng.sample(range(count), spoiled))
        return {p: kinds[i % len(kinds)] for i, p in enumerate(positions)}

    def _finish(self, table: Table, rows: list[Row], bad: dict[int, str]) -> None:
        table.add(rows)
        name = table.type.name
        for position, reason in bad.items():
            record_id = rows[position][0]
            self.org.malformed[record_id] = (name, reason)
            self.summary.malformed[record_id] = reason
        self.summary.counts[name] = self.summary.counts.get(name, 0) + len(rows)
        self._report(name, len(rows), len(rows))

    # objects

    def products(self) -> list[Row]:
        """The catalogue, with the standard price book and one active entry per product
        (carrying the product code in its external-id field, as fieldbridge names parts)."""
        table = self.org.tables["Product2"]
        existing = table.live()
        if existing:
            return existing
        ix = table.type.index
        width = len(table.type.fields)
        stamp = self._stamp()
        rows = []
        for (name, code, family, _), record_id in zip(
            PRODUCTS, table.minter.mint_block(len(PRODUCTS)), strict=True
        ):
            row: Row = [None] * width
            row[0], row[1] = record_id, False
            row[ix["Name"]] = name
            row[ix["ProductCode"]] = code
            row[ix["Family"]] = family
            row[ix["IsActive"]] = True
            row[table.created] = row[table.modified] = row[table.modstamp] = stamp
            rows.append(row)
        self._finish(table, rows, {})
        self.price_book(rows, stamp)
        self._tick(60)
        return rows

    def price_book(self, products: list[Row], stamp: str) -> None:
        books = self.org.tables["Pricebook2"]
        b_ix = books.type.index
        book: Row = [None] * len(books.type.fields)
        book[0], book[1] = books.minter.mint(), False
        book[b_ix["Name"]] = STANDARD_PRICE_BOOK
        book[b_ix["IsActive"]] = book[b_ix["IsStandard"]] = True
        book[books.created] = book[books.modified] = book[books.modstamp] = stamp
        self._finish(books, [book], {})
        table = self.org.tables["PricebookEntry"]
        ix = table.type.index
        p_ix = self.org.schema["Product2"].index
        prices = {code: price for _, code, _, price in PRODUCTS}
        rows = []
        for product, record_id in zip(
            products, table.minter.mint_block(len(products)), strict=True
        ):
            code = product[p_ix["ProductCode"]]
            row: Row = [None] * len(table.type.fields)
            row[0], row[1] = record_id, False
            row[ix["Name"]] = product[p_ix["Name"]]
            row[ix["Pricebook2Id"]] = book[0]
            row[ix["Product2Id"]] = product[0]
            row[ix["ProductCode"]] = code
            row[ix["UnitPrice"]] = prices[code]
            row[ix["IsActive"]] = True
            row[ix["UseStandardPrice"]] = False
            row[ix["Fieldbridge_Id__c"]] = code
            row[table.created] = row[table.modified] = row[table.modstamp] = stamp
            rows.append(row)
        self._finish(table, rows, {})

    def accounts(self, count: int, share: float) -> list[Row]:
        table = self.org.tables["Account"]
        ix = table.type.index
        width = len(table.type.fields)
        rnd = self.rng.random
        ids = table.minter.mint_block(count)
        stamps = self._batches(count)
        bad = self._malformed("Account", count, share)
        postal = {city.name: [self._postal(city.postal) for _ in range(40)] for city in CITIES}
        types, type_edges = _cumulative(ACCOUNT_TYPES)
        i_name, i_type, i_phone = ix["Name"], ix["Type"], ix["Phone"]
        i_street, i_city, i_zip = ix["BillingStreet"], ix["BillingCity"], ix["BillingPostalCode"]
        i_state = ix["BillingState"]
        i_country, i_lat, i_lon = (
            ix["BillingCountry"],
            ix["BillingLatitude"],
            ix["BillingLongitude"],
        )
        created, modified, modstamp = table.created, table.modified, table.modstamp
        ns, nt, nc = len(SURNAMES), len(TRADES), len(CITIES)
        rows: list[Row] = []
        for index in range(count):
            city = CITIES[int(rnd() * nc)]
            row: Row = [None] * width
            row[0], row[1] = ids[index], False
            row[i_name] = (
                f"{SURNAMES[int(rnd() * ns)]} {TRADES[int(rnd() * nt)]} "
                f"{city.suffixes[int(rnd() * len(city.suffixes))]}"
            )
            row[i_type] = _pick(types, type_edges, rnd())
            row[i_phone] = f"{city.phone} {int(rnd() * 8_999_999) + 1_000_000}"
            streets = STREETS[city.style]
            street = streets[int(rnd() * len(streets))]
            number = int(rnd() * 180) + 1
            row[i_street] = f"{street} {number}" if city.style == "de" else f"{number} {street}"
            row[i_city] = city.name
            row[i_state] = STATES.get(city.name)
            row[i_zip] = postal[city.name][int(rnd() * 40)]
            row[i_country] = city.country
            row[i_lat] = round(city.lat + (rnd() - 0.5) * 0.14, 6)
            row[i_lon] = round(city.lon + (rnd() - 0.5) * 0.22, 6)
            row[created] = row[modified] = row[modstamp] = stamps[index // BATCH]
            reason = bad.get(index)
            if reason == "missing_coordinates":
                row[i_lat] = row[i_lon] = None
            elif reason == "latitude_out_of_range":
                row[i_lat] = round(90.0 + rnd() * 60.0, 6)
            rows.append(row)
            if index % PROGRESS_EVERY == 0 and index:
                self._report("Account", index, count)
        self._finish(table, rows, bad)
        return rows

    def contacts(self, count: int, accounts: list[Row], share: float) -> list[Row]:
        table = self.org.tables["Contact"]
        ix = table.type.index
        width = len(table.type.fields)
        rnd = self.rng.random
        ids = table.minter.mint_block(count)
        stamps = self._batches(count)
        bad = self._malformed("Contact", count, share)
        a_ix = self.org.schema["Account"].index
        a_name, a_phone = a_ix["Name"], a_ix["Phone"]
        i_account, i_first, i_last = ix["AccountId"], ix["FirstName"], ix["LastName"]
        i_email, i_phone = ix["Email"], ix["Phone"]
        nf, ns, na = len(FIRST_NAMES), len(SURNAMES), len(accounts)
        rows: list[Row] = []
        for index in range(count):
            row: Row = [None] * width
            row[0], row[1] = ids[index], False
            first = FIRST_NAMES[int(rnd() * nf)]
            last = SURNAMES[int(rnd() * ns)]
            row[i_first], row[i_last] = first, last
            domain = "example.com"
            if na:
                account = accounts[int(rnd() * na)]
                row[i_account] = account[0]
                domain = account[a_name].split(" ")[0].lower().translate(_ASCII) + ".example"
                prefix = account[a_phone].rsplit(" ", 1)[0] if account[a_phone] else "+49 30"
            else:
                prefix = "+49 30"
            local = f"{first}.{last}".lower().translate(_ASCII)
            row[i_email] = f"{local}@{domain}"
            row[i_phone] = f"{prefix} {int(rnd() * 8_999_999) + 1_000_000}"
            if bad.get(index) == "invalid_email":
                row[i_email] = f"{local}(at){domain}"
            row[table.created] = row[table.modified] = row[table.modstamp] = stamps[index // BATCH]
            rows.append(row)
        self._finish(table, rows, bad)
        return rows

    def assets(self, count: int, accounts: list[Row], share: float) -> list[Row]:
        table = self.org.tables["Asset"]
        ix = table.type.index
        width = len(table.type.fields)
        rnd = self.rng.random
        ids = table.minter.mint_block(count)
        stamps = self._batches(count)
        bad = self._malformed("Asset", count, share)
        products = [
            p
            for p in self.products()
            if p[self.org.schema["Product2"].index["Family"]] == "Equipment"
        ]
        p_ix = self.org.schema["Product2"].index
        statuses, status_edges = _cumulative(ASSET_STATUSES)
        first_day = date(2016, 1, 1).toordinal()
        days = date(2025, 5, 31).toordinal() - first_day
        day_text: dict[int, str] = {}
        i_account, i_product, i_name = ix["AccountId"], ix["Product2Id"], ix["Name"]
        i_serial, i_status, i_install = ix["SerialNumber"], ix["Status"], ix["InstallDate"]
        np_, na = len(products), len(accounts)
        account_prefix = self.org.schema["Account"].key_prefix
        serial = len(self.org.tables["Asset"].rows)
        rows: list[Row] = []
        for index in range(count):
            row: Row = [None] * width
            row[0], row[1] = ids[index], False
            product = products[int(rnd() * np_)]
            row[i_product] = product[0]
            row[i_name] = product[p_ix["Name"]]
            day = first_day + int(rnd() * days)
            text = day_text.get(day)
            if text is None:
                text = day_text[day] = date.fromordinal(day).isoformat()
            row[i_install] = text
            serial += 1
            row[i_serial] = f"{product[p_ix['ProductCode']]}-{text[:4]}-{serial:07d}"
            row[i_status] = _pick(statuses, status_edges, rnd())
            if na:
                row[i_account] = accounts[int(rnd() * na)][0]
            if bad.get(index) == "account_not_found" or not na:
                # an Account Id the org never handed out (a lookup that points nowhere)
                row[i_account] = id18(f"{account_prefix}{POD}0zz{index:06d}"[:15].ljust(15, "z"))
                if not na and index not in bad:
                    bad[index] = "account_not_found"
            row[table.created] = row[table.modified] = row[table.modstamp] = stamps[index // BATCH]
            rows.append(row)
            if index % PROGRESS_EVERY == 0 and index:
                self._report("Asset", index, count)
        self._finish(table, rows, bad)
        return rows

    def work_orders(
        self, count: int, accounts: list[Row], assets: list[Row], contacts: list[Row], share: float
    ) -> list[Row]:
        table = self.org.tables["WorkOrder"]
        ix = table.type.index
        width = len(table.type.fields)
        rnd = self.rng.random
        ids = table.minter.mint_block(count)
        stamps = self._batches(count)
        bad = self._malformed("WorkOrder", count, share)
        a_ix = self.org.schema["Account"].index
        s_ix = self.org.schema["Asset"].index
        by_account = self.org.tables["Account"].by_id
        statuses, status_edges = _cumulative(WO_STATUSES)
        priorities, priority_edges = _cumulative(WO_PRIORITIES)
        copy = (
            ("Street", "BillingStreet"),
            ("City", "BillingCity"),
            ("State", "BillingState"),
            ("PostalCode", "BillingPostalCode"),
            ("Country", "BillingCountry"),
            ("Latitude", "BillingLatitude"),
            ("Longitude", "BillingLongitude"),
        )
        copy_ix = [(ix[a], a_ix[b]) for a, b in copy]
        ns, nas, nac, nco = len(SUBJECTS), len(assets), len(accounts), len(contacts)
        rows: list[Row] = []
        for index in range(count):
            row: Row = [None] * width
            row[0], row[1] = ids[index], False
            row[ix["WorkOrderNumber"]] = f"{table.next_number():08d}"
            subject = SUBJECTS[int(rnd() * ns)]
            row[ix["Subject"]] = subject
            account = None
            if nas:
                asset = assets[int(rnd() * nas)]
                row[ix["AssetId"]] = asset[0]
                account = by_account.get(asset[s_ix["AccountId"]])
                row[ix["Description"]] = f"{subject}: {asset[s_ix['Name']]}, serial " + str(
                    asset[s_ix["SerialNumber"]]
                )
            elif nac:
                account = accounts[int(rnd() * nac)]
            if account is not None:
                row[ix["AccountId"]] = account[0]
                for mine, theirs in copy_ix:
                    row[mine] = account[theirs]
            if nco:
                row[ix["ContactId"]] = contacts[int(rnd() * nco)][0]
            status = _pick(statuses, status_edges, rnd())
            row[ix["Status"]] = status
            row[ix["Priority"]] = _pick(priorities, priority_edges, rnd())
            stamp = stamps[index // BATCH]
            if status != "New" or bad.get(index) == "end_before_start":
                row[ix["StartDate"]] = stamp
                row[ix["EndDate"]] = _plus_hours(stamp, 2)
            if bad.get(index) == "end_before_start":
                row[ix["EndDate"]] = _plus_hours(stamp, -3)
            row[table.created] = row[table.modified] = row[table.modstamp] = stamp
            rows.append(row)
        self._finish(table, rows, bad)
        return rows

    def mass_update(self, table: Table, share: float, change: Callable[[Row], None]) -> None:
        """A mass update (a data-quality job, a territory realignment): scattered records,
        one stamp."""
        live = table.live()
        count = int(len(live) * share)
        if count == 0:
            return
        stamp = self._stamp()
        self._tick(90)
        for row in self.rng.sample(live, count):
            change(row)
            row[table.modified] = row[table.modstamp] = stamp

    def _postal(self, pattern: str) -> str:
        rng = self.rng
        return "".join(
            str(rng.randrange(10))
            if ch == "#"
            else chr(65 + rng.randrange(26))
            if ch == "@"
            else ch
            for ch in pattern
        )


def _plus_hours(stamp: str, hours: int) -> str:
    return datetime_text(datetime.fromisoformat(stamp) + timedelta(hours=hours))


def seed_org(
    org: Org,
    *,
    customers: int,
    assets: int,
    contacts: int | None,
    work_orders: int,
    seed: int,
    malformed: float,
    progress: Progress | None = None,
) -> SeedSummary:
    with org.lock:
        seeder = Seeder(org, random.Random(seed), progress)  # nosec B311  # a simulator's seeded randomness (the same seed, the same world); it guards nothing
        seeder.products()
        account_rows = seeder.accounts(customers, malformed) if customers else []
        all_accounts = account_rows or org.tables["Account"].live()
        contact_rows = (
            seeder.contacts(customers if contacts is None else contacts, all_accounts, malformed)
            if (contacts or (contacts is None and customers))
            else []
        )
        asset_rows = seeder.assets(assets, all_accounts, malformed) if assets else []
        if work_orders:
            seeder.work_orders(
                work_orders,
                all_accounts,
                asset_rows or org.tables["Asset"].live(),
                contact_rows or org.tables["Contact"].live(),
                malformed,
            )
        account_t = org.tables["Account"]
        type_ix = account_t.type.index["Type"]
        if account_rows:

            def promote(row: Row) -> None:
                if row[type_ix] == "Prospect":
                    row[type_ix] = "Customer - Direct"

            seeder.mass_update(account_t, 0.03, promote)
        if asset_rows:
            asset_t = org.tables["Asset"]
            status_ix = asset_t.type.index["Status"]

            def register(row: Row) -> None:
                if row[status_ix] == "Installed":
                    row[status_ix] = "Registered"

            seeder.mass_update(asset_t, 0.02, register)
        seeder.summary.last_stamp = datetime_text(org.last_stamp)
        return seeder.summary
