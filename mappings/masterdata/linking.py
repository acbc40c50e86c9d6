"""Which customer of one system is which customer of another: links, review items and counts.

``link(left, right, ...)`` takes the records of two systems (``Record``: an id, a name and an
address, the other systems' ids it keeps in fields of its own, ``keys``, and the identities of
other systems that its row already carries, ``identities``) and decides, in four stages:

1. normalise (``blocking.side``, over ``normalise``);
2. block (``blocking.candidates``): the pairs that share a key, never all pairs;
3. score (``scoring.score``): each candidate pair 0..1;
4. decide:

   - by key: a record that keeps the other's id (``left.keys[right_system] == right.id`` or
     ``right.keys[left_system] == left.id``) links to it, ``kind="key"``, score 1: certain.
     Keys that disagree (two records keep the same id, or the two sides name different
     partners) and a key naming a partner other than the identity the row already carries are
     conflicts, sent to review;
   - by match, among the records no key settled: a pair at or above ``Thresholds.auto`` links
     when it is each record's only candidate at that height and neither record's row already
     carries an identity of the other system; otherwise it is a conflict for review, never an
     automatic merge. A pair in the review band (``Thresholds.review`` up to ``auto``) whose
     records did not link goes to review when it is the best in the band of either record.
     Below the band nothing happens.

A record links to at most one record of the other system. Pure: no store, no I/O; the same
records give the same answer (``Linkage.seconds`` aside, the time each stage took).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mappings.masterdata import blocking, scoring

__all__ = ["Link", "Linkage", "Record", "Review", "Thresholds", "link"]


@dataclass(frozen=True, slots=True)
class Record:
    """A customer as one system holds it."""

    id: str
    name: str
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""
    keys: Mapping[str, str] = field(default_factory=dict)
    """Other systems' ids that this record keeps in fields of its own: ``{"sap": "1000042"}``
    for a Salesforce Account whose ``SAP_Customer_Number__c`` holds SAP's number."""
    identities: Mapping[str, str] = field(default_factory=dict)
    """The identities of other systems that this record's row already carries (linked
    before): ``{"sap": "1000042"}``."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where a score links (``auto``) and where it asks a person (``review`` up to ``auto``)."""

    auto: float = 0.9
    review: float = 0.75

    def __post_init__(self) -> None:
        if not 0 <= self.review <= self.auto <= 1:
            raise ValueError(f"need 0 <= review <= auto <= 1, not {self.review}, {self.auto}")


@dataclass(frozen=True, slots=True)
class Link:
    """``left`` (an id of the left system) and ``right`` are the same customer."""

    left: str
    right: str
    kind: Literal["key", "match"]
    score: float


@dataclass(frozen=True, slots=True)
class Review:
    """A pair a person should judge: a score in the review band, or a conflict."""

    left: str
    right: str
    score: float
    reason: str
    kind: Literal["match", "conflict"] = "match"


@dataclass(frozen=True)
class Linkage:
    """What ``link`` decided, and its counts."""

    links: list[Link]
    reviews: list[Review]
    counts: dict[str, int]
    seconds: dict[str, float] = field(compare=False, default_factory=dict)
    """The time each stage took: ``normalise``, ``block``, ``score``, ``decide``."""


class _Decision:
    """The decide stage's state: who is settled, and what came of it."""

    def __init__(
        self, systems: tuple[str, str], left: Sequence[Record], right: Sequence[Record]
    ) -> None:
        self.systems = systems
        left_system, right_system = systems
        # the identity of the other system that each record's row already carries, if any
        self.carried_left = {record.id: record.identities.get(right_system) for record in left}
        self.carried_right = {record.id: record.identities.get(left_system) for record in right}
        self.links: list[Link] = []
        self.reviews: list[Review] = []
        self.settled_left: set[str] = set()
        self.settled_right: set[str] = set()
        self.counts: Counter[str] = Counter()

    def settle(self, left: str, right: str) -> None:
        self.settled_left.add(left)
        self.settled_right.add(right)

    def conflict(self, left: str, right: str, score: float, reason: str) -> None:
        self.reviews.append(Review(left, right, score, reason, "conflict"))
        self.settle(left, right)


def _by_key(left: Sequence[Record], right: Sequence[Record], decision: _Decision) -> None:
    """Key links, the links the rows already carry, and the conflicts among them."""
    left_system, right_system = decision.systems
    left_ids, right_ids = {record.id for record in left}, {record.id for record in right}
    claims = {
        (record.id, record.keys[right_system])
        for record in left
        if record.keys.get(right_system) in right_ids
    } | {
        (record.keys[left_system], record.id)
        for record in right
        if record.keys.get(left_system) in left_ids
    }
    partners = Counter(left_id for left_id, _ in claims)
    claimants = Counter(right_id for _, right_id in claims)
    carried_left, carried_right = decision.carried_left, decision.carried_right
    for left_id, right_id in sorted(claims):
        held = carried_left[left_id], carried_right[right_id]
        if partners[left_id] > 1 or claimants[right_id] > 1:
            reason = (
                f"keys disagree: the {left_system} record's keys name {partners[left_id]} "
                f"{right_system} records, the {right_system} one is named by "
                f"{claimants[right_id]}"
            )
            decision.conflict(left_id, right_id, 1.0, reason)
        elif right_id == held[0] or left_id == held[1]:
            decision.counts["already_linked"] += 1
            decision.settle(left_id, right_id)
        elif held[0] is not None or held[1] is not None:
            decision.conflict(left_id, right_id, 1.0, _carries(held, decision.systems))
        else:
            decision.links.append(Link(left_id, right_id, "key", 1.0))
            decision.settle(left_id, right_id)
    carried = {(one, other) for one, other in carried_left.items() if other in right_ids}
    carried |= {(other, one) for one, other in carried_right.items() if other in left_ids}
    for left_id, right_id in sorted(carried):
        if left_id not in decision.settled_left and right_id not in decision.settled_right:
            decision.counts["already_linked"] += 1
            decision.settle(left_id, right_id)


def _carries(held: tuple[str | None, str | None], systems: tuple[str, str]) -> str:
    """Why a pair may not link when a row already carries an identity of the other system."""
    left_system, right_system = systems
    if held[0] is not None:
        return f"the {left_system} record already carries {right_system} {held[0]}"
    return f"the {right_system} record already carries {left_system} {held[1]}"


def _by_match(
    left: Sequence[Record],
    right: Sequence[Record],
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    thresholds: Thresholds,
    decision: _Decision,
) -> None:
    """Match links, conflicts above ``auto`` and the review band, one-to-one."""
    lefts, rights, scores = pairs
    scores = np.round(scores.astype(np.float64), 4)  # 0.9 in float32 is below 0.9
    band = np.flatnonzero(scores >= thresholds.review)
    found = sorted(
        (-float(scores[at]), left[lefts[at]].id, right[rights[at]].id)
        for at in band
        if left[lefts[at]].id not in decision.settled_left
        and right[rights[at]].id not in decision.settled_right
    )
    high = [entry for entry in found if -entry[0] >= thresholds.auto]
    left_high = Counter(entry[1] for entry in high)
    right_high = Counter(entry[2] for entry in high)
    for negative, left_id, right_id in high:
        held = decision.carried_left[left_id], decision.carried_right[right_id]
        if held != (None, None):
            decision.reviews.append(
                Review(left_id, right_id, -negative, _carries(held, decision.systems), "conflict")
            )
        elif left_high[left_id] > 1 or right_high[right_id] > 1:
            many = max(left_high[left_id], right_high[right_id])
            reason = f"{many} candidates score above auto: never an automatic merge"
            decision.reviews.append(Review(left_id, right_id, -negative, reason, "conflict"))
        else:
            decision.links.append(Link(left_id, right_id, "match", -negative))
    for _, left_id, right_id in high:
        decision.settle(left_id, right_id)
    _review_band(found, decision)


def _review_band(found: list[tuple[float, str, str]], decision: _Decision) -> None:
    """The pairs below ``auto`` whose records did not link, each the best of either record."""
    best_left: dict[str, str] = {}
    best_right: dict[str, str] = {}
    for _, left_id, right_id in found:  # best first
        if left_id not in decision.settled_left and right_id not in decision.settled_right:
            best_left.setdefault(left_id, right_id)
            best_right.setdefault(right_id, left_id)
    for negative, left_id, right_id in found:
        if best_left.get(left_id) == right_id or best_right.get(right_id) == left_id:
            decision.reviews.append(
                Review(left_id, right_id, -negative, "score in the review band")
            )


def link(
    left: Sequence[Record],
    right: Sequence[Record],
    *,
    left_system: str = "salesforce",
    right_system: str = "sap",
    thresholds: Thresholds = Thresholds(),
    weights: scoring.Weights = scoring.Weights(),
    max_block: int = 400,
    workers: int = -1,
) -> Linkage:
    """Link ``left`` (records of ``left_system``) with ``right`` (of ``right_system``).

    ``workers``: rapidfuzz's threads (-1: one per core). ``max_block``: the largest block of
    pairs one key may propose (``blocking.candidates``). Ids are unique within a system: a
    repeated one raises ``ValueError``."""
    for records, system in ((left, left_system), (right, right_system)):
        repeated = [found for found, many in Counter(r.id for r in records).items() if many > 1]
        if repeated:
            raise ValueError(f"{system} ids must be unique; repeated: {sorted(repeated)[:5]}")
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 4)
        clock = now

    left_side, right_side = blocking.side(left), blocking.side(right)
    lap("normalise")
    lefts, rights, proposed = blocking.candidates(left_side, right_side, max_block=max_block)
    lap("block")
    scores = scoring.score(left_side, right_side, lefts, rights, weights=weights, workers=workers)
    lap("score")
    decision = _Decision((left_system, right_system), left, right)
    _by_key(left, right, decision)
    _by_match(left, right, (lefts, rights, scores), thresholds, decision)
    lap("decide")
    links = sorted(decision.links, key=lambda found: (found.kind, found.left, found.right))
    reviews = sorted(decision.reviews, key=lambda found: (-found.score, found.left, found.right))
    counts = {
        "left_records": len(left),
        "right_records": len(right),
        "candidate_pairs": len(lefts),
        **{f"proposed_by_{kind}": count for kind, count in proposed.items()},
        "key_links": sum(found.kind == "key" for found in links),
        "match_links": sum(found.kind == "match" for found in links),
        "review_match": sum(found.kind == "match" for found in reviews),
        "review_conflict": sum(found.kind == "conflict" for found in reviews),
        "already_linked": decision.counts["already_linked"],
    }
    return Linkage(links, reviews, counts, seconds)
