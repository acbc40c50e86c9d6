"""The composition root reads each system's connector settings from the variables it is
given (the environment by default), keeps the systems that can run, and says in one line,
naming the variables, why the others cannot."""

from __future__ import annotations

import pytest

from connectors.hr import HRSettings
from orchestrator.domain.errors import SetupError
from orchestrator.runtime.bootstrap import read_systems


def test_the_systems_given_are_read_and_the_others_say_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIELDBRIDGE_SAP_URL", "https://sap.example")  # never read when given
    systems = read_systems({"fieldbridge_hr_url": "https://hr.example",
                            "FIELDBRIDGE_HR_TOKEN": "t0ken", "UNRELATED": "x"})  # fmt: skip
    hr = systems.of("hr")
    assert isinstance(hr, HRSettings) and (hr.base_url, hr.bearer()) == (
        "https://hr.example",
        "t0ken",
    )
    assert "webhooks" in systems.settings, "webhook delivery needs no settings"
    assert set(systems.problems) == {"salesforce", "sap", "workday"}
    assert all("\n" not in why for why in systems.problems.values())
    assert "FIELDBRIDGE_SAP_URL" in systems.problems["sap"]
    with pytest.raises(
        SetupError, match=r"^the sap settings are incomplete: .*FIELDBRIDGE_SAP_URL"
    ):
        systems.of("sap")


def test_a_wrong_value_is_named_by_its_variable_and_never_repeated() -> None:
    systems = read_systems({"FIELDBRIDGE_HR_URL": "http://hr.example/s3cret",
                            "FIELDBRIDGE_HR_TOKEN": "t0ken"})  # fmt: skip
    assert systems.problems["hr"].startswith("FIELDBRIDGE_HR_URL: ")
    assert "https://" in systems.problems["hr"]


def test_the_environment_is_read_when_no_variables_are_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIELDBRIDGE_HR_URL", "https://hr.example")
    monkeypatch.setenv("FIELDBRIDGE_HR_TOKEN", "t0ken")
    assert read_systems().of("hr").timeout_s > 0
