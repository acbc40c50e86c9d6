"""The HR system's mapping: its certification feed -> the certifications technicians hold
(``certifications``: ``HRMapping``, the feed's record ``FeedRecord``)."""

from mappings.hr.certifications import SYSTEM, HRMapping

__all__ = ["SYSTEM", "HRMapping"]
