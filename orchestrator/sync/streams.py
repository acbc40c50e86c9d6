"""Streams: what one inbound sync reads, declared; the engine owns the state (the cursor).

A stream names its system, its name (the cursor's ``entity``: ``customers``, ``contacts``,
``assets``, ``work_orders``), the sObject it queries, the fields it selects (the mapping's),
its optional filter, the canonical entities each record becomes (an Account: a customer,
then its site) and its order: (SystemModstamp, Id), the cursor's stamp and tie-breaker.
"""

from __future__ import annotations

from dataclasses import dataclass

from mappings.records import Entity
from mappings.salesforce import SYSTEM, SalesforceMapping

STREAM_NAMES: tuple[str, ...] = ("customers", "contacts", "assets", "work_orders")
"""In the order a run takes them: references point at streams run before."""


@dataclass(frozen=True)
class Stream:
    system: str
    name: str
    sobject: str
    fields: tuple[str, ...]
    entities: tuple[Entity, ...]
    condition: str | None = None
    stamp_field: str = "SystemModstamp"
    id_field: str = "Id"

    def where(self, where: str | None) -> str | None:
        """The stream's filter and ``where``, together (None: every record)."""
        conditions = [f"({c})" for c in (self.condition, where) if c]
        return " AND ".join(conditions) or None

    def soql(self, where: str | None) -> str:
        """The query: the fields, the stream's filter and ``where``, in the stream's order."""
        text = f"SELECT {', '.join(self.fields)} FROM {self.sobject}"
        condition = self.where(where)
        if condition:
            text += " WHERE " + condition
        return text + f" ORDER BY {self.stamp_field}, {self.id_field}"


def salesforce_streams(mapping: SalesforceMapping) -> dict[str, Stream]:
    """The Salesforce streams of ``mapping``, by name, in run order."""
    sobjects = {
        "customers": mapping.account.sobject,
        "contacts": mapping.contact.sobject,
        "assets": mapping.asset.sobject,
        "work_orders": mapping.work_order.sobject,
    }
    wanted: dict[str, tuple[Entity, ...]] = {
        "customers": ("customer", "site"),
        "contacts": ("contact",),
        "assets": ("asset",),
        "work_orders": ("work_order",),
    }
    return {
        name: Stream(
            system=SYSTEM,
            name=name,
            sobject=sobjects[name],
            fields=tuple(mapping.soql_fields(sobjects[name])),
            entities=tuple(e for e in mapping.entities(sobjects[name]) if e in wanted[name]),
            condition=mapping.soql_filter(sobjects[name]),
        )
        for name in STREAM_NAMES
    }
