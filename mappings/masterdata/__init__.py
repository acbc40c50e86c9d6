"""Master data: which customer of one system is which customer of another.

A pure linking engine (no store, no I/O): ``link`` takes two systems' customer records and
returns links (by key: a field one system keeps of the other's id; by match: normalised name
and address scored with rapidfuzz), pairs for a person to review, and counts. ``normalise``
spells names and addresses one way, ``blocking`` finds the pairs worth scoring (several keys,
never all pairs), ``scoring`` scores them, ``linking`` decides.
"""

from mappings.masterdata.linking import Link, Linkage, Record, Review, Thresholds, link
from mappings.masterdata.scoring import Weights

__all__ = ["Link", "Linkage", "Record", "Review", "Thresholds", "Weights", "link"]
