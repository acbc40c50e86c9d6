"""Salesforce <-> canonical: the mapping as configuration, checked against the org at start-up.

- ``SalesforceMapping`` (``mapping``): objects, field names, record types, status and priority
  tables, lookups (``SalesforceMapping()`` is a standard org's; ``SalesforceMapping.load(path)``
  reads TOML or JSON); ``validate_against(describes)``, ``soql_fields(sobject)`` (what a
  stream selects), ``record_types(sobject)`` (what it filters on). Its configuration is
  ``SalesforceConfig`` (``config``), which imports none of the modules below.
- ``to_canonical(mapping, entity, raw)`` (``inbound``): one raw record in, as ``Mapped``.
- ``work_order_to_salesforce``, ``products_consumed_to_salesforce``,
  ``certification_to_salesforce``, ``certification_to_skills`` (Field Service
  ServiceResource, Skill, ServiceResourceSkill; ``outbound``): the write-back, as
  ``Upsert``s by external id.
- ``package.files(mapping, api_version)``: the org-ready Salesforce DX package, exactly the
  custom fields and objects the mapping needs (``describe.demand``, recorded) and a
  permission set for the integration user.
"""

from mappings.salesforce.config import (
    DEFAULT_EXTERNAL_ID,
    ENTITIES,
    RECORD_TYPE,
    SYSTEM,
    AccountMap,
    AssetMap,
    CertificationMap,
    ContactMap,
    Lookup,
    ProductConsumedMap,
    SalesforceConfig,
    SkillsMap,
    WorkOrderMap,
)
from mappings.salesforce.inbound import to_canonical
from mappings.salesforce.mapping import SalesforceMapping
from mappings.salesforce.outbound import (
    Upsert,
    certification_to_salesforce,
    certification_to_skills,
    products_consumed_to_salesforce,
    work_order_to_salesforce,
)

__all__ = [
    "DEFAULT_EXTERNAL_ID",
    "ENTITIES",
    "RECORD_TYPE",
    "SYSTEM",
    "AccountMap",
    "AssetMap",
    "CertificationMap",
    "ContactMap",
    "Lookup",
    "ProductConsumedMap",
    "SalesforceConfig",
    "SalesforceMapping",
    "SkillsMap",
    "Upsert",
    "WorkOrderMap",
    "certification_to_salesforce",
    "certification_to_skills",
    "products_consumed_to_salesforce",
    "to_canonical",
    "work_order_to_salesforce",
]
