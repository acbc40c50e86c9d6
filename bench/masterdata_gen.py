"""A seeded generator of two systems' customers, for the linking engine's benchmark and tests.

``generate(size, key_pairs=..., fuzzy_pairs=..., seed=...)`` returns ``Customers``: ``size``
Salesforce Accounts (left) and ``size`` SAP customers (right), of companies in Germany,
Austria, Switzerland, the United Kingdom and the United States (77 cities, each with 10 to
150 postal codes), shuffled, and what is true of them:

- ``key_pairs`` (default 30% of ``size``) are in both systems, linked by a key: half the
  Accounts keep the SAP number (``keys={"sap": ...}``, as ``SAP_Customer_Number__c`` does),
  half the SAP customers keep the Account id (``keys={"salesforce": ...}``, SAP's external
  reference); a third of them also differ a little, as kept data drifts;
- ``fuzzy_pairs`` (default 30%) are in both without a key, each with one to three of:
  ``GmbH``/``Gesellschaft mbH``/``G.m.b.H.`` (``AG``/``Aktiengesellschaft``, ``Ltd``/
  ``Limited``, ``Inc``/``Incorporated``), ``Straße``/``Str.``/``Strasse`` (``Street``/``St``,
  ``Road``/``Rd``, ``Avenue``/``Ave``), two adjacent characters of the postal code
  transposed, a letter dropped from a word of the name, two words of the name swapped, the
  name in capitals or an umlaut spelt out or dropped, each on either side;
- the rest of each side exists only there; half of them are near neighbours of another
  company: the same city (often the same postal code, sometimes the same street), and the same
  surname or the same trade, or a surname a letter apart, or the same name with a branch's
  word (``Nord``, ``Service``), so that a false link is possible.

The same arguments give the same customers; company names are unique within a city.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, replace
from typing import Any

from mappings.masterdata import Linkage, Record

LEFT, RIGHT = "salesforce", "sap"


def _listed(words: str) -> list[str]:
    return words.split()


_SURNAMES_DE = _listed(
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
    "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann "
    "Lange Schmitt Werner Schmitz Krause Meier Lehmann Schmid Schulze Maier Köhler Herrmann "
    "König Walter Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn Schubert "
    "Vogel Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann Franke "
    "Albrecht Schuster Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt Stein Jäger "
    "Otto Sommer Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte Dietrich Ziegler Kuhn "
    "Kühn Pohl Engel Horn Busch Bergmann Thomas Voigt Sauer Arnold Wolff Pfeiffer Gruber Steiner "
    "Moser Hofer Leitner Brunner Egger Aigner Wimmer Lechner Haller Ebner Widmer Meili Frei"
)
_TRADES_DE = _listed(
    "Haustechnik Elektrotechnik Sanitär Heizungsbau Kältetechnik Klimatechnik Gebäudeservice "
    "Anlagenbau Maschinenbau Metallbau Aufzugsbau Pumpentechnik Energietechnik Gebäudetechnik "
    "Industrieservice Bauunternehmung Dachdeckerei Installationen Solartechnik Wärmepumpen "
    "Lüftungstechnik Brandschutz Sicherheitstechnik Messtechnik Automation Antriebstechnik "
    "Hydraulik Drucklufttechnik Wassertechnik Umwelttechnik Logistik Immobilien Wohnbau "
    "Hausverwaltung Kliniken Hotelbetriebe Lebensmittel Brauerei Fördertechnik Kranbau"
)
_STREETS_DE = _listed(
    "Haupt Bahnhof Garten Schul Dorf Kirch Berg Wald Linden Birken Eichen Mühlen Rosen Feld "
    "Wiesen Friedhof Sonnen Industrie Gewerbe Markt Post Ring Kastanien Ahorn Tannen Bach See "
    "Burg Schloss Hafen Goethe Schiller Mozart Beethoven Bismarck Friedrich Wilhelm Luisen "
    "Park Blumen Amsel Drossel Lerchen Falken Adler Hirsch Jahn Lessing Uhland Kant Kepler"
)
_STREET_KINDS_DE = ["straße"] * 12 + ["weg"] * 4 + ["allee", "platz", "gasse", "ring"]
_SURNAMES_EN = _listed(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans "
    "Walker White Roberts Green Hall Wood Jackson Clarke Patel Hughes Edwards Turner Hill Moore "
    "Cooper Harris King Lee Baker Morris Ward Harrison Clark Young Allen Mitchell Parker "
    "Bennett Carter Phillips Cook Morgan Bell Murphy Bailey Miller Davis Garcia Rodriguez "
    "Martinez Anderson Hernandez Lopez Gonzalez Perez Sanders Price Myers Long Foster Reed Cox "
    "Howard Gray James Watson Brooks Kelly Russell Griffin Hayes Ford Graham Wallace West "
    "Fletcher Lawson Barker Holmes Dixon Mason Hunt Palmer Mills Stevens Fox Rose Webb"
)
_TRADES_EN = _listed(
    "Plumbing Heating Electrical Mechanical Engineering Facilities HVAC Refrigeration Pumps "
    "Controls Elevators Fire-Protection Security Energy Solar Maintenance Industrial Property "
    "Construction Roofing Water Air-Conditioning Automation Hydraulics Logistics Hospitality "
    "Healthcare Foods Brewing Lifts Boilers Ventilation Cooling Metalworks Fabrication"
)
_STREETS_EN = _listed(
    "Oak Maple Church High Park Mill Station Victoria King Queen London Elm Cedar Pine Main "
    "Market Bridge Water North South Green Chapel Manor School Grove Springfield Windsor York "
    "Albert Highfield Stanley Kingsway Orchard Meadow Riverside Hamilton Lincoln Washington "
    "Jefferson Madison Franklin Lake Hill Forest Sunset Cherry Walnut Spruce Willow"
)
_STREET_KINDS_EN = ["Street"] * 6 + ["Road"] * 4 + ["Avenue"] * 2 + ["Lane", "Drive", "Way"]
_CITIES = {
    "DE": _listed(
        "Berlin Hamburg München Köln Frankfurt Stuttgart Düsseldorf Leipzig Dortmund Essen "
        "Bremen Dresden Hannover Nürnberg Duisburg Bochum Wuppertal Bielefeld Bonn Münster "
        "Mannheim Karlsruhe Augsburg Wiesbaden Gelsenkirchen Aachen Braunschweig Kiel "
        "Chemnitz Halle Magdeburg Freiburg Krefeld Mainz Lübeck Erfurt Rostock Kassel"
    ),
    "AT": _listed("Wien Graz Linz Salzburg Innsbruck Klagenfurt Villach Wels"),
    "CH": _listed("Zürich Genf Basel Bern Lausanne Winterthur Luzern Lugano"),
    "GB": _listed(
        "London Birmingham Manchester Leeds Glasgow Liverpool Bristol Sheffield Edinburgh "
        "Cardiff Leicester Coventry Nottingham"
    ),
    "US": _listed(
        "Chicago Houston Phoenix Philadelphia Dallas Austin Denver Boston Seattle Atlanta"
    ),
}
_COUNTRY_SHARE = {"DE": 45, "AT": 10, "CH": 10, "GB": 20, "US": 15}
_LEGAL = {
    "DE": ["GmbH"] * 6 + ["AG", "GmbH & Co. KG", "KG"],
    "AT": ["GmbH"] * 5 + ["AG", "KG"],
    "CH": ["AG"] * 4 + ["GmbH"] * 3,
    "GB": ["Ltd"] * 6 + ["Limited", "PLC"],
    "US": ["Inc"] * 5 + ["LLC", "Corp"],
}
_LEGAL_VARIANTS = {
    "GmbH": ["Gesellschaft mbH", "G.m.b.H.", "Gesellschaft mit beschränkter Haftung", "GMBH"],
    "AG": ["Aktiengesellschaft", "A.G."],
    "Ltd": ["Limited", "Ltd."],
    "Limited": ["Ltd", "Ltd."],
    "Inc": ["Incorporated", "Inc."],
    "Corp": ["Corporation", "Corp."],
    "GmbH & Co. KG": ["GmbH & Co KG", "Gesellschaft mbH & Co. KG"],
}
_STREET_VARIANTS = {
    "straße": ["str.", "strasse", " Straße", " Str."],
    "Street": ["St", "St."],
    "Road": ["Rd", "Rd."],
    "Avenue": ["Ave", "Ave."],
}
_BRANCHES = {"DE": ["Nord", "Süd", "Service", "Technik"], "EN": ["North", "South", "Services"]}
_LEGAL_WORDS = {
    word.rstrip(".").upper()
    for form, variants in _LEGAL_VARIANTS.items()
    for variant in [form, *variants]
    for word in variant.split()[:1]
} | {"KG", "PLC", "LLC"}
"""The first word of each legal form, upper case: where a name's own words end."""
_UMLAUTS = {"ä": ("ae", "a"), "ö": ("oe", "o"), "ü": ("ue", "u"), "ß": ("ss", "s")}


@dataclass(frozen=True)
class Customers:
    """Both systems' records, and what the generator made true of them."""

    left: list[Record]
    right: list[Record]
    key_pairs: frozenset[tuple[str, str]]
    fuzzy_pairs: frozenset[tuple[str, str]]
    left_only: frozenset[str]
    right_only: frozenset[str]


@dataclass(frozen=True)
class _Company:
    country: str
    city: str
    surname: str
    trade: str
    legal: str
    name: str
    street: str
    postal_code: str


class _World:
    """Cities with their postal codes, and the companies made so far (unique in a city)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.cities: list[tuple[str, str, list[str]]] = []
        self.weights: list[float] = []
        self.companies: list[_Company] = []
        self.taken: set[tuple[str, str]] = set()
        for country, cities in _CITIES.items():
            prefixes = rng.sample(range(10, 99), len(cities))
            for city, prefix in zip(cities, prefixes, strict=True):
                codes = sorted({self._code(country, prefix) for _ in range(rng.randint(10, 150))})
                self.cities.append((country, city, codes))
                self.weights.append(_COUNTRY_SHARE[country] / len(cities) * len(codes))

    def _code(self, country: str, prefix: int) -> str:
        rng = self.rng
        if country == "GB":
            area = "".join(rng.choices(string.ascii_uppercase, k=1 + prefix % 2))
            inward = f"{rng.randint(1, 9)}{''.join(rng.choices('ABDEFGHJLNPQRSTUWXYZ', k=2))}"
            return f"{area}{rng.randint(1, 20)} {inward}"
        if country in ("AT", "CH"):
            return f"{prefix // 10}{rng.randint(0, 999):03d}"
        return f"{prefix:02d}{rng.randint(0, 999):03d}"

    def place(self) -> tuple[str, str, list[str]]:
        return self.rng.choices(self.cities, weights=self.weights)[0]

    def company(self, anchor: _Company | None = None) -> _Company:
        """A new company; near ``anchor`` (its city, a similar name) when one is given."""
        while True:
            made = self._near(anchor) if anchor is not None else self._fresh()
            key = (made.city, made.name.rsplit(" ", 1)[0].lower())
            if key not in self.taken and made.name:
                self.taken.add(key)
                self.companies.append(made)
                return made

    def _fresh(self) -> _Company:
        rng = self.rng
        country, city, codes = self.place()
        german = country in ("DE", "AT", "CH")
        surname = rng.choice(_SURNAMES_DE if german else _SURNAMES_EN)
        trade = rng.choice(_TRADES_DE if german else _TRADES_EN).replace("-", " ")
        legal = rng.choice(_LEGAL[country])
        return self._named(country, city, surname, trade, legal, rng.choice(codes), None)

    def _named(
        self,
        country: str,
        city: str,
        surname: str,
        trade: str,
        legal: str,
        postal_code: str,
        street: str | None,
    ) -> _Company:
        rng = self.rng
        german = country in ("DE", "AT", "CH")
        pattern = rng.random()
        if pattern < 0.6:
            name = f"{surname} {trade} {legal}"
        elif pattern < 0.8:
            other = rng.choice(_SURNAMES_DE if german else _SURNAMES_EN)
            name = f"{surname} & {other} {legal}" if other != surname else f"{surname} {legal}"
        else:
            name = f"{trade} {surname} {legal}" if german else f"{surname} & Sons {trade} {legal}"
        return _Company(
            country, city, surname, trade, legal, name, street or self._street(german), postal_code
        )

    def _street(self, german: bool) -> str:
        rng = self.rng
        number = f"{rng.randint(1, 199)}{rng.choice('ab') if rng.random() < 0.1 else ''}"
        if german:
            return f"{rng.choice(_STREETS_DE)}{rng.choice(_STREET_KINDS_DE)} {number}"
        return f"{number} {rng.choice(_STREETS_EN)} {rng.choice(_STREET_KINDS_EN)}"

    def _near(self, anchor: _Company) -> _Company:
        rng = self.rng
        german = anchor.country in ("DE", "AT", "CH")
        codes = next(codes for _, city, codes in self.cities if city == anchor.city)
        postal = anchor.postal_code if rng.random() < 0.4 else rng.choice(codes)
        street = None
        if rng.random() < 0.2:  # the same street, another number
            street = _renumbered(rng, anchor.street)
        kind = rng.random()
        surname, trade = anchor.surname, anchor.trade
        if kind < 0.35:
            trade = rng.choice(_TRADES_DE if german else _TRADES_EN).replace("-", " ")
        elif kind < 0.7:
            surname = rng.choice(_SURNAMES_DE if german else _SURNAMES_EN)
        elif kind < 0.9:
            branch = rng.choice(_BRANCHES["DE" if german else "EN"])
            trade = f"{trade} {branch}"
        else:
            surname = _one_letter_apart(rng, surname)
        return self._named(
            anchor.country, anchor.city, surname, trade, anchor.legal, postal, street
        )


def _renumbered(rng: random.Random, street: str) -> str:
    words = street.split()
    at = next(index for index, word in enumerate(words) if word[:1].isdigit())
    words[at] = str(rng.randint(1, 199))
    return " ".join(words)


def _one_letter_apart(rng: random.Random, word: str) -> str:
    at = rng.randrange(1, len(word))
    vowels = "aeiou" if word[at] not in "aeiou" else "aeiou".replace(word[at], "")
    return word[:at] + rng.choice(vowels if word[at] in "aeiouäöü" else "rstln") + word[at + 1 :]


# --- the typos of a pair ---------------------------------------------------------------------


def _legal(rng: random.Random, record: Record) -> Record | None:
    for form, variants in _LEGAL_VARIANTS.items():
        if record.name.endswith(" " + form):
            return replace(record, name=record.name[: -len(form)] + rng.choice(variants))
    return None


def _street_kind(rng: random.Random, record: Record) -> Record | None:
    for kind, variants in _STREET_VARIANTS.items():
        if kind in record.street:
            return replace(record, street=record.street.replace(kind, rng.choice(variants), 1))
    return None


def _transposed(rng: random.Random, record: Record) -> Record | None:
    code = record.postal_code
    spots = [
        at
        for at in range(len(code) - 1)
        if code[at] != code[at + 1] and " " not in code[at : at + 2]
    ]
    if not spots:
        return None
    at = rng.choice(spots)
    return replace(record, postal_code=code[:at] + code[at + 1] + code[at] + code[at + 2 :])


def _dropped(rng: random.Random, record: Record) -> Record | None:
    words = record.name.split()
    legal = (at for at, word in enumerate(words) if word.rstrip(".").upper() in _LEGAL_WORDS)
    company = next(legal, len(words))
    long_words = [at for at, word in enumerate(words[:company]) if len(word) >= 5]
    if not long_words:
        return None
    at = rng.choice(long_words)
    letter = rng.randrange(1, len(words[at]))
    words[at] = words[at][:letter] + words[at][letter + 1 :]
    return replace(record, name=" ".join(words))


def _swapped(rng: random.Random, record: Record) -> Record | None:
    words = record.name.split()
    if len(words) < 3 or "&" in words[:3]:
        return None
    return replace(record, name=" ".join([words[1], words[0], *words[2:]]))


def _spelling(rng: random.Random, record: Record) -> Record | None:
    letters = [char for char in record.name if char in _UMLAUTS]
    if letters and rng.random() < 0.7:
        name = record.name
        for char in sorted(set(letters)):
            name = name.replace(char, rng.choice(_UMLAUTS[char]))
        return replace(record, name=name)
    return replace(record, name=record.name.upper())


_TYPOS = (_legal, _street_kind, _transposed, _dropped, _swapped, _spelling)


def _typos(rng: random.Random, left: Record, right: Record, many: int) -> tuple[Record, Record]:
    """Apply ``many`` different typos (fewer when fewer apply), each to either side."""
    done = 0
    for typo in rng.sample(_TYPOS, len(_TYPOS)):
        if done == many:
            break
        on_left = rng.random() < 0.5
        changed = typo(rng, left if on_left else right)
        if changed is not None:
            left, right = (changed, right) if on_left else (left, changed)
            done += 1
    return left, right


def _record(company: _Company, record_id: str) -> Record:
    return Record(
        id=record_id,
        name=company.name,
        street=company.street,
        postal_code=company.postal_code,
        city=company.city,
        country=company.country,
    )


def generate(
    size: int, *, key_pairs: int | None = None, fuzzy_pairs: int | None = None, seed: int = 1
) -> Customers:
    """``size`` customers a side; ``key_pairs`` and ``fuzzy_pairs`` default to 30% each."""
    rng = random.Random(seed)
    keyed = round(0.3 * size) if key_pairs is None else key_pairs
    fuzzy = round(0.3 * size) if fuzzy_pairs is None else fuzzy_pairs
    if keyed + fuzzy > size:
        raise ValueError("more pairs than customers")
    world = _World(rng)
    alphabet = string.ascii_letters + string.digits
    left_ids = iter(sorted({"001" + "".join(rng.choices(alphabet, k=15)) for _ in range(size)}))
    right_ids = iter(str(number) for number in rng.sample(range(1_000_000, 9_999_999), size))
    left: list[Record] = []
    right: list[Record] = []
    truth: dict[str, set[Any]] = {"key": set(), "fuzzy": set(), "left": set(), "right": set()}
    for number in range(keyed + fuzzy):
        company = world.company()
        one, other = _record(company, next(left_ids)), _record(company, next(right_ids))
        if number < keyed:
            if rng.random() < 1 / 3:
                one, other = _typos(rng, one, other, 1)
            if number % 2:
                one = replace(one, keys={RIGHT: other.id})
            else:
                other = replace(other, keys={LEFT: one.id})
        else:
            one, other = _typos(rng, one, other, rng.choice((1, 1, 2, 2, 3)))
        left.append(one)
        right.append(other)
        truth["key" if number < keyed else "fuzzy"].add((one.id, other.id))
    for records, ids, side in ((left, left_ids, "left"), (right, right_ids, "right")):
        for _ in range(size - keyed - fuzzy):
            near = rng.random() < 0.5 and world.companies
            company = world.company(rng.choice(world.companies) if near else None)
            records.append(_record(company, next(ids)))
            truth[side].add(records[-1].id)
    rng.shuffle(left)
    rng.shuffle(right)
    return Customers(
        left,
        right,
        frozenset(truth["key"]),
        frozenset(truth["fuzzy"]),
        frozenset(truth["left"]),
        frozenset(truth["right"]),
    )


def judge(linkage: Linkage, customers: Customers) -> dict[str, int]:
    """What ``linkage`` got right and wrong against what the generator made true."""
    linked = {(found.left, found.right): found.kind for found in linkage.links}
    reviewed = {(found.left, found.right) for found in linkage.reviews}
    singles = customers.left_only | customers.right_only
    in_review = {found.left for found in linkage.reviews} | {
        found.right for found in linkage.reviews
    }
    fuzzy_auto = sum(pair in linked for pair in customers.fuzzy_pairs)
    fuzzy_review = sum(pair in reviewed and pair not in linked for pair in customers.fuzzy_pairs)
    true_pairs = customers.key_pairs | customers.fuzzy_pairs
    return {
        "key_pairs": len(customers.key_pairs),
        "key_linked": sum(linked.get(pair) == "key" for pair in customers.key_pairs),
        "fuzzy_pairs": len(customers.fuzzy_pairs),
        "fuzzy_linked": fuzzy_auto,
        "fuzzy_in_review": fuzzy_review,
        "fuzzy_missed": len(customers.fuzzy_pairs) - fuzzy_auto - fuzzy_review,
        "false_links": sum(pair not in true_pairs for pair in linked),
        "singles": len(singles),
        "singles_linked": sum(one in singles or other in singles for one, other in linked),
        "singles_in_review": len(singles & in_review),
        "reviews": len(linkage.reviews),
    }
