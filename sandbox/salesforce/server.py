"""``SalesforceSimulator``: the org served over real HTTPS on loopback, in a background thread.

    with SalesforceSimulator(seed=1) as sf:
        sf.seed(customers=100, assets=200)
        token = requests.post(sf.token_url, data={...}, verify=sf.ca_path).json()

A throwaway CA (``trustme``) signs the server's certificate for 127.0.0.1 and localhost; its
PEM is at ``ca_path``. An RSA key pair stands for the connected app's certificate: the org
trusts the public half for the JWT bearer flow, the private half is at ``private_key_path``.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox._controls import Controls
from sandbox._server import LoopbackSimulator
from sandbox.salesforce.app import Identity, SalesforceApp
from sandbox.salesforce.bulk import Bulk
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.org import Org
from sandbox.salesforce.schema import IdMinter
from sandbox.salesforce.seed import Progress, SeedSummary, seed_org

DEFAULT_VERSION = "62.0"
BULK_CLOSE = re.compile(r"/jobs/ingest/([^/]+)$")


@dataclass(frozen=True)
class Touched:
    """What ``touch`` changed: the records' Ids and the one SystemModstamp they now share."""

    object: str
    ids: list[str]
    stamp: str


class SalesforceSimulator(LoopbackSimulator, Controls):
    """A Salesforce org on ``https://127.0.0.1:<port>``.

    ``seed`` fixes the credentials, the data ``seed()`` makes (unless it is given its own
    seed) and the records ``touch(obj, n)`` picks. ``faults`` takes the settings of
    ``set_faults`` (e.g. ``{"rate": 0.3, "seed": 7}``). ``workdir`` keeps the CA, the
    server certificate and the private key (a temporary directory, removed on stop, when
    omitted). ``api_limit`` is the daily API allowance. ``bare``: an org before
    fieldbridge's package is deployed (standard objects and fields only; nothing seeded),
    which ``define`` gives fields and objects from their describes.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        port: int = 0,
        workdir: str | Path | None = None,
        api_limit: int = 100_000,
        faults: Mapping[str, Any] | None = None,
        customers: int = 0,
        assets: int = 0,
        contacts: int | None = None,
        work_orders: int = 0,
        malformed: float = 0.01,
        max_cursors: int = 10,
        session_ttl_s: float = 7200.0,
        version: str = DEFAULT_VERSION,
        bare: bool = False,
    ) -> None:
        super().__init__(
            "Salesforce simulator", port=port, workdir=workdir, workdir_prefix="fieldbridge-sf-"
        )
        self._seed = seed
        self.api_version = version
        self.bare = bare
        self.org = Org(
            seed=seed,
            api_limit=api_limit,
            max_cursors=max_cursors,
            session_ttl_s=session_ttl_s,
            bare=bare,
        )
        self.bulk = Bulk(self.org)
        if faults:
            self.set_faults(**faults)
        rng = random.Random(f"credentials-{seed}")  # nosec B311  # the simulator's credentials follow from its seed on purpose, so a test knows them
        alnum = string.ascii_letters + string.digits
        self.client_id = "3MVG9" + "".join(rng.choice(alnum + "._") for _ in range(80))
        self.client_secret = "".join(rng.choice(string.hexdigits.upper()[:16]) for _ in range(64))
        self.username = f"integration.{seed}@fieldbridge-sandbox.example"
        self.password = "".join(rng.choice(alnum) for _ in range(20))
        self.org_id = IdMinter("00D", 62**4 * 3 + seed).mint()
        self.user_id = IdMinter("005", 62**4 * 5 + seed).mint()
        self.seed_summaries: list[SeedSummary] = []
        if customers or assets or work_orders or contacts:
            self.seed(
                customers=customers,
                assets=assets,
                contacts=contacts,
                work_orders=work_orders,
                malformed=malformed,
            )

    @property
    def _shared(self) -> Org:
        return self.org

    def _app(self) -> Any:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.private_key_path.chmod(0o600)
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (self.workdir / "connected_app_public_key.pem").write_bytes(public_pem)
        identity = Identity(
            login_url=self.login_url,
            instance_url=self.instance_url,
            org_id=self.org_id,
            user_id=self.user_id,
            client_id=self.client_id,
            client_secret=self.client_secret,
            username=self.username,
            password=self.password,
            public_key_pem=public_pem,
        )
        return SalesforceApp(self.org, self.bulk, identity, self._http.state).app

    # --- where it is (and ``port``, ``workdir``, ``ca_path``) ------------------------------

    @property
    def login_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def instance_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/services/oauth2/token"

    @property
    def base_url(self) -> str:
        """The REST root for ``api_version``: ``.../services/data/v62.0``."""
        return f"{self.instance_url}/services/data/v{self.api_version}"

    @property
    def private_key_path(self) -> Path:
        return self.workdir / "connected_app_private_key.pem"

    def env(self, flow: str = "jwt") -> dict[str, str]:
        """The settings that point fieldbridge at this org, for one login flow: ``jwt``
        (JWT bearer with the private key) or ``password`` (username-password)."""
        common = {
            "FIELDBRIDGE_SALESFORCE_LOGIN_URL": self.login_url,
            "FIELDBRIDGE_SALESFORCE_CLIENT_ID": self.client_id,
            "FIELDBRIDGE_SALESFORCE_USERNAME": self.username,
            "FIELDBRIDGE_SALESFORCE_CA_BUNDLE": str(self.ca_path),
        }
        if flow == "jwt":
            return common | {"FIELDBRIDGE_SALESFORCE_PRIVATE_KEY_FILE": str(self.private_key_path)}
        if flow == "password":
            return common | {
                "FIELDBRIDGE_SALESFORCE_CLIENT_SECRET": self.client_secret,
                "FIELDBRIDGE_SALESFORCE_PASSWORD": self.password,
            }
        raise ValueError(f"flow is 'jwt' or 'password', not {flow!r}")

    # --- shape -----------------------------------------------------------------------------

    def define(self, describe: Mapping[str, Any]) -> str:
        """Add an object, or custom fields to one, from a ``describe`` as the REST API
        answers it (``name``, ``label``, ``labelPlural``, ``fields``: each field's ``name``,
        ``type``, ``label``, ``length``, ``precision``, ``scale``, ``externalId``,
        ``unique``, ``nillable``, ``referenceTo``, ``relationshipName``,
        ``picklistValues``), as an admin's deploy would; the object's name. The object
        must not hold records yet."""
        return self.org.define(describe)

    # --- data ------------------------------------------------------------------------------

    def seed(
        self,
        customers: int = 0,
        assets: int = 0,
        contacts: int | None = None,
        work_orders: int = 0,
        seed: int | None = None,
        malformed: float = 0.01,
        progress: Progress | None = None,
    ) -> SeedSummary:
        """Add a realistic data set: ``customers`` Accounts (and as many Contacts unless
        ``contacts`` says), ``assets`` Assets on them, ``work_orders`` WorkOrders on the assets,
        and a catalogue of Product2 with the standard price book and an entry per product
        (its external id the product code). A share ``malformed`` of Accounts, Contacts,
        Assets and WorkOrders is malformed on purpose (see ``malformed_ids``).
        ``progress(object, done, total)`` is called as it goes."""
        if self.bare:
            raise ValueError("a bare org is not seeded: its records need fieldbridge's fields")
        summary = seed_org(
            self.org,
            customers=customers,
            assets=assets,
            contacts=contacts,
            work_orders=work_orders,
            seed=seed if seed is not None else self._seed * 1_000_003 + len(self.seed_summaries),
            malformed=malformed,
            progress=progress,
        )
        self.seed_summaries.append(summary)
        return summary

    def malformed_ids(self, obj: str | None = None) -> set[str]:
        """Ids of the records seeded malformed on purpose (of ``obj`` only, if given)."""
        with self.org.lock:
            return {i for i, (o, _) in self.org.malformed.items() if obj is None or o == obj}

    def malformed_reasons(self) -> dict[str, tuple[str, str]]:
        """Id -> (object, reason): missing_coordinates, latitude_out_of_range, invalid_email,
        account_not_found, end_before_start."""
        with self.org.lock:
            return dict(self.org.malformed)

    def touch(
        self, obj: str, ids_or_n: int | Sequence[str], fields: Mapping[str, Any] | None = None
    ) -> Touched:
        """Change records in bulk in one transaction, so that they share one SystemModstamp:
        ``ids_or_n`` live records picked by the seeded generator, or these Ids. Without
        ``fields`` each gets a typical change (a new Phone, an Asset's Status, a WorkOrder's
        Priority ...)."""
        ids, stamp = self.org.touch(obj, ids_or_n, fields)
        return Touched(obj, ids, stamp)

    def create(self, obj: str, fields: Mapping[str, Any]) -> str:
        """Create a record as the API would (validated, stamped now); its Id."""
        return self.org.create(obj, fields)

    def update(self, obj: str, record_id: str, fields: Mapping[str, Any]) -> None:
        self.org.update(obj, record_id, fields)

    def delete(self, obj: str, record_id: str) -> None:
        """Soft-delete (IsDeleted, visible to queryAll only)."""
        self.org.delete(obj, record_id)

    def purge(self, obj: str, record_ids: Sequence[str]) -> list[str]:
        """Delete and empty the recycle bin: the records vanish without a trace a sync could
        read (as after Salesforce's 15 days, or an admin's hard delete)."""
        return self.org.purge(obj, record_ids)

    def get(self, obj: str, record_id: str) -> dict[str, Any] | None:
        """A live record's fields, or None."""
        try:
            record = self.org.get(obj, record_id, self.api_version)
        except ApiError:
            return None
        record.pop("attributes", None)
        return record

    def find(self, obj: str, field: str, value: Any) -> list[dict[str, Any]]:
        """Live records whose ``field`` equals ``value`` (text compared case-insensitively)."""
        with self.org.lock:
            table = self.org.table(obj)
            schema_field = table.type.field(field)
            if schema_field is None:
                raise KeyError(f"{obj} has no field {field}")
            slot = table.type.index[schema_field.name]
            want = value.lower() if isinstance(value, str) else value
            out = []
            for row in table.rows:
                cell = row[slot]
                if not row[1] and (cell.lower() if isinstance(cell, str) else cell) == want:
                    record = self.org.render(table, row, self.api_version)
                    record.pop("attributes")
                    out.append(record)
            return out

    def count(self, obj: str, include_deleted: bool = False) -> int:
        with self.org.lock:
            rows = self.org.table(obj).rows
            return len(rows) if include_deleted else sum(1 for r in rows if not r[1])

    # --- sessions, allowance, the ledger (faults, clear_ledger: Controls) -----------------

    def session_id(self) -> str:
        """A fresh session, as if a token flow had run (for tests that skip OAuth)."""
        return self.org.issue_session(self.org_id)

    def expire_sessions(self) -> int:
        """End every session: calls then answer 401 INVALID_SESSION_ID until a new token."""
        return self.org.expire_sessions()

    @property
    def api_usage(self) -> tuple[int, int]:
        """(calls counted today, daily allowance)."""
        with self.org.lock:
            return self.org.api_used, self.org.api_max

    def set_api_usage(self, used: int | None = None, limit: int | None = None) -> None:
        with self.org.lock:
            if used is not None:
                self.org.api_used = used
            if limit is not None:
                self.org.api_max = limit

    @property
    def ledger(self) -> list[dict[str, Any]]:
        """Every write received over the API, in order: method, path, object, id,
        external_id_field, external_id, body, status, fault (None, or the fault that answered
        it: then it had no effect), result (the answer's body)."""
        with self.org.lock:
            return [dict(e) for e in self.org.ledger]

    def writes(self, obj: str | None = None) -> list[dict[str, Any]]:
        """The ledger flattened to the records written in effect (faulted and refused writes
        left out; a collection or a Bulk API 2.0 ingest job contributes one item per
        successful record): object, id, external_id, created (None for a plain update or a
        delete), body."""
        out: list[dict[str, Any]] = []
        for entry in self.ledger:
            if entry["fault"] is not None or entry["status"] >= 300:
                continue
            bulk = BULK_CLOSE.search(entry["path"])
            if (
                bulk
                and entry["method"] == "PATCH"
                and (entry["body"] or {}).get("state") == "UploadComplete"
            ):
                out.extend(self._bulk_writes(bulk.group(1)))
                continue
            if "/jobs/" in entry["path"]:
                continue
            if "/composite/" in entry["path"]:
                records = (entry["body"] or {}).get("records") or []
                ext_field = entry["external_id_field"]
                for record, result in zip(records, entry["result"] or [], strict=False):
                    if not result.get("success"):
                        continue
                    kind = (record.get("attributes") or {}).get("type") or entry["object"]
                    ext = None
                    if ext_field:
                        ext = next(
                            (v for k, v in record.items() if k.lower() == ext_field.lower()), None
                        )
                    out.append(
                        {
                            "object": kind,
                            "id": result.get("id"),
                            "external_id": ext,
                            "created": result.get("created"),
                            "body": record,
                        }
                    )
                continue
            created = entry["result"].get("created") if isinstance(entry["result"], dict) else None
            if entry["method"] == "POST" and created is None:
                created = True
            out.append(
                {
                    "object": entry["object"],
                    "id": entry["id"],
                    "external_id": entry["external_id"],
                    "created": created,
                    "body": entry["body"],
                }
            )
        if obj is not None:
            out = [w for w in out if (w["object"] or "").lower() == obj.lower()]
        return out

    def _bulk_writes(self, job_id: str) -> list[dict[str, Any]]:
        job = self.bulk.jobs.get(job_id)
        if job is None:
            return []
        ext = job.info.get("externalIdFieldName")
        out = []
        for record_id, created, *values in job.successful:
            body = dict(zip(job.header, values, strict=False))
            out.append(
                {
                    "object": job.info["object"],
                    "id": record_id,
                    "external_id": body.get(ext) if ext else None,
                    "created": created == "true" if job.info["operation"] != "delete" else None,
                    "body": body,
                }
            )
        return out
