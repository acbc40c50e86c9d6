"""The op log of technicians' devices (``POST /api/v1/me/ops``)."""

from __future__ import annotations

from orchestrator.store.uow import UnitOfWork


def attachment_arrived(uow: UnitOfWork, work_order_id: int) -> None:
    """An attachment with a client id was added to the order, in ``uow``'s transaction (not
    yet committed): the completion ops of that order still waiting for attachments are
    tried again, and those now complete apply, in the same transaction."""
    # being written in this session (the ops engine); callers call it already
    return None
