"""The remotes the relay delivers to, each formatting the outbox's facts for its remote and
batching as the remote allows; every refusal is an ``Outcome`` in the connectors' vocabulary
(``Permanent`` for a dead letter), never an exception for one row.

- ``SalesforceJobs``: ``crm.work_order_completed`` as WorkOrder upserts by external id (an
  order raised in Salesforce: an update by its record id), in sObject Collections of 200,
  then its parts as ProductConsumed upserts (one per order and part code, the quantity every
  use of the part added up).
- ``SalesforceSkills``: ``crm.certification_updated`` as ServiceResource, Skill and
  ServiceResourceSkill upserts.
- ``SAPBilling``: ``erp.billing_request`` as one ManageCustomerInvoiceRequestIn message per
  trigger, an item per line: the labour, each part (the payload read as a ``BillingTrigger``
  and mapped by ``mappings.sap.billing``),
  its ``BusinessDocumentBasicMessageHeader/UUID`` the row's derived UUID, the work order's
  tracking code its own reference (so a lost answer can be looked up).
- ``FinanceWebhooks``: ``finance.billing_trigger`` as a Standard Webhooks delivery to its
  subscription (the URL and secret it has now), the row's key as the ``webhook-id``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from sqlalchemy import select

from connectors.base import Connector
from connectors.errors import Permanent
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.client import UpsertResult
from connectors.sap import BillingItem, BillingRequest, SAPConnector
from connectors.webhooks import WebhookConnector
from mappings.canonical import Certification, CompletedJob, TechnicianCertification
from mappings.errors import MappingError
from mappings.salesforce import SalesforceMapping
from mappings.salesforce.outbound import (
    Upsert,
    certification_to_skills,
    products_consumed_to_salesforce,
    work_order_to_salesforce,
)
from mappings.sap.billing import (
    DEFAULT_LABOUR_PRODUCT,
    InvoiceRequest,
    invoice_request,
    read_trigger,
)
from orchestrator.outbox.relay import Message, Outcome
from orchestrator.store import models
from orchestrator.store.uow import UnitOfWork

_SUBSCRIPTIONS = models.table_of(models.WebhookSubscription)

__all__ = ["FinanceWebhooks", "SAPBilling", "SalesforceJobs", "SalesforceSkills", "upsert_all"]


C = TypeVar("C", bound=Connector[Any])


class _Each(Generic[C]):
    """One call per message, ``workers`` at a time (different orders in parallel: a batch
    holds at most one row per order and destination), each worker thread with a connector
    of its own (connectors are not thread-safe): ``connect`` makes them, or the one
    connector given serves one worker."""

    def __init__(self, connect: C | Callable[[], C], workers: int) -> None:
        if isinstance(connect, Connector):
            one = connect
            self.connect: Callable[[], C] = lambda: one
            workers = 1
        else:
            self.connect = connect
        self.workers = max(1, workers)
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None

    def connector(self) -> C:
        found: C | None = getattr(self._local, "connector", None)
        if found is None:
            found = self._local.connector = self.connect()
        return found

    def map(
        self, send: Callable[[C, Message], Outcome], messages: Sequence[Message]
    ) -> list[Outcome]:
        if self.workers == 1 or len(messages) < 2:
            return [send(self.connector(), m) for m in messages]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="outbox")
        return list(self._pool.map(lambda m: send(self.connector(), m), messages))


def _failed(exc: Exception, system: str) -> Outcome:
    """A refusal of ours (a request that cannot be made) is permanent; the connectors'
    vocabulary says for itself whether to try again."""
    if isinstance(exc, ValueError | KeyError):
        return Outcome(error=Permanent(system, str(exc)))
    return Outcome(error=exc)


class SAPBilling:
    """Billing requests into SAP, one message per trigger: the labour as hours of
    ``labour_product`` (SAP's service product) and each part as its SAP material, quantity
    and unit, the buyer the order's SAP customer (``mappings.sap.billing``). ``sap`` is a
    connector, or a factory of them for ``workers`` threads. A payload that is not a billing
    trigger, one SAP has no buyer for, or one with a part SAP has no material for, is a dead
    letter naming the field (and the part): nothing of it is sent."""

    def __init__(
        self,
        sap: SAPConnector | Callable[[], SAPConnector],
        *,
        workers: int = 1,
        labour_product: str = DEFAULT_LABOUR_PRODUCT,
        currency: str | None = None,
    ) -> None:
        self.each = _Each(sap, workers)
        self.labour_product, self.currency = labour_product, currency

    def request(self, message: Message) -> BillingRequest:
        """The row's billing request: its payload read as a ``BillingTrigger``, mapped, and
        handed to the connector's type (which checks SAP's limits: ``ValueError``).
        ``MappingError`` when the payload is not a trigger, SAP has no buyer for it or a
        part no material."""
        trigger = read_trigger(message.payload)
        mapped = invoice_request(
            trigger, labour_product=self.labour_product, currency=self.currency
        )
        return _billing_request(mapped)

    def deliver(self, messages: Sequence[Message]) -> list[Outcome]:
        return self.each.map(self._send, messages)

    def _send(self, sap: SAPConnector, message: Message) -> Outcome:
        try:
            result = sap.request_billing(self.request(message))
        except MappingError as exc:
            return Outcome(error=Permanent("sap", f"{message.key}: {exc}"))
        except Exception as exc:  # the connectors' vocabulary: retried or dead by kind
            return _failed(exc, "sap")
        return Outcome(remote_id=result.uuid)


def _billing_request(mapped: InvoiceRequest) -> BillingRequest:
    """The connector's request for the mapping's: the same fields, line by line (the mapping
    and the connector do not know each other's types)."""
    items = tuple(
        BillingItem(line.product_id, line.description, line.quantity, line.unit)
        for line in mapped.items
    )
    return BillingRequest(
        message_uuid=mapped.message_uuid,
        document_id=mapped.document_id,
        buyer_id=mapped.buyer_id,
        name=mapped.name,
        items=items,
        currency=mapped.currency,
    )


class SalesforceJobs:
    """Completed jobs into Salesforce: the WorkOrders in sObject Collections (200 a call),
    by external id or, for an order raised in Salesforce, by record id; then the parts of the
    jobs whose WorkOrder landed. ``workorder_calls`` and ``part_calls`` count the calls."""

    def __init__(self, sf: SalesforceConnector, mapping: SalesforceMapping) -> None:
        self.sf, self.mapping = sf, mapping
        self.workorder_calls = 0
        self.part_calls = 0

    def deliver(self, messages: Sequence[Message]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(messages)
        jobs: dict[int, tuple[CompletedJob, Upsert]] = {}
        for index, message in enumerate(messages):
            try:
                job = CompletedJob.model_validate(message.payload)
                jobs[index] = (job, work_order_to_salesforce(self.mapping, job))
            except (ValidationError, MappingError) as exc:
                outcomes[index] = Outcome(error=Permanent("salesforce", f"{message.key}: {exc}"))
        by_key: dict[str, list[int]] = {}
        for index, (_, upsert) in jobs.items():
            by_key.setdefault(upsert.key_field, []).append(index)
        for key_field, indexes in by_key.items():
            self._write(messages, outcomes, indexes, key_field, jobs)
        parts = [
            (n, upsert)
            for n, (job, _) in jobs.items()
            if (done := outcomes[n]) is not None and done.delivered
            for upsert in products_consumed_to_salesforce(self.mapping, job)
        ]
        if parts:
            self._parts(outcomes, parts)
        return [o if o is not None else Outcome(error=RuntimeError("not sent")) for o in outcomes]

    def _write(
        self,
        messages: Sequence[Message],
        outcomes: list[Outcome | None],
        indexes: list[int],
        key_field: str,
        jobs: dict[int, tuple[CompletedJob, Upsert]],
    ) -> None:
        sobject = self.mapping.work_order.sobject
        records = [dict(jobs[n][1].record) for n in indexes]
        before = self.sf.api_calls
        try:
            if key_field == "Id":
                results = self.sf.update_many(sobject, records)
            else:
                results = self.sf.upsert_many(sobject, key_field, records)
        except Exception as exc:  # the whole call failed after its retries
            for index in indexes:
                outcomes[index] = Outcome(error=exc)
            return
        finally:
            self.workorder_calls += self.sf.api_calls - before
        for index, result in zip(indexes, results, strict=True):
            if result.success:
                outcomes[index] = Outcome(remote_id=result.id)
            else:
                error = result.error or Permanent("salesforce", f"{messages[index].key} refused")
                outcomes[index] = Outcome(error=error)

    def _parts(self, outcomes: list[Outcome | None], parts: list[tuple[int, Upsert]]) -> None:
        before = self.sf.api_calls
        try:
            results = upsert_all(self.sf, [u for _, u in parts])
        except Exception as exc:  # the whole call failed
            for index, _ in parts:
                outcomes[index] = Outcome(error=exc)
            return
        finally:
            self.part_calls += self.sf.api_calls - before
        for (index, _), result in zip(parts, results, strict=True):
            if not result.success:
                outcomes[index] = Outcome(error=result.error or Permanent("salesforce", "refused"))


NOT_UPDATEABLE = "INVALID_FIELD_FOR_INSERT_UPDATE"


def upsert_all(sf: SalesforceConnector, upserts: Sequence[Upsert]) -> list[UpsertResult]:
    """Upserts of one sObject by external id in Collections of 200, one result each. A
    record that exists already refuses the fields Salesforce takes on create only (a
    detail's parent, a holding's two ends): those are sent again without them."""
    if not upserts:
        return []
    first = upserts[0]
    results = sf.upsert_many(first.sobject, first.key_field, [dict(u.record) for u in upserts])
    again = [
        n
        for n, (u, r) in enumerate(zip(upserts, results, strict=True))
        if not r.success and u.create_only and any(e.get("statusCode") == NOT_UPDATEABLE
                                                   for e in r.errors)
    ]  # fmt: skip
    if again:
        updates = [
            {k: v for k, v in upserts[n].record.items() if k not in upserts[n].create_only}
            for n in again
        ]
        for index, result in zip(again, sf.upsert_many(first.sobject, first.key_field, updates),
                             strict=True):  # fmt: skip
            results[index] = result
    return results


class SalesforceSkills:
    """Certification pushes: each as its technician's ServiceResource, the certification's
    Skill and the ServiceResourceSkill between them (``certification_to_skills``: effective
    to the end of the expiry day in the technician's zone; ended at the change when it no
    longer counts), object by object in Collections; a resource or skill several pushes
    name is written once. ``calls`` counts the calls."""

    def __init__(self, sf: SalesforceConnector, mapping: SalesforceMapping) -> None:
        self.sf, self.mapping = sf, mapping
        self.calls = 0

    def plan(self, message: Message) -> list[Upsert]:
        payload = message.payload
        held = TechnicianCertification(
            technician_key=payload["technician_key"],
            certification=Certification.model_validate(payload["certification"]),
        )
        return certification_to_skills(
            self.mapping,
            held,
            resource_name=payload["resource_name"],
            time_zone=payload["time_zone"],
            counts=bool(payload["counts"]),
            now=datetime.fromisoformat(payload["changed_at"]),
        )

    def deliver(self, messages: Sequence[Message]) -> list[Outcome]:
        settled: dict[int, Outcome] = {}
        plans: dict[int, list[Upsert]] = {}
        for index, message in enumerate(messages):
            try:
                plans[index] = self.plan(message)
            except (ValidationError, MappingError, KeyError, ValueError, TypeError) as exc:
                settled[index] = Outcome(error=Permanent("salesforce", f"{message.key}: {exc}"))
        for stage in range(3):  # resources, skills, then the holdings that name both
            todo = {n: plan[stage] for n, plan in plans.items() if n not in settled}
            distinct = list({u.key: u for u in todo.values()}.values())
            if not distinct:
                continue
            before = self.sf.api_calls
            try:
                results = dict(
                    zip((u.key for u in distinct), upsert_all(self.sf, distinct), strict=True)
                )
            except Exception as exc:  # the whole call failed
                settled |= {n: Outcome(error=exc) for n in todo}
                continue
            finally:
                self.calls += self.sf.api_calls - before
            for index, upsert in todo.items():
                result = results[upsert.key]
                if not result.success:
                    error = result.error or Permanent("salesforce", f"{upsert.sobject} refused")
                    settled[index] = Outcome(error=error)
                elif stage == 2:
                    settled[index] = Outcome(remote_id=result.id)
        return [settled[n] for n in range(len(messages))]


class FinanceWebhooks:
    """Billing triggers to finance subscribers, each signed with its subscription's secret;
    a subscription removed since the order closed makes a dead letter that says so."""

    def __init__(
        self,
        webhooks: WebhookConnector | Callable[[], WebhookConnector],
        new_uow: Callable[[], UnitOfWork],
        *,
        workers: int = 1,
    ) -> None:
        self.each, self.new_uow = _Each(webhooks, workers), new_uow

    def deliver(self, messages: Sequence[Message]) -> list[Outcome]:
        wanted = {m.payload.get("subscription_id") for m in messages}
        with self.new_uow() as uow:
            found = uow.connection().execute(
                select(_SUBSCRIPTIONS.c.id, _SUBSCRIPTIONS.c.url, _SUBSCRIPTIONS.c.secret).where(
                    _SUBSCRIPTIONS.c.id.in_([w for w in wanted if isinstance(w, int)])
                    & _SUBSCRIPTIONS.c.active
                )
            )
            subscriptions = {row.id: row for row in found}

        def send(webhooks: WebhookConnector, message: Message) -> Outcome:
            subscription = subscriptions.get(message.payload.get("subscription_id"))
            if subscription is None:
                why = f"subscription {message.payload.get('subscription_id')} is no longer active"
                return Outcome(error=Permanent("webhooks", why))
            try:
                result = webhooks.deliver(
                    subscription.url, subscription.secret, message.key, message.payload
                )
            except Exception as exc:  # the connectors' vocabulary: retried or dead by kind
                return _failed(exc, "webhooks")
            return Outcome(remote_id=str(result.status))

        return self.each.map(send, messages)
