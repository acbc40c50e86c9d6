"""Workday's mapping: workers -> technicians' identity, employment and certifications
(``workers``), the technicians Workday owns (``technicians``), and their certifications as
held certifications (``certifications``)."""

from mappings.workday.certifications import WorkdayMapping, certification_records
from mappings.workday.technicians import WorkdayTechnician, technician_records
from mappings.workday.workers import (
    OFFICE_OWNS,
    SYSTEM,
    WORKDAY_OWNS,
    Employment,
    TechnicianFilter,
    worker_id,
)

__all__ = [
    "OFFICE_OWNS",
    "SYSTEM",
    "WORKDAY_OWNS",
    "Employment",
    "TechnicianFilter",
    "WorkdayMapping",
    "WorkdayTechnician",
    "certification_records",
    "technician_records",
    "worker_id",
]
