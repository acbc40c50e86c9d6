"""The master-data linking engine: one spelling for names and addresses, several blocking keys,
one-to-one links by key and by match, conflicts and the review band; and the issue's proof at
the engine's level (1,000 + 1,000 customers, 600 of them the same)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.masterdata_gen import generate, judge
from mappings.masterdata import Record, Thresholds, link, normalise
from mappings.masterdata.blocking import candidates, side

# --- normalisation -------------------------------------------------------------------------------


def test_legal_forms_spelt_any_way_are_one() -> None:
    spellings = [
        "Müller Haustechnik GmbH",
        "Müller Haustechnik Gesellschaft mbH",
        "MUELLER HAUSTECHNIK G.m.b.H.",
        "Muller Haustechnik Gesellschaft mit beschränkter Haftung",
        "müller  haustechnik  GesmbH",
    ]
    assert {normalise.name(text) for text in spellings} == {"muller haustechnik gmbh"}
    assert normalise.name("Brandt Aktiengesellschaft") == normalise.name("Brandt AG")
    assert normalise.name("Smith & Sons Limited") == normalise.name("Smith and Sons Ltd.")
    assert normalise.name("Acme Incorporated") == normalise.name("ACME Inc.")
    assert normalise.name("Foo GmbH & Co. KG") == normalise.name("Foo Gesellschaft mbH & Co KG")


def test_street_abbreviations_and_accents_are_one_spelling() -> None:
    streets = ["Hauptstraße 5", "Hauptstr. 5", "Haupt Straße 5", "Hauptstrasse 5", "HAUPTSTR 5"]
    assert {normalise.street(text) for text in streets} == {"hauptstr 5"}
    assert normalise.street("12 Oak Street") == normalise.street("12 Oak St.") == "12 oak st"
    assert normalise.street("4 Mill Road") == normalise.street("4 Mill Rd")
    assert normalise.street("5 Park Avenue") == normalise.street("5 Park Ave.")
    assert normalise.name("Société Générale") == "societe generale"
    assert normalise.city("München") == normalise.city("Muenchen") == "munchen"
    assert normalise.postal_code(" sw1a 1aa") == "SW1A1AA"
    assert normalise.country(" de ") == "DE"


def test_the_core_of_a_name_leaves_out_legal_forms_and_fillers() -> None:
    assert normalise.core(normalise.name("The Smith & Jones Company Ltd")) == ["smith", "jones"]
    assert normalise.core(normalise.name("Kühn GmbH & Co. KG")) == ["kuhn"]


# --- blocking ------------------------------------------------------------------------------------

LEFT = Record(
    "001A",
    "Schmidt Kältetechnik GmbH",
    "Lindenweg 3",
    "80331",
    "München",
    "DE",
)


def _met(left: list[Record], right: list[Record], **options: int) -> set[tuple[str, str]]:
    one, other = side(left), side(right)
    lefts, rights, _ = candidates(one, other, **options)
    return {(one.ids[at], other.ids[to]) for at, to in zip(lefts, rights, strict=True)}


def _elsewhere(count: int) -> list[Record]:
    """Customers in other cities with other names and postal codes."""
    return [
        Record(
            f"9{number:03d}",
            f"Firma{number} Metallbau AG",
            "Ring 1",
            f"1{number:04d}",
            f"Ort{number}",
            "DE",
        )
        for number in range(count)
    ]


def test_a_transposed_postal_code_still_meets_its_pair() -> None:
    right = replace(LEFT, id="1000", postal_code="80313")  # 3 and 1 swapped
    assert (LEFT.id, right.id) in _met([LEFT], [right])
    proposed = candidates(side([LEFT]), side([right]))[2]
    assert proposed["postal"] == 0  # the postal code alone would not meet
    assert proposed["transposed"] == 1


def test_a_pair_with_a_wrong_postal_code_and_swapped_words_still_meets() -> None:
    right = replace(LEFT, id="1000", name="Kältetechnik Schmidt GmbH", postal_code="80999")
    assert (LEFT.id, right.id) in _met([LEFT], [right])


def test_blocking_never_proposes_all_pairs() -> None:
    left = [LEFT, *_elsewhere(40)]
    right = [
        replace(LEFT, id="1000"),
        *(replace(record, id=f"8{record.id}") for record in _elsewhere(40)),
    ]
    met = _met(left, right)
    assert (LEFT.id, "1000") in met
    assert len(met) < len(left) * len(right) / 10


def test_a_key_shared_by_too_many_pairs_is_not_used() -> None:
    left = [replace(LEFT, id=f"L{number}", name=f"Firma{number} AG") for number in range(30)]
    right = [replace(LEFT, id=f"R{number}", name=f"Firma{number} AG") for number in range(30)]
    one, other = side(left), side(right)
    assert candidates(one, other, max_block=400)[2]["postal"] == 0  # 30 x 30 > 400
    assert candidates(one, other, max_block=1000)[2]["postal"] == 900


# --- deciding ------------------------------------------------------------------------------------


def test_a_key_links_whichever_side_keeps_it_however_the_names_differ() -> None:
    sap = Record("1000042", "Completely Other Name AG", country="DE")
    from_salesforce = replace(LEFT, keys={"sap": "1000042"})
    result = link([from_salesforce], [sap])
    assert [(found.left, found.right, found.kind, found.score) for found in result.links] == [
        (LEFT.id, "1000042", "key", 1.0)
    ]
    from_sap = replace(sap, keys={"salesforce": LEFT.id})
    assert link([LEFT], [from_sap]).links == result.links
    assert result.counts["key_links"] == 1 and not result.reviews


def test_keys_that_disagree_go_to_review_and_link_nothing() -> None:
    sap_one = Record("1000042", "Schmidt Kältetechnik GmbH", keys={"salesforce": LEFT.id})
    sap_two = Record("1000043", "Schmidt Kaeltetechnik GmbH", keys={"salesforce": LEFT.id})
    result = link([LEFT], [sap_one, sap_two])
    assert result.links == []
    assert {(found.right, found.kind) for found in result.reviews} == {
        ("1000042", "conflict"),
        ("1000043", "conflict"),
    }
    assert all("keys disagree" in found.reason for found in result.reviews)


def test_a_fuzzy_pair_links_by_match_with_its_score() -> None:
    sap = Record(
        "1000042",
        "SCHMIDT KAELTETECHNIK Gesellschaft mbH",
        "Linden Weg 3",
        "80313",
        "Muenchen",
        "de",
    )
    result = link([LEFT], [sap])
    assert len(result.links) == 1
    found = result.links[0]
    assert (found.left, found.right, found.kind) == (LEFT.id, "1000042", "match")
    assert 0.9 <= found.score < 1


def test_two_candidates_above_auto_are_a_conflict_never_a_merge() -> None:
    twin = replace(LEFT, id="1000042")
    result = link([LEFT], [twin, replace(twin, id="1000043")])
    assert result.links == []
    assert [found.kind for found in result.reviews] == ["conflict", "conflict"]
    assert result.counts["review_conflict"] == 2


def test_a_record_already_carrying_an_identity_of_that_system_goes_to_review() -> None:
    carrying = replace(LEFT, identities={"sap": "1000001"})  # linked before, to a record not here
    result = link([carrying], [replace(LEFT, id="1000042")])
    assert result.links == []
    assert [(found.kind, found.right) for found in result.reviews] == [("conflict", "1000042")]
    assert "already carries sap 1000001" in result.reviews[0].reason


def test_a_link_already_carried_is_counted_not_made_again() -> None:
    carrying = replace(LEFT, identities={"sap": "1000042"})
    result = link([carrying], [replace(LEFT, id="1000042")])
    assert result.links == [] and result.reviews == []
    assert result.counts["already_linked"] == 1


def test_one_to_one_a_linked_record_is_not_linked_again() -> None:
    sap = replace(LEFT, id="1000042", keys={"salesforce": LEFT.id})
    near = replace(LEFT, id="1000043")  # the same data, but LEFT is linked by key
    result = link([LEFT], [sap, near])
    assert [(found.right, found.kind) for found in result.links] == [("1000042", "key")]
    assert result.reviews == []


def test_the_thresholds_decide_link_review_or_nothing() -> None:
    sap = Record("1000042", "Schmidt Kältetechnik GmbH", "Lindenweg 30", "80331", "München", "DE")
    score = link([LEFT], [sap], thresholds=Thresholds(auto=1.0, review=0.0)).reviews[0].score
    assert 0.75 < score < 0.9  # another house number
    assert link([LEFT], [sap]).reviews[0].reason == "score in the review band"
    linked = link([LEFT], [sap], thresholds=Thresholds(auto=score, review=0.5))
    assert [found.kind for found in linked.links] == ["match"]
    nothing = link([LEFT], [sap], thresholds=Thresholds(auto=0.99, review=score + 0.01))
    assert nothing.links == [] and nothing.reviews == []
    with pytest.raises(ValueError, match="review <= auto"):
        Thresholds(auto=0.7, review=0.8)


def test_customers_in_different_countries_do_not_link() -> None:
    abroad = replace(LEFT, id="1000042", country="AT")
    result = link([LEFT], [abroad])
    assert result.links == [] and result.reviews == []


# --- the issue's proof, at the engine's level ----------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_thousand_customers_a_side_link_as_the_issue_demands(seed: int) -> None:
    customers = generate(1000, key_pairs=300, fuzzy_pairs=300, seed=seed)
    result = link(customers.left, customers.right)
    truth = judge(result, customers)
    assert truth["key_linked"] == 300
    assert truth["fuzzy_linked"] >= 270
    assert truth["fuzzy_linked"] + truth["fuzzy_in_review"] == 300  # none missed
    assert truth["false_links"] == 0 and truth["singles_linked"] == 0
    assert truth["singles"] == 800 and truth["singles_in_review"] <= 40
    assert result.counts["candidate_pairs"] < 1000 * 1000 / 100  # never all pairs
    again = link(customers.left, customers.right)
    assert again == result  # the same records, the same answer (the timings aside)


def test_an_id_repeated_within_one_system_is_refused() -> None:
    with pytest.raises(ValueError, match=r"sap ids must be unique; repeated: \['1000042'\]"):
        link([LEFT], [replace(LEFT, id="1000042"), replace(LEFT, id="1000042", name="Other")])
