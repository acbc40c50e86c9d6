"""Workday's mapping: a worker's identity, whether they are a technician, what Workday says of
their employment, and their certifications as held certifications (workers in the shape the
simulator serializes, the connector's ``plain`` data)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from mappings.errors import MappingError
from mappings.workday import (
    OFFICE_OWNS,
    WORKDAY_OWNS,
    Employment,
    TechnicianFilter,
    WorkdayMapping,
    certification_records,
    technician_records,
    worker_id,
)
from sandbox.workday.workers import Workers

AS_OF = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


def workforce() -> Workers:
    register = Workers(seed=2, clock=lambda: AS_OF)
    register.seed(20, 10)
    return register


def a_technician(register: Workers) -> dict[str, Any]:
    worker = register.get(sorted(register.technicians)[0])
    assert worker is not None
    return worker


def test_identity_is_the_employee_or_contingent_worker_id() -> None:
    register = workforce()
    employee = a_technician(register)
    assert worker_id(employee) == employee["Worker_Data"]["Worker_ID"]
    contingent = register.get("C30009")
    assert contingent is not None and worker_id(contingent) == "C30009"
    bare = {"Worker_Reference": {"ID": [{"_value_1": "abc", "type": "WID"}]}}
    assert worker_id(bare) is None


def test_the_technician_filter_by_organization_job_profile_or_field() -> None:
    register = workforce()
    everyone = list(register.as_of(None).values())
    technicians = {k for k, w in register.as_of(None).items() if k in register.technicians}
    by_org = TechnicianFilter.from_json('{"organizations": ["SUP_FIELD_NORTH", "SUP_FIELD_SOUTH"]}')
    by_profile = TechnicianFilter.from_json('{"job_profiles": ["FIELD_SERVICE_TECH"]}')
    by_field = TechnicianFilter.from_json(
        '{"field": "Worker_Data/Employment_Data/Worker_Job_Data/Position_Data/Business_Title",'
        ' "value": "Field Service Technician"}'
    )
    for chosen in (by_org, by_profile, by_field):
        assert {worker_id(w) for w in everyone if chosen.matches(w)} == technicians
    assert all(TechnicianFilter.from_json(None).matches(w) for w in everyone)
    with pytest.raises(ValueError, match="not a technician filter"):
        TechnicianFilter.from_json('{"field": "Worker_Data/Worker_ID"}')
    with pytest.raises(ValueError, match="not a technician filter"):
        TechnicianFilter.from_json('{"org": ["X"]}')


def test_employment_termination_and_leave() -> None:
    register = workforce()
    worker = a_technician(register)
    key = str(worker_id(worker))
    facts = Employment.of(worker)
    first = worker["Worker_Data"]["Personal_Data"]["Name_Data"]["Legal_Name_Data"]
    assert facts.name == first["Name_Detail_Data"]["Formatted_Name"]
    assert facts.email is not None and facts.email.endswith("@example.co.uk")  # work, not home
    assert facts.phone is not None and facts.phone.startswith("+44 7700")
    assert facts.active and facts.dispatchable_on(date(2026, 12, 8))

    register.terminate(key, date(2026, 12, 20))  # future-dated: dispatchable until then
    later = Employment.of(register.get(key) or {})
    assert later.active and later.terminated_on == date(2026, 12, 20)
    assert later.dispatchable_on(date(2026, 12, 19))
    assert not later.dispatchable_on(date(2026, 12, 20))

    register.terminate(key, date(2026, 12, 1))  # effective already: inactive
    assert not Employment.of(register.get(key) or {}).active

    other = sorted(register.technicians)[1]
    register.leave(other, date(2026, 12, 10), date(2026, 12, 14))
    away = Employment.of(register.get(other) or {})
    assert away.dispatchable_on(date(2026, 12, 9)) and away.dispatchable_on(date(2026, 12, 15))
    assert not away.dispatchable_on(date(2026, 12, 10))
    assert not away.dispatchable_on(date(2026, 12, 14))
    assert {"name", "email", "phone", "active", "certifications"} == WORKDAY_OWNS
    assert not WORKDAY_OWNS & OFFICE_OWNS


def test_certifications_become_held_certifications_of_the_workday_technician() -> None:
    worker = a_technician(workforce())
    key = worker_id(worker)
    records = certification_records(worker, AS_OF)
    achievements = worker["Worker_Data"]["Qualification_Data"]["Certification"]
    assert len(records) == len(achievements) >= 1
    mapping = WorkdayMapping()
    for record, achievement in zip(records, achievements, strict=True):
        data = achievement["Certification_Data"][0]
        code = data["Certification_Reference"]["ID"][0]["_value_1"]
        mapped = mapping.to_canonical("certification", record)
        assert mapped.external_id == f"{key}|{code}" and mapped.stamp == AS_OF
        assert mapped.refs["technician_id"].system == "workday"
        assert mapped.refs["technician_id"].external_id == key
        assert mapped.data == {
            "source_system": "workday", "external_id": f"{key}|{code}", "code": code,
            "name": data["Certification_Name"], "issuer": data["Issuer"],
            "number": data["Certification_Number"], "issued_on": data["Issued_Date"],
            "expires_on": data["Expiration_Date"], "status": "active",
        }  # fmt: skip


def test_a_certification_that_cannot_be_read_names_the_workday_field() -> None:
    (record, *_) = certification_records(a_technician(workforce()), AS_OF)
    mapping = WorkdayMapping()
    backwards = copy.deepcopy(record)
    backwards["Certification_Data"]["Expiration_Date"] = "2020-01-01"
    with pytest.raises(MappingError) as caught:
        mapping.to_canonical("certification", backwards)
    assert caught.value.field == "Certification_Data.Expiration_Date"
    nameless = copy.deepcopy(record)
    nameless["Certification_Data"]["Certification_Reference"] = {"ID": []}
    with pytest.raises(MappingError, match="no Certification_ID"):
        mapping.to_canonical("certification", nameless)
    bad_date = copy.deepcopy(record)
    bad_date["Certification_Data"]["Issued_Date"] = "soon"
    with pytest.raises(MappingError) as caught:
        mapping.to_canonical("certification", bad_date)
    assert caught.value.field == "Certification_Data.Issued_Date"


def test_a_worker_becomes_the_technician_workday_owns() -> None:
    register = workforce()
    key = sorted(register.technicians)[0]
    register.terminate(key, date(2027, 1, 31))  # future-dated: still active
    register.leave(key, date(2026, 12, 20), date(2026, 12, 24))
    worker = register.get(key)
    assert worker is not None
    (record,) = technician_records(worker, AS_OF)
    mapped = WorkdayMapping().to_canonical("technician", record)
    detail = worker["Worker_Data"]["Personal_Data"]["Name_Data"]["Legal_Name_Data"]
    assert (mapped.entity, mapped.external_id, mapped.stamp) == ("technician", key, AS_OF)
    assert mapped.data["name"] == detail["Name_Detail_Data"]["Formatted_Name"]
    assert mapped.data["email"].endswith("@example.co.uk")  # the work address, not home
    assert mapped.data["active"] is True
    assert mapped.data["unavailable"] == [
        {"from": "2026-12-20", "to": "2026-12-24", "why": "leave"},
        {"from": "2027-01-31", "to": None, "why": "terminated"},
    ]
    # the office's fields are never the mapping's: a sync leaves them as the office set them
    assert not mapped.owned_fields & OFFICE_OWNS and mapped.owned_fields <= WORKDAY_OWNS | {
        "unavailable"
    }


def test_a_worker_without_a_name_is_refused_naming_the_workday_field() -> None:
    worker = copy.deepcopy(a_technician(workforce()))
    del worker["Worker_Data"]["Personal_Data"]["Name_Data"]
    (record,) = technician_records(worker, AS_OF)
    with pytest.raises(MappingError) as refused:
        WorkdayMapping().to_canonical("technician", record)
    assert refused.value.field == "Personal_Data.Name_Data"
