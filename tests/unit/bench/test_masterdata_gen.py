"""The master-data benchmark's customers: the same seed gives the same customers, with the
pairs, typos and near neighbours the benchmark promises."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from bench.masterdata_gen import LEFT, RIGHT, generate
from mappings.masterdata import normalise


def test_the_same_seed_gives_the_same_customers_and_another_seed_others() -> None:
    assert generate(300, seed=7) == generate(300, seed=7)
    assert generate(300, seed=7) != generate(300, seed=8)


def test_the_customers_have_the_mix_the_benchmark_promises() -> None:
    customers = generate(2000, seed=3)
    left = {record.id: record for record in customers.left}
    right = {record.id: record for record in customers.right}
    assert len(left) == len(right) == 2000
    assert len(customers.key_pairs) == len(customers.fuzzy_pairs) == 600
    assert len(customers.left_only) == len(customers.right_only) == 800
    keyed = Counter(
        LEFT if left[one].keys else RIGHT if right[other].keys else "none"
        for one, other in customers.key_pairs
    )
    assert keyed == {RIGHT: 300, LEFT: 300}  # half each way: SAP_Customer_Number__c, SAP's ref
    fuzzy = [(left[one], right[other]) for one, other in customers.fuzzy_pairs]
    assert not any(one.keys or other.keys for one, other in fuzzy)
    assert all(one != replace(other, id=one.id) for one, other in fuzzy)  # each has a typo
    texts = " ".join(f"{one.name} {other.name} {one.street} {other.street}" for one, other in fuzzy)
    for spelling in ("Gesellschaft mbH", "Limited", "str.", " St"):
        assert spelling in texts, spelling
    transposed = [
        pair
        for pair in fuzzy
        if pair[0].postal_code != pair[1].postal_code
        and sorted(pair[0].postal_code) == sorted(pair[1].postal_code)
    ]
    assert len(transposed) > 50
    words = Counter(
        (record.city, word)
        for record in [*customers.left, *customers.right]
        for word in set(normalise.core(normalise.name(record.name)))
    )
    singles = [left[one] for one in customers.left_only] + [
        right[other] for other in customers.right_only
    ]
    near = [
        record
        for record in singles
        if any(words[record.city, word] > 1 for word in normalise.core(normalise.name(record.name)))
    ]
    assert len(near) > 0.4 * len(singles)  # a name's word shared in the same city
