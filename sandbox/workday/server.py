"""``WorkdaySimulator``: Workday's Human_Resources service over real HTTPS on loopback, in a
background thread.

    with WorkdaySimulator(seed=1, workers=200, technicians=60) as workday:
        os.environ.update(workday.env())   # FIELDBRIDGE_WORKDAY_URL, _USERNAME, _PASSWORD, ...

A throwaway CA (``trustme``) signs the server's certificate for 127.0.0.1 and localhost; its
PEM is at ``ca_path``. The service is read from the project's WSDL (``wsdl_dir``, by default
``wsdl/workday`` of the repository this package sits in), never from our imports: the
sandbox stands for the outside world.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sandbox._controls import Controls
from sandbox._server import LoopbackSimulator
from sandbox.workday.app import Credentials, Desk, Service, WorkdayApp
from sandbox.workday.workers import Workers

__all__ = ["DEFAULT_WSDL_DIR", "WorkdaySimulator"]

DEFAULT_WSDL_DIR = Path(__file__).resolve().parents[2] / "wsdl" / "workday"
DEFAULT_TENANT = "fieldbridge_sandbox1"
VERSION = "v26.1"


def _derived_password(seed: int) -> str:
    return "Wd" + hashlib.sha256(f"fieldbridge-workday-{seed}".encode()).hexdigest()[:24] + "!"


class WorkdaySimulator(LoopbackSimulator, Controls):
    """Workday on ``https://127.0.0.1:<port>/ccx/service/<tenant>/Human_Resources/<version>``:
    ``Get_Workers`` with a WS-Security UsernameToken, paging, ``As_Of_Entry_DateTime`` and
    transaction-log queries answered from each worker's versions.

    ``seed`` fixes the password (unless given) and the workforce: ``workers`` workers, of
    whom ``technicians`` are field technicians with 1 to 4 certifications each. ``faults``
    takes the settings of ``set_faults`` (e.g. ``{"rate": 0.2, "seed": 7}``). ``clock``
    stamps each change's entry moment (tests may move it)."""

    def __init__(
        self,
        seed: int = 1,
        *,
        workers: int = 100,
        technicians: int = 30,
        faults: Mapping[str, Any] | None = None,
        port: int = 0,
        workdir: str | Path | None = None,
        tenant: str = DEFAULT_TENANT,
        username: str | None = None,
        password: str | None = None,
        wsdl_dir: str | Path | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(
            "Workday simulator", port=port, workdir=workdir, workdir_prefix="fieldbridge-workday-"
        )
        self.wsdl_dir = Path(wsdl_dir).resolve() if wsdl_dir is not None else DEFAULT_WSDL_DIR
        register = Workers(seed, clock)
        register.seed(workers, technicians)
        self.tenant = tenant
        self._desk = Desk(
            tenant,
            register,
            Credentials(
                username or f"ISU_fieldbridge@{tenant}", password or _derived_password(seed)
            ),
            Service(self.wsdl_dir / "Human_Resources.wsdl"),
        )
        if faults:
            self.set_faults(**faults)

    def _app(self) -> Any:
        return WorkdayApp(self._desk, self._http.state).app

    @property
    def _shared(self) -> Desk:
        return self._desk

    # --- where it is -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The tenant's service base (``FIELDBRIDGE_WORKDAY_URL``)."""
        return f"{self.url}/ccx/service/{self.tenant}"

    def service_url(self, version: str = VERSION) -> str:
        return f"{self.base_url}/Human_Resources/{version}"

    @property
    def username(self) -> str:
        with self._desk.lock:
            return self._desk.credentials.username

    @property
    def password(self) -> str:
        with self._desk.lock:
            return self._desk.credentials.password

    def change_password(self, password: str) -> None:
        """The old password is refused from now on."""
        with self._desk.lock:
            self._desk.credentials.password = password

    def env(self) -> dict[str, str]:
        """The settings that point fieldbridge at this tenant."""
        return {
            "FIELDBRIDGE_WORKDAY_URL": self.base_url,
            "FIELDBRIDGE_WORKDAY_USERNAME": self.username,
            "FIELDBRIDGE_WORKDAY_PASSWORD": self.password,
            "FIELDBRIDGE_WORKDAY_WSDL_DIR": str(self.wsdl_dir),
            "FIELDBRIDGE_WORKDAY_CA_BUNDLE": str(self.ca_path),
        }

    # --- the workforce ---------------------------------------------------------------------

    def workers(self, as_of: datetime | None = None) -> dict[str, dict[str, Any]]:
        """Every worker (as entered at ``as_of``; None: now) in the shape of the response's
        ``Worker`` element, by Employee_ID or Contingent_Worker_ID."""
        return self._desk.workers.as_of(as_of)

    def worker(self, key: str) -> dict[str, Any] | None:
        return self._desk.workers.get(key)

    @property
    def technician_ids(self) -> set[str]:
        """The workers seeded or hired as field technicians."""
        with self._desk.workers.lock:
            return set(self._desk.workers.technicians)

    def hire(self, technician: bool = True) -> str:
        return self._desk.workers.hire(technician)

    def renew(self, key: str, code: str, issued: date) -> datetime:
        return self._desk.workers.renew(key, code, issued)

    def certify(self, key: str, code: str, issued: date) -> datetime:
        return self._desk.workers.certify(key, code, issued)

    def revoke(self, key: str, code: str) -> datetime:
        return self._desk.workers.revoke(key, code)

    def terminate(self, key: str, on: date) -> datetime:
        return self._desk.workers.terminate(key, on)

    def leave(self, key: str, start: date, end: date) -> datetime:
        return self._desk.workers.leave(key, start, end)

    def edit_contact(self, key: str, **fields: str) -> datetime:
        return self._desk.workers.edit_contact(key, fields)

    # --- the ledger (faults, clear_ledger: Controls) ---------------------------------------

    def ledger(self) -> list[dict[str, Any]]:
        """Every service request served, in order: seq, at, method, path, status, fault and
        the request's XML as it came."""
        with self._desk.lock:
            return [dict(e) for e in self._desk.ledger]
