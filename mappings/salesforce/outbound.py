"""Salesforce records out: a completed job's WorkOrder and ProductConsumed, certifications.

Each function builds the raw record of one upsert by external id, so a write sent twice
(a retry, a replay after a crash) changes nothing the second time. The keys are ours and
deterministic: the order's key; ``<order key>:<part code>`` for a part; ``<technician
key>:<certification code>`` for a certification (a key longer than the external-id field,
``key_length``, is shortened to its head and a digest of the whole: ``fit_key``). Free text
longer than its field (``subject_length``, ``notes_length``, ``name_length``) is cut and ends
in an ellipsis rather than refused by the org. Only the remote record carries personal
data (a technician appears by key); the ``Upsert`` around it holds names of fields and keys.

An order raised in Salesforce has no value in the external-id field there, so its write
goes by its record id (``key_field`` ``Id``: an update, which the Salesforce REST API does
not do as an upsert) and stamps our key into the external-id field; its parts name it by
record id too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mappings.canonical import CompletedJob, TechnicianCertification
from mappings.errors import MappingError
from mappings.salesforce.config import SYSTEM, Lookup, SalesforceConfig, relationship_name
from mappings.salesforce.values import id18


@dataclass(frozen=True)
class Upsert:
    """One write to ``sobject``: create or update the record whose ``key_field`` is ``key``.

    ``record`` is the body with ``key_field`` in it (a single upsert takes it out of the body;
    an sObject Collections upsert needs it in each record). ``create_only`` names keys of
    ``record`` Salesforce accepts on create and refuses on update (a detail's parent): a write
    that updates an existing record leaves them out.
    """

    sobject: str
    key_field: str
    key: str
    record: Mapping[str, Any]
    create_only: frozenset[str] = frozenset()

    def as_json(self) -> dict[str, Any]:
        return {
            "sobject": self.sobject,
            "key_field": self.key_field,
            "key": self.key,
            "record": dict(self.record),
            "create_only": sorted(self.create_only),
        }


def fit_text(value: str, length: int) -> str:
    """``value`` cut to ``length`` characters, ending in an ellipsis when it was cut."""
    return value if len(value) <= length else value[: length - 1].rstrip() + "…"


def fit_key(key: str, length: int) -> str:
    """``key`` as it fits an external-id field of ``length`` characters: as it is, or its head
    and a digest of the whole (the same key always gives the same value, two keys never one)."""
    if len(key) <= length:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: length - 17]}~{digest}"


def sf_datetime(value: datetime) -> str:
    """A Salesforce dateTime: UTC, milliseconds, ``Z``."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def sf_date(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def work_order_to_salesforce(mapping: SalesforceConfig, job: CompletedJob) -> Upsert:
    """The WorkOrder write for a job: status through the explicit table, actual start and
    end, labour minutes, visits, first-time fix, technician (by key), notes. Optional details
    the job lacks are left out, never written as null (an order raised in Salesforce keeps
    what its users set there)."""
    work_order = mapping.work_order
    record: dict[str, Any] = {}
    if job.remote_id is not None:
        key_field, key = "Id", _remote_id(work_order.sobject, "Id", job.key, job.remote_id)
        record["Id"] = key
        record[work_order.external_id_field] = job.key
    else:
        key_field, key = work_order.external_id_field, job.key
        record[key_field] = key
    if job.summary is not None:
        record[work_order.subject] = fit_text(job.summary, work_order.subject_length)
    if work_order.account and job.customer_remote_id is not None:
        record[work_order.account] = _remote_id(
            work_order.sobject, work_order.account, job.key, job.customer_remote_id
        )
    if work_order.asset and job.asset_remote_id is not None:
        record[work_order.asset] = _remote_id(
            work_order.sobject, work_order.asset, job.key, job.asset_remote_id
        )
    record[work_order.status] = work_order.status_out[
        job.state
    ]  # total: the table covers every state
    if work_order.priority and job.priority is not None:
        record[work_order.priority] = work_order.priority_out[job.priority]
    if work_order.actual_start and job.actual_start is not None:
        record[work_order.actual_start] = sf_datetime(job.actual_start)
    if work_order.actual_end and job.actual_end is not None:
        record[work_order.actual_end] = sf_datetime(job.actual_end)
    if work_order.labour_minutes:
        record[work_order.labour_minutes] = job.labour_minutes
    if work_order.visits:
        record[work_order.visits] = job.visits
    if work_order.first_time_fix:
        record[work_order.first_time_fix] = job.first_time_fix
    if work_order.technician and job.technician_key is not None:
        _put_ref(record, work_order.technician, job.technician_key)
    if work_order.notes and job.notes is not None:
        record[work_order.notes] = fit_text(job.notes, work_order.notes_length)
    return Upsert(work_order.sobject, key_field, key, record)


def products_consumed_to_salesforce(mapping: SalesforceConfig, job: CompletedJob) -> list[Upsert]:
    """One ProductConsumed per part, keyed ``<order key>:<part code>``; send them after the
    job's WorkOrder write (they name it)."""
    product, work_order = mapping.product_consumed, mapping.work_order
    out = []
    for part in job.parts:
        key = fit_key(f"{job.key}:{part.code}", product.key_length)
        record: dict[str, Any] = {product.external_id_field: key}
        if job.remote_id is not None:
            parent = product.work_order
            record[parent] = _remote_id(work_order.sobject, "Id", job.key, job.remote_id)
        else:
            parent = relationship_name(product.work_order)
            record[parent] = {work_order.external_id_field: job.key}
        record[product.product.relationship] = {product.product.by: part.code}
        record[product.quantity] = part.quantity
        out.append(
            Upsert(product.sobject, product.external_id_field, key, record, frozenset({parent}))
        )
    return out


def certification_to_salesforce(mapping: SalesforceConfig, held: TechnicianCertification) -> Upsert:
    """A technician's certification, one record per technician and code (a renewal updates
    it). Every mapped field is written, null included: the record mirrors ours."""
    section, cert = mapping.certification, held.certification
    key = fit_key(held.key, section.key_length)
    record: dict[str, Any] = {section.external_id_field: key}
    _put_ref(record, section.technician, held.technician_key)
    record[section.name] = fit_text(cert.name or cert.code, section.name_length)
    record[section.code] = cert.code
    if section.issuer:
        record[section.issuer] = cert.issuer
    if section.number:
        record[section.number] = cert.number
    if section.issued_on:
        record[section.issued_on] = sf_date(cert.issued_on)
    if section.expires_on:
        record[section.expires_on] = sf_date(cert.expires_on)
    return Upsert(section.sobject, section.external_id_field, key, record)


# A certification with no issue date counts from this day (a write must be the same each time).
EARLIEST = date(2000, 1, 1)


def certification_to_skills(
    mapping: SalesforceConfig,
    held: TechnicianCertification,
    *,
    resource_name: str,
    time_zone: str,
    counts: bool = True,
    now: datetime | None = None,
) -> list[Upsert]:
    """Three writes, in this order: the technician's ServiceResource (by technician key),
    the certification's Skill (by code) and the ServiceResourceSkill between them (by
    ``<technician key>|<code>``), effective from the start of the issue day to the end of the
    expiry day in the technician's ``time_zone`` (the expiry day counts), open-ended when it
    never expires. One that no longer counts (revoked, suspended, gone from the HR system)
    ends ``now``. ``resource_name`` is the technician's name: the only personal datum, and
    only in the remote record."""
    sk, cert = mapping.skills, held.certification
    zone = ZoneInfo(time_zone)
    resource_key = fit_key(held.technician_key, sk.key_length)
    skill_key = fit_key(cert.code, sk.key_length)
    holding_key = fit_key(f"{held.technician_key}|{cert.code}", sk.key_length)
    resource: dict[str, Any] = {
        sk.external_id_field: resource_key,
        sk.resource_name: fit_text(resource_name, 80),
    }
    if sk.resource_active:
        resource[sk.resource_active] = True
    skill: dict[str, Any] = {
        sk.external_id_field: skill_key,
        sk.skill_label: fit_text(cert.name or cert.code, sk.label_length),
    }
    if sk.skill_name:
        skill[sk.skill_name] = developer_name(cert.code)
    start = _local_midnight(cert.issued_on or EARLIEST, zone)
    if not counts:
        if now is None:
            raise ValueError("a certification that no longer counts ends now: give now")
        end: datetime | None = max(now, start)
    elif cert.expires_on is not None:
        end = _local_midnight(cert.expires_on + timedelta(days=1), zone)
    else:
        end = None
    holding_resource = relationship_name(sk.holding_resource)
    holding_skill = relationship_name(sk.holding_skill)
    holding: dict[str, Any] = {
        sk.external_id_field: holding_key,
        holding_resource: {sk.external_id_field: resource_key},
        holding_skill: {sk.external_id_field: skill_key},
        sk.start: sf_datetime(start),
        sk.end: None if end is None else sf_datetime(end),
    }
    return [
        Upsert(sk.resource, sk.external_id_field, resource_key, resource),
        Upsert(sk.skill, sk.external_id_field, skill_key, skill),
        Upsert(
            sk.holding,
            sk.external_id_field,
            holding_key,
            holding,
            frozenset({holding_resource, holding_skill}),
        ),
    ]


def developer_name(code: str) -> str:
    """A Skill's API name from a certification code: letters, digits and single underscores,
    starting with a letter (``F-GAS 1`` -> ``F_GAS_1``, ``18ED`` -> ``C_18ED``)."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", code).strip("_")
    if not name or not name[0].isalpha():
        name = f"C_{name}"
    return name[:80].rstrip("_")


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _put_ref(record: dict[str, Any], ref: str | Lookup, key: str) -> None:
    if isinstance(ref, Lookup):
        record[ref.relationship] = {ref.by: key}
    else:
        record[ref] = key


def _remote_id(sobject: str, field: str, job_key: str, value: str) -> str:
    normalised = id18(value)
    if normalised is None:
        raise MappingError(
            SYSTEM, "work_order", job_key, f"{sobject}.{field}", "not a Salesforce record id"
        )
    return normalised
