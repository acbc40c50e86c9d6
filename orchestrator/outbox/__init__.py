"""The outbox: what fieldbridge owes the remotes, kept in the database and delivered by a relay.

Closing a work order writes its rows in the same transaction (``events``); the relay
(``relay``) claims due rows with a lease, hands them to their destinations (``destinations``:
Salesforce, SAP; finance webhooks) and records each outcome: delivered, a stored next
attempt, or a dead letter with the remote's answer. Nothing is lost (a row exists once the
order is closed) and nothing is sent twice to effect (each remote turns a repeat of the row's
key into no second effect).
"""

from orchestrator.outbox.events import (
    CRM_CERTIFICATION,
    CRM_COMPLETED,
    ERP_BILLING,
    EVENTS,
    FINANCE_TRIGGER,
    enqueue_closed,
)
from orchestrator.outbox.relay import (
    ByEvent,
    Destination,
    Message,
    Outcome,
    Relay,
    RelayPolicy,
    RelayResult,
)

__all__ = [
    "CRM_CERTIFICATION",
    "CRM_COMPLETED",
    "ERP_BILLING",
    "EVENTS",
    "FINANCE_TRIGGER",
    "ByEvent",
    "Destination",
    "Message",
    "Outcome",
    "Relay",
    "RelayPolicy",
    "RelayResult",
    "enqueue_closed",
]
