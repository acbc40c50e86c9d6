"""``HRSimulator``: the HR system's certification feed over real HTTPS on loopback, in a
background thread.

    with HRSimulator(seed=1, workers=50) as hr:
        page = requests.get(
            f"{hr.url}/v1/certifications",
            params={"limit": 100},
            headers={"Authorization": f"Bearer {hr.token}"},
            verify=hr.ca_path,
        ).json()

A throwaway CA (``trustme``) signs the server's certificate for 127.0.0.1 and localhost; its
PEM is at ``ca_path``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sandbox._controls import Controls
from sandbox._server import LoopbackSimulator
from sandbox.hr.app import Desk, HRApp, Tokens
from sandbox.hr.feed import Register


@dataclass(frozen=True)
class Touched:
    """What ``touch`` changed: the records' ids and the one ``updated_at`` they now share."""

    ids: list[str]
    stamp: str


def _derived_token(seed: int, generation: int) -> str:
    digest = hashlib.sha256(f"fieldbridge-hr-{seed}-{generation}".encode()).hexdigest()
    return f"hr_{digest[:40]}"


class HRSimulator(LoopbackSimulator, Controls):
    """The HR system on ``https://127.0.0.1:<port>``: ``GET /v1/certifications``.

    ``seed`` fixes the token (unless ``token`` is given), the data set and the records
    ``touch(n)`` picks; ``workers`` technicians with ``certifications_per_worker`` each
    (distinct codes), a share ``malformed`` of them malformed on purpose. Dates of issue and
    expiry are relative to ``today`` (the UTC date when omitted). ``faults`` takes the
    settings of ``set_faults`` (e.g. ``{"rate": 0.3, "seed": 7}``). ``workdir`` keeps the CA
    and the server certificate (a temporary directory, removed on stop, when omitted).
    """

    def __init__(
        self,
        seed: int = 1,
        *,
        workers: int = 50,
        certifications_per_worker: int = 3,
        malformed: float = 0.02,
        token: str | None = None,
        faults: Mapping[str, Any] | None = None,
        port: int = 0,
        workdir: str | Path | None = None,
        today: date | None = None,
    ) -> None:
        if workers < 0 or certifications_per_worker < 0:
            raise ValueError("workers and certifications_per_worker cannot be negative")
        if not 0.0 <= malformed <= 1.0:
            raise ValueError("malformed must be between 0 and 1")
        super().__init__(
            "HR simulator", port=port, workdir=workdir, workdir_prefix="fieldbridge-hr-"
        )
        self._seed = seed
        self._generation = 0
        self._given_token = token
        register = Register(seed=seed, today=today or datetime.now(UTC).date())
        register.seed(workers, certifications_per_worker, malformed)
        self._desk = Desk(register, Tokens(token or _derived_token(seed, 0)))
        if faults:
            self.set_faults(**faults)

    def _app(self) -> Any:
        return HRApp(self._desk, self._http.state).app

    @property
    def _shared(self) -> Desk:
        return self._desk

    # --- where it is (and ``url``, ``port``, ``workdir``, ``ca_path``) ---------------------

    @property
    def token(self) -> str:
        """The bearer token the feed accepts now."""
        with self._desk.lock:
            return self._desk.tokens.current

    def env(self) -> dict[str, str]:
        """The settings that point fieldbridge at this HR system."""
        return {
            "FIELDBRIDGE_HR_URL": self.url,
            "FIELDBRIDGE_HR_TOKEN": self.token,
            "FIELDBRIDGE_HR_CA_BUNDLE": str(self.ca_path),
        }

    # --- the token -------------------------------------------------------------------------

    def expire_token(self) -> None:
        """The current token answers 401 ``token_expired`` from now on, until
        ``renew_token``."""
        with self._desk.lock:
            self._desk.tokens.expired.add(self._desk.tokens.current)

    def renew_token(self) -> str:
        """A new token (the old one stays refused); it is returned and now ``token``."""
        with self._desk.lock:
            tokens = self._desk.tokens
            tokens.expired.add(tokens.current)
            self._generation += 1
            base = self._given_token
            tokens.current = (
                f"{base}.{self._generation}"
                if base is not None
                else _derived_token(self._seed, self._generation)
            )
            return tokens.current

    # --- data ------------------------------------------------------------------------------

    def count(self) -> int:
        """Certifications in the feed now."""
        return self._desk.register.count()

    def get(self, record_id: str) -> dict[str, Any] | None:
        """One certification as the feed serves it (``"W000123|GAS-SAFE"``), or None."""
        return self._desk.register.get(record_id)

    def records(self) -> list[dict[str, Any]]:
        """Every certification as the feed serves it, in feed order (``updated_at``, ``id``)."""
        return self._desk.register.all()

    def malformed_ids(self) -> set[str]:
        """Ids of the records seeded malformed on purpose (and still in the feed)."""
        with self._desk.register.lock:
            return set(self._desk.register.malformed)

    def malformed_reasons(self) -> dict[str, str]:
        """Id -> reason: expires_before_issued, unknown_status, missing_code,
        unparseable_date."""
        with self._desk.register.lock:
            return dict(self._desk.register.malformed)

    def touch(
        self, n_or_ids: int | Sequence[str], fields: Mapping[str, Any] | None = None
    ) -> Touched:
        """Change records in one batch, so that they share one new ``updated_at``:
        ``n_or_ids`` records picked by the seeded generator, or these ids. Without ``fields``
        each gets a typical change (a renewal: issued today, a new expiry; a reissued card
        number for one that never expires); malformed records are only stamped."""
        ids, stamp = self._desk.register.touch(n_or_ids, fields)
        return Touched(ids, stamp)

    def revoke(self, worker_id: str, code: str) -> Touched:
        """The certification ``code`` of ``worker_id`` is revoked (a change like any other)."""
        return self.touch([f"{worker_id}|{code}"], {"status": "revoked"})

    def delete(self, worker_id: str, code: str) -> None:
        """The HR system forgets the certification: it is gone from the feed."""
        self._desk.register.delete(f"{worker_id}|{code}")

    # --- the ledger (faults, clear_ledger: Controls) ---------------------------------------

    @property
    def ledger(self) -> list[dict[str, Any]]:
        """Every API request served, in order: seq, at, method, path, query, status, fault
        (None, or the fault that answered it)."""
        with self._desk.lock:
            return [dict(e) for e in self._desk.ledger]
