"""``SalesforceMapping``: an org's mapping (``SalesforceConfig``) with what reads and checks
with it bound to it.

The sync engine takes one object per system that maps a raw record (``InboundMap``:
``to_canonical`` and ``remote_field``), and the work-order intake reads its Salesforce
sections from that same object, so the configuration and the reading are one class. It is
made here, above its parts, so that ``config`` imports none of its siblings: ``inbound`` and
``describe`` import ``config``, and this module imports all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mappings.records import Entity, Mapped
from mappings.salesforce import describe, inbound
from mappings.salesforce.config import SalesforceConfig

__all__ = ["SalesforceMapping"]


class SalesforceMapping(SalesforceConfig):
    """The whole mapping for one org. ``SalesforceMapping()`` is the standard org's;
    ``SalesforceMapping.load(path)`` reads a TOML or JSON file."""

    def to_canonical(self, entity: Entity, raw: Mapping[str, Any]) -> Mapped[Any]:
        """``inbound.to_canonical`` with this mapping (``InboundMap``)."""
        return inbound.to_canonical(self, entity, raw)

    def validate_against(self, describes: Mapping[str, Mapping[str, Any]]) -> None:
        """Refuse, with every misfit named (``Object.Field: reason``), a mapping that names a
        field, record type or picklist value the org's describes lack (``describe.check``)."""
        describe.check(self, describes)
