"""A finance system on loopback: a subscriber receiving fieldbridge's billing webhooks
(``POST /webhooks/billing``, Standard Webhooks signatures checked as the spec says, by a
verifier of its own: ``sandbox.finance.verify``) over real HTTPS, with a ledger of
requests, the events received one per webhook-id, and seeded faults. See
``FinanceSimulator``."""

from sandbox.finance.faults import KINDS as FAULT_KINDS
from sandbox.finance.server import FinanceSimulator

__all__ = ["FAULT_KINDS", "FinanceSimulator"]
