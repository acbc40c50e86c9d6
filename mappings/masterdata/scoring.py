"""How alike two records are: one score from 0 to 1 per candidate pair, with rapidfuzz.

The parts, each 0..1, weighed by ``Weights`` over the parts both records have (a missing street
neither helps nor hurts):

- name: rapidfuzz's token sort ratio of the normalised names (words in another order score
  as in the same; the words are sorted once per record, then ``fuzz.ratio`` per pair, which
  is ``token_sort_ratio``). Not ``WRatio``: its partial match rates a branch's name
  (``Müller Haustechnik Nord``) as high as the company's own;
- street: the token sort ratio of the normalised streets' words, times ``OTHER_NUMBER`` when
  both give a house number and the numbers differ;
- postal code: 1 when equal, ``transposed`` (0.8) when the same characters in another order
  (``80331``/``80313``), else 0;
- city: 1 when equal, else rapidfuzz's ``ratio``.

Two records in different countries (both given) score 0. Each rapidfuzz call scores every pair
at once (``process.cpdist``, ``workers`` threads); nothing here loops over pairs in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from mappings.masterdata.blocking import Side

__all__ = ["OTHER_NUMBER", "Weights", "score"]

OTHER_NUMBER = 0.4
"""What a street's similarity is multiplied by when the house numbers differ: the same street
with another number is another address."""


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each part counts (their sum need not be 1: the score is their weighted mean)."""

    name: float = 0.5
    street: float = 0.25
    postal_code: float = 0.15
    city: float = 0.1
    transposed: float = 0.8
    """What a postal code with its characters in another order scores."""


_DIGITS = re.compile(r"\S*\d\S*")


@dataclass(frozen=True, slots=True)
class _Columns:
    """One side's columns as scoring reads them: texts as numpy object arrays (words sorted),
    values compared for equality as integers from a table both sides share (-1: none)."""

    names: np.ndarray
    street_words: np.ndarray
    numbers: np.ndarray
    postal_codes: np.ndarray
    postal_sorted: np.ndarray
    cities: np.ndarray
    city_codes: np.ndarray
    countries: np.ndarray


def _sorted_words(texts: list[str]) -> np.ndarray:
    return np.asarray([" ".join(sorted(text.split())) for text in texts], dtype=object)


def _coded(values: list[str], table: dict[str, int]) -> np.ndarray:
    return np.fromiter((table.setdefault(value, len(table)) for value in values), np.int64)


def _columns(records: Side, tables: dict[str, dict[str, int]]) -> _Columns:
    return _Columns(
        names=_sorted_words(records.names),
        street_words=_sorted_words([_DIGITS.sub("", street) for street in records.streets]),
        numbers=_coded(
            [" ".join(_DIGITS.findall(street)) for street in records.streets], tables["number"]
        ),
        postal_codes=_coded(records.postal_codes, tables["postal"]),
        postal_sorted=_coded(
            ["".join(sorted(code)) for code in records.postal_codes], tables["sorted"]
        ),
        cities=np.asarray(records.cities, dtype=object),
        city_codes=_coded(records.cities, tables["city"]),
        countries=_coded(records.countries, tables["country"]),
    )


def _ratio(left: np.ndarray, right: np.ndarray, workers: int) -> np.ndarray:
    """rapidfuzz's ``ratio`` of each pair, 0..1."""
    if not len(left):
        return np.empty(0, dtype=np.float32)
    found = process.cpdist(left, right, scorer=fuzz.ratio, processor=None, workers=workers)
    return found.astype(np.float32) / 100


def _present(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Where both records have the value (the empty value's code is 0: first in each table)."""
    return (left > 0) & (right > 0)


def score(
    left: Side,
    right: Side,
    lefts: np.ndarray,
    rights: np.ndarray,
    *,
    weights: Weights = Weights(),
    workers: int = -1,
) -> np.ndarray:
    """The score (float32, 0..1) of each pair ``(left[lefts[k]], right[rights[k]])``."""
    tables: dict[str, dict[str, int]] = {
        kind: {"": 0} for kind in ("number", "postal", "sorted", "city", "country")
    }
    one, other = _columns(left, tables), _columns(right, tables)
    total = weights.name * _ratio(one.names[lefts], other.names[rights], workers)
    weight = np.full(len(lefts), weights.name, dtype=np.float32)

    ones, others = one.street_words[lefts], other.street_words[rights]
    streets = _ratio(ones, others, workers)
    numbers = one.numbers[lefts], other.numbers[rights]
    streets[_present(*numbers) & (numbers[0] != numbers[1])] *= OTHER_NUMBER
    present = (ones != "") & (others != "")
    total += weights.street * present * streets
    weight += weights.street * present

    codes = one.postal_codes[lefts], other.postal_codes[rights]
    moved = one.postal_sorted[lefts] == other.postal_sorted[rights]
    postal = np.where(codes[0] == codes[1], 1.0, np.where(moved, weights.transposed, 0.0))
    present = _present(*codes)
    total += weights.postal_code * present * postal.astype(np.float32)
    weight += weights.postal_code * present

    codes = one.city_codes[lefts], other.city_codes[rights]
    cities = (codes[0] == codes[1]).astype(np.float32)
    differ = np.flatnonzero(codes[0] != codes[1])
    cities[differ] = _ratio(one.cities[lefts[differ]], other.cities[rights[differ]], workers)
    present = _present(*codes)
    total += weights.city * present * cities
    weight += weights.city * present

    codes = one.countries[lefts], other.countries[rights]
    apart = _present(*codes) & (codes[0] != codes[1])
    return np.where(apart, 0.0, total / weight).astype(np.float32)
