"""The HR system on loopback: the record of technicians and their certifications, served as
a change feed (``GET /v1/certifications``, bearer token, cursor paging) over real HTTPS,
with a seeded realistic data set, a ledger of requests and seeded faults. See
``HRSimulator``."""

from sandbox.hr.faults import KINDS as FAULT_KINDS
from sandbox.hr.feed import CATALOGUE, MALFORMED_KINDS, Certification
from sandbox.hr.server import HRSimulator, Touched

__all__ = ["CATALOGUE", "FAULT_KINDS", "MALFORMED_KINDS", "Certification", "HRSimulator", "Touched"]
