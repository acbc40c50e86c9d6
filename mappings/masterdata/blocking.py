"""Which pairs of records are worth scoring: those that share a blocking key, never all pairs.

A pair meets when the two records share any one of several keys, so that a typo that breaks one
key leaves another:

- ``postal``: country and postal code;
- ``transposed``: country, the postal code's characters sorted and the initials of the
  name's core words sorted (``80331`` and ``80313`` meet, and so do words in another order);
- ``word``: country, city and one of the name's two rarest core words (counted over both
  sides), so a pair whose postal code is wrong still meets, and so does one with a letter
  dropped from one of those words;
- ``sound``: country, the postal code's first two characters and a sound of the name's rarest
  core word (its first letter, then its consonants, a run of one letter once), for a city
  spelt another way.

A value a record lacks is an empty part of the key: two records without a city meet by a
rare word of their names.

A key that more than ``max_block`` pairs share (``left count x right count``: a frequent word
in a large city) is not used; its records still meet by their other keys. The join is numpy's:
a key's records on the right sorted once, each left record's run found by binary search.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mappings.masterdata import normalise

__all__ = ["KEYS", "Fields", "Side", "candidates", "side"]

KEYS = ("postal", "transposed", "word", "sound")
"""The blocking keys, in the order ``candidates`` counts them."""


@dataclass(frozen=True, slots=True)
class Side:
    """One system's records, normalised, as columns (index ``i`` is the ``i``-th record)."""

    ids: list[str]
    names: list[str]
    cores: list[list[str]]
    streets: list[str]
    postal_codes: list[str]
    cities: list[str]
    countries: list[str]

    def __len__(self) -> int:
        return len(self.ids)


class Fields(Protocol):
    """What ``side`` reads of a record (``linking.Record`` has these attributes)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def street(self) -> str: ...
    @property
    def postal_code(self) -> str: ...
    @property
    def city(self) -> str: ...
    @property
    def country(self) -> str: ...


def side(records: Sequence[Fields]) -> Side:
    """Normalise one system's records (``normalise``) into columns."""
    names = [normalise.name(record.name) for record in records]
    return Side(
        ids=[record.id for record in records],
        names=names,
        cores=[normalise.core(name) for name in names],
        streets=[normalise.street(record.street) for record in records],
        postal_codes=[normalise.postal_code(record.postal_code) for record in records],
        cities=[normalise.city(record.city) for record in records],
        countries=[normalise.country(record.country) for record in records],
    )


def _rarest(words: list[str], counts: Counter[str], many: int) -> list[str]:
    unique = {word for word in words if len(word) > 2}
    return sorted(unique, key=lambda word: (counts[word], word))[:many]


def _sound(word: str) -> str:
    """The first letter, then the consonants with runs of one letter kept once:
    ``mueller`` and ``muller`` -> ``mlr``."""
    kept = [word[0]]
    for char in word[1:]:
        if char not in "aeiouy" and char != kept[-1]:
            kept.append(char)
    return "".join(kept)


def _keys(records: Side, counts: Counter[str]) -> dict[str, list[tuple[int, str]]]:
    """Each record's keys per kind, as ``(record index, key)`` rows (a record may have several
    keys of one kind, or none)."""
    rows: dict[str, list[tuple[int, str]]] = {kind: [] for kind in KEYS}
    for index in range(len(records)):
        country, postal = records.countries[index], records.postal_codes[index]
        place = records.cities[index]
        rare = _rarest(records.cores[index], counts, 2)
        if postal:
            rows["postal"].append((index, f"{country}|{postal}"))
            initials = "".join(sorted(word[0] for word in records.cores[index]))
            rows["transposed"].append((index, f"{country}|{''.join(sorted(postal))}|{initials}"))
        rows["word"].extend((index, f"{country}|{place}|{word}") for word in rare)
        if rare:
            rows["sound"].append((index, f"{country}|{postal[:2]}|{_sound(rare[0])}"))
    return rows


def _codes(rows: list[tuple[int, str]], table: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Record indexes and their keys as integers (one table for both sides)."""
    records = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    keys = np.fromiter(
        (table.setdefault(row[1], len(table)) for row in rows), dtype=np.int64, count=len(rows)
    )
    return records, keys


def _join(
    left: tuple[np.ndarray, np.ndarray],
    right: tuple[np.ndarray, np.ndarray],
    size: int,
    max_block: int,
) -> np.ndarray:
    """Every (left, right) pair sharing a key whose block is at most ``max_block`` pairs, as
    ``left * right_count + right`` codes."""
    (left_records, left_keys), (right_records, right_keys) = left, right
    if not len(left_keys) or not len(right_keys):
        return np.empty(0, dtype=np.int64)
    span = int(max(left_keys.max(), right_keys.max())) + 1
    right_count = np.bincount(right_keys, minlength=span)
    block = np.bincount(left_keys, minlength=span) * right_count
    used = (block > 0) & (block <= max_block)
    chosen = used[left_keys]
    left_records, left_keys = left_records[chosen], left_keys[chosen]
    order = np.argsort(right_keys, kind="stable")
    starts = np.searchsorted(right_keys[order], left_keys, side="left")
    runs = right_count[left_keys]
    total = int(runs.sum())
    firsts = np.repeat(np.cumsum(runs) - runs, runs)
    positions = np.repeat(starts, runs) + (np.arange(total, dtype=np.int64) - firsts)
    return np.repeat(left_records, runs) * size + right_records[order][positions]


def candidates(
    left: Side, right: Side, *, max_block: int = 400
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """The pairs worth scoring, as two index arrays (left, right), each pair once, in order;
    and how many pairs each kind of key proposed (before they are merged)."""
    counts: Counter[str] = Counter(word for words in _both(left, right) for word in words)
    left_rows, right_rows = _keys(left, counts), _keys(right, counts)
    found: list[np.ndarray] = []
    proposed: dict[str, int] = {}
    for kind in KEYS:
        table: dict[str, int] = {}
        codes = _join(
            _codes(left_rows[kind], table), _codes(right_rows[kind], table), len(right), max_block
        )
        proposed[kind] = len(codes)
        found.append(codes)
    pairs = np.sort(np.concatenate(found))
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] if len(pairs) else pairs
    return pairs // max(len(right), 1), pairs % max(len(right), 1), proposed


def _both(left: Side, right: Side) -> Iterator[set[str]]:
    """Each record's core words, once per record."""
    yield from (set(words) for words in left.cores)
    yield from (set(words) for words in right.cores)
