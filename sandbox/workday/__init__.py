"""Workday on loopback: the Human_Resources service's ``Get_Workers`` (SOAP 1.1, WS-Security
UsernameToken) over real HTTPS, answered by zeep from the project's WSDL, with a seeded
workforce whose changes are kept by entry moment (as-of reads, the transaction log), a
ledger of requests and seeded faults. See ``WorkdaySimulator``."""

from sandbox.workday.faults import KINDS as FAULT_KINDS
from sandbox.workday.server import DEFAULT_WSDL_DIR, WorkdaySimulator
from sandbox.workday.workers import CATALOGUE, TECHNICIAN_ORGS, TECHNICIAN_PROFILE

__all__ = [
    "CATALOGUE",
    "DEFAULT_WSDL_DIR",
    "FAULT_KINDS",
    "TECHNICIAN_ORGS",
    "TECHNICIAN_PROFILE",
    "WorkdaySimulator",
]
