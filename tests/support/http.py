"""The API as a test calls it: a caller with a token per role, the transition mover's type, and
the reference data a dispatcher works with (``make_world``)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient
from PIL import Image

from orchestrator.access import tokens as auth
from orchestrator.runtime.bootstrap import Container


def picture(image_format: str, size: tuple[int, int] = (4, 4)) -> bytes:
    """A real picture, one colour, in ``image_format`` (Pillow's name): an upload is decoded
    whole before it is kept, so a bare header no longer passes for an image."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 60, 30)).save(out, image_format)
    return out.getvalue()


PNG = picture("PNG")
JPEG = picture("JPEG")


def csp(response: httpx.Response) -> dict[str, list[str]]:
    """The answer's Content-Security-Policy, by directive: its sources."""
    policy = response.headers["content-security-policy"]
    return {words[0]: words[1:] for words in (part.split() for part in policy.split(";")) if words}


Mover = Callable[..., httpx.Response]
"""The ``move`` fixture: POSTs a transition with the order's current ETag."""


@dataclass
class Api:
    """A thin caller: a token per role and helpers that assert the happy path's status."""

    client: TestClient
    container: Container

    def token(self, role: str, subject: str | None = None, technician_id: int | None = None) -> str:
        with self.container.new_uow() as uow:
            issued = auth.issue(
                uow,
                self.container.secret_key,
                role=role,
                subject=subject or f"{role}-user",
                technician_id=technician_id,
            )
        return issued.token

    def as_(self, token: str, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **headers}

    def call(
        self, method: str, path: str, token: str | None, *, expect: int | None = None, **kw: Any
    ) -> httpx.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.request(method, path, headers=headers, **kw)
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        return response


@dataclass
class World:
    """Reference data a dispatcher works with: one of each, and the tokens to use them."""

    admin: str
    dispatcher: str
    supervisor: str
    tech_token: str
    other_tech_token: str
    technician_id: int
    other_technician_id: int
    division_id: int
    territory_id: int
    customer_id: int
    site_id: int
    work_type_id: int


PUMP_SERVICE = {
    "code": "PUMP-SVC",
    "name": "Pump service",
    "default_duration_min": 90,
    "required_skills": ["pumps"],
    "required_certifications": ["ELEC-1"],
    "checklist": [
        {"code": "isolate", "label": "Isolate power"},
        {"code": "inspect", "label": "Inspect impeller"},
        {"code": "notes", "label": "Extra notes", "required": False},
    ],
    "min_photos": 2,
    "signature_required": True,
}
"""The world's work type: two checklist items required, two photos and a signature."""


def make_world(api: Api) -> World:
    """The world over the API: a division, a territory, a customer with a site in Berlin, the
    pump service, two technicians (Tess and Theo), and a token for each role."""
    admin = api.token("admin", "ada")
    dispatcher = api.token("dispatcher", "dora")
    supervisor = api.token("supervisor", "sam")
    div = api.call(
        "POST", "/api/v1/divisions", admin, json={"code": "N", "name": "North"}, expect=201
    )
    ter = api.call(
        "POST",
        "/api/v1/territories",
        admin,
        json={"code": "N1", "name": "North 1", "division_id": div.json()["id"]},
        expect=201,
    )
    cust = api.call(
        "POST",
        "/api/v1/customers",
        dispatcher,
        json={"name": "Acme Water Ltd", "phone": "+44 20 7946 0000"},
        expect=201,
    )
    site = api.call(
        "POST",
        "/api/v1/sites",
        dispatcher,
        json={
            "customer_id": cust.json()["id"],
            "name": "Pump house",
            "address": "1 Quay St, Berlin",
            "latitude": 52.52,
            "longitude": 13.40,
            "time_zone": "Europe/Berlin",
            "territory_id": ter.json()["id"],
        },
        expect=201,
    )
    wt = api.call("POST", "/api/v1/work-types", admin, json=PUMP_SERVICE, expect=201)
    techs = [_technician(api, admin, name, ter.json()["id"]) for name in ("Tess", "Theo")]
    return World(
        admin=admin,
        dispatcher=dispatcher,
        supervisor=supervisor,
        tech_token=api.token("technician", "tess", techs[0]),
        other_tech_token=api.token("technician", "theo", techs[1]),
        technician_id=techs[0],
        other_technician_id=techs[1],
        division_id=div.json()["id"],
        territory_id=ter.json()["id"],
        customer_id=cust.json()["id"],
        site_id=site.json()["id"],
        work_type_id=wt.json()["id"],
    )


def _technician(api: Api, admin: str, name: str, territory_id: int) -> int:
    """A technician in Berlin who may do pump services, 08:00 to 17:00 on weekdays."""
    return api.call(
        "POST",
        "/api/v1/technicians",
        admin,
        json={
            "name": name,
            "skills": ["pumps", "valves"],
            "certifications": [
                {"code": "ELEC-1", "issued_on": "2025-01-01", "expires_on": "2030-01-01"}
            ],
            "home_latitude": 52.5,
            "home_longitude": 13.3,
            "time_zone": "Europe/Berlin",
            "weekly_hours": {
                d: [{"start": "08:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu", "fri")
            },
            "territory_id": territory_id,
        },
        expect=201,
    ).json()["id"]
