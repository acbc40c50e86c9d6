"""``/api/v1/maintenance-plans`` over HTTP, and what a plan makes: ordinary orders (intake
source ``pm``) with the plan's work type, priority and asset, by ``fieldbridge pm generate``."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import cli_env, run
from tests.support.http import Api, World

PLANS = "/api/v1/maintenance-plans"


def _asset(api: Api, world: World, serial: str, model: str | None = "Grundfos CR") -> int:
    body = {"serial": serial, "site_id": world.site_id, "model": model}
    return int(
        api.call("POST", "/api/v1/assets", world.dispatcher, json=body, expect=201).json()["id"]
    )


def _plan(world: World, **given: Any) -> dict[str, Any]:
    return {"name": "Pump service", "rule": "FREQ=MONTHLY;INTERVAL=3", "starts_on": "2031-01-15",
            "work_type_id": world.work_type_id, **given}  # fmt: skip


def test_the_office_keeps_plans_and_a_change_names_its_version(api: Api, world: World) -> None:
    asset = _asset(api, world, "P-1")
    made = api.call("POST", PLANS, world.supervisor, json=_plan(world, asset_id=asset,
                    priority=2), expect=201)  # fmt: skip
    plan = made.json()
    assert made.headers["Location"] == f"{PLANS}/{plan['id']}" and made.headers["ETag"] == '"1"'
    assert plan | {"created_at": None, "updated_at": None} == {
        "id": plan["id"], "name": "Pump service", "asset_id": asset, "asset_model": None,
        "work_type_id": world.work_type_id, "rule": "FREQ=MONTHLY;INTERVAL=3",
        "starts_on": "2031-01-15", "counts_from": "schedule", "horizon_days": 30,
        "lead_days": 0, "priority": 2, "active": True, "version": 1, "created_at": None,
        "updated_at": None,
    }  # fmt: skip
    listed = api.call("GET", f"{PLANS}?asset_id={asset}", world.dispatcher, expect=200).json()
    assert [p["id"] for p in listed["items"]] == [plan["id"]]

    url = f"{PLANS}/{plan['id']}"
    changed = api.call("PATCH", url, world.dispatcher, json={"counts_from": "completion"},
                       headers={"If-Match": '"1"'}, expect=200)  # fmt: skip
    assert changed.json()["counts_from"] == "completion" and changed.headers["ETag"] == '"2"'
    stale = api.call("PATCH", url, world.dispatcher, json={"active": False},
                     headers={"If-Match": '"1"'})  # fmt: skip
    assert stale.status_code == 412, stale.text
    assert api.call("GET", url, world.admin, expect=200).json()["active"] is True

    api.call("DELETE", url, world.admin, headers={"If-Match": '"2"'}, expect=204)
    assert api.call("GET", url, world.admin).status_code == 404
    assert (
        api.call("PATCH", url, world.admin, json={}, headers={"If-Match": '"2"'}).status_code == 404
    )
    assert api.call("GET", f"{PLANS}/999999", world.admin).status_code == 404


def _fields(response: Any) -> set[str]:
    assert response.status_code == 422, response.text
    return {error["field"].rsplit(".", 1)[-1] for error in response.json()["errors"]}


@pytest.mark.parametrize(
    "rule", ["FREQ=FORTNIGHTLY", "FREQ=HOURLY", "every monday", "FREQ=WEEKLY;BYDAY=XX"]
)
def test_a_bad_rule_is_422_naming_rule(api: Api, world: World, rule: str) -> None:
    got = api.call("POST", PLANS, world.dispatcher, json=_plan(world, asset_model="X", rule=rule))
    assert _fields(got) == {"rule"}


def test_a_plan_names_an_asset_or_a_model_and_things_that_exist(api: Api, world: World) -> None:
    asset = _asset(api, world, "P-2")
    both = _plan(world, asset_id=asset, asset_model="Grundfos CR")
    assert api.call("POST", PLANS, world.dispatcher, json=both).status_code == 422
    assert api.call("POST", PLANS, world.dispatcher, json=_plan(world)).status_code == 422
    nothing = _plan(world, asset_id=987654)
    assert _fields(api.call("POST", PLANS, world.dispatcher, json=nothing)) == {"asset_id"}
    made = api.call("POST", PLANS, world.dispatcher, json=_plan(world, asset_model="Grundfos CR"),
                    expect=201).json()  # fmt: skip
    bad = api.call("PATCH", f"{PLANS}/{made['id']}", world.dispatcher, json={"rule": "FREQ=NEVER"},
                   headers={"If-Match": '"1"'})  # fmt: skip
    assert _fields(bad) == {"rule"}
    technician = api.call("POST", PLANS, world.tech_token, json=_plan(world, asset_model="X"))
    assert technician.status_code == 403


def test_pm_generate_makes_ordinary_orders_once_and_a_plan_that_made_some_is_kept(
    api: Api, world: World, database_url: str, tmp_path: Path
) -> None:
    pumps = [_asset(api, world, f"CR-{n}") for n in range(3)]
    _asset(api, world, "OTHER-1", model="Wilo")
    today = date(2031, 3, 1)
    plan = api.call("POST", PLANS, world.dispatcher, expect=201, json=_plan(
        world, asset_model="Grundfos CR", rule="FREQ=MONTHLY;BYMONTHDAY=10",
        starts_on="2031-03-01", horizon_days=30, lead_days=10, priority=2)).json()  # fmt: skip
    env = cli_env(database_url, tmp_path)
    first = run(env, "pm", "generate", "--until", today.isoformat())
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "6 orders made"  # 10 March, and 10 April: 30 + 10 days on
    assert "orders made" in first.stderr
    again = run(env, "pm", "generate", "--until", today.isoformat())
    assert again.returncode == 0 and again.stdout.strip() == "0 orders made", again.stderr
    bad = run(env, "pm", "generate", "--until", "March")
    assert bad.returncode == 2 and "not a date" in bad.stderr

    orders = api.call("GET", "/api/v1/work-orders?limit=100", world.dispatcher, expect=200)
    made = [o for o in orders.json()["items"] if o["source_system"] == "pm"]
    assert sorted(o["external_id"] for o in made) == sorted(
        f"plan-{plan['id']}/asset-{a}/{d}" for a in pumps for d in ("2031-03-10", "2031-04-10")
    )
    for order in made:
        assert (order["status"], order["work_type_id"], order["priority"], order["site_id"],
                order["customer_id"]) == ("new", world.work_type_id, 2, world.site_id,
                                          world.customer_id)  # fmt: skip
        assert order["asset_id"] in pumps
    gone = api.call("DELETE", f"{PLANS}/{plan['id']}", world.admin, headers={"If-Match": '"1"'})
    assert gone.status_code == 409 and "deactivate" in gone.json()["detail"]
    api.call("PATCH", f"{PLANS}/{plan['id']}", world.admin, json={"active": False},
             headers={"If-Match": '"1"'}, expect=200)  # fmt: skip
    later = (today + timedelta(days=60)).isoformat()
    assert run(env, "pm", "generate", "--until", later).stdout.strip() == "0 orders made"
