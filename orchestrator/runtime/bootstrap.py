"""The composition root: the one place that reads settings and builds things.

``bootstrap()`` reads the settings (``FIELDBRIDGE_*``, or the ``Settings`` given) and each
remote system's connector settings (``FIELDBRIDGE_SALESFORCE_*``, ``_SAP_*``, ``_HR_*``,
``_WORKDAY_*``, ``_WEBHOOK_*``, or the ``Systems`` given), and returns a ``Container`` that
makes what the rest of the application is handed: units of work, connectors, the systems a sync runs
against, the outbox relay with its destinations, and the background mode, chosen once:

- embedded (no broker): one thread runs schedule runs in order and one runs the outbox relay
  (``orchestrator.runtime.embedded``); in a worker of ``fieldbridge serve --workers N``
  (``FIELDBRIDGE_SERVER_WAKE`` set by the server) both are the supervisor's, and the worker
  sends it wake-ups;
- production (``FIELDBRIDGE_BROKER_URL``): Celery workers on Redis run both
  (``orchestrator.runtime.tasks``).

Every entry point (``fieldbridge serve``, ``worker``, each command, the demo) calls it once;
tests call it with settings of their own and, where they need to, a fake background. Nothing
else reads the environment or constructs a connector.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError
from sqlalchemy import Engine

from connectors.hr import HRConnector, HRSettings
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.sap import SAPConnector, SAPSettings
from connectors.settings import ConnectorSettings, one_line
from connectors.webhooks import WebhookConnector, WebhookSettings
from connectors.workday import WorkdayConnector, WorkdaySettings
from mappings.salesforce import SalesforceMapping
from mappings.workday import TechnicianFilter
from orchestrator.domain.errors import SetupError
from orchestrator.outbox.destinations import (
    FinanceWebhooks,
    SalesforceJobs,
    SalesforceSkills,
    SAPBilling,
)
from orchestrator.outbox.events import CRM_CERTIFICATION, CRM_COMPLETED
from orchestrator.outbox.relay import ByEvent, Destination, Relay, RelayPolicy
from orchestrator.runtime.settings import Settings, load_settings
from orchestrator.store.db import LoopDatabase, make_engine
from orchestrator.store.uow import UnitOfWork
from orchestrator.sync.systems import SyncSystem, salesforce_mapping, sync_system
from orchestrator.work_orders.attachments import AttachmentStore

if TYPE_CHECKING:
    from orchestrator.runtime.tasks import WorkerContext

__all__ = [
    "Background",
    "Container",
    "Systems",
    "bootstrap",
    "read_settings",
    "read_systems",
    "worker_context",
]

log = logging.getLogger("fieldbridge.outbox")

SETTINGS: dict[str, type[ConnectorSettings]] = {
    "salesforce": SalesforceSettings,
    "sap": SAPSettings,
    "hr": HRSettings,
    "webhooks": WebhookSettings,
    "workday": WorkdaySettings,
}
"""Each remote system's connector settings, by the name the outbox routes use."""
DESTINATIONS = ("salesforce", "sap", "webhooks")
ONE_ATTEMPT = 1
"""The relay's connectors try once per delivery: the outbox stores the retry, so no worker
sleeps through a remote's bad minute and the other rows go on."""


def read_settings() -> Settings:
    """The application's settings from the environment (``ConfigurationError`` naming each
    variable that cannot run)."""
    return load_settings()


@dataclass(frozen=True)
class Systems:
    """Each remote system's connector settings as read, and for each that could not be read,
    why (one line, naming the variables to set)."""

    settings: Mapping[str, ConnectorSettings] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)

    def of(self, system: str) -> ConnectorSettings:
        """The system's settings; ``SetupError`` saying what to set when it has none."""
        if system in self.settings:
            return self.settings[system]
        why = self.problems.get(system, "none were given")
        raise SetupError(f"the {system} settings are incomplete: {why}")


def read_systems(variables: Mapping[str, str] | None = None) -> Systems:
    """Every system's connector settings from ``variables`` (by default the environment)."""
    given = os.environ if variables is None else variables
    found: dict[str, ConnectorSettings] = {}
    problems: dict[str, str] = {}
    for system, kind in SETTINGS.items():
        try:
            found[system] = kind.from_variables(given)
        except ValidationError as exc:
            problems[system] = one_line(exc, str(kind.model_config.get("env_prefix", "")))
    return Systems(found, problems)


class Background(Protocol):
    """Where work outside a request runs: the embedded threads or Celery's workers."""

    def start(self) -> None:
        """In the process that serves the API: take up what a stopped process left."""

    def submit_run(self, run_id: int) -> None:
        """Run a queued schedule run."""

    def outbox_written(self) -> None:
        """A commit made outbox rows due: whoever delivers may look now."""

    def stop(self) -> None:
        """Finish what is under way; what was not started stays queued in the store."""


@dataclass
class Container:
    """What the composition root built for one process; ``dispose`` (or ``with``) ends it."""

    settings: Settings
    systems: Systems
    engine: Engine
    secret_key: str
    attachments: AttachmentStore
    background: Background = field(init=False)
    loop_database: LoopDatabase | None = None

    def new_uow(
        self, *, read_only: bool = False, check: Callable[[UnitOfWork], None] | None = None
    ) -> UnitOfWork:
        """A unit of work, not yet begun (``with`` it, or ``await uow.run``)."""
        return UnitOfWork(
            self.engine,
            read_only=read_only,
            check=check,
            loop_database=self.loop_database,
            on_outbox=self.background.outbox_written,
        )

    def open_loop_database(self) -> None:
        """From the event loop that serves requests (the API's lifespan): let
        ``UnitOfWork.run`` wait for a networked database without blocking that loop."""
        if LoopDatabase.wanted(self.settings.database_url):
            self.loop_database = LoopDatabase(self.settings.database_url)

    async def close_loop_database(self) -> None:
        database, self.loop_database = self.loop_database, None
        if database is not None:
            await database.dispose()

    # --- the remote systems --------------------------------------------------------------

    def connector(self, system: str, **overrides: Any) -> Any:
        """A new connector to ``system`` (``SetupError`` when it is not configured);
        ``overrides`` change its settings (``max_attempts``)."""
        settings = self.systems.of(system)
        if overrides:
            settings = settings.model_copy(update=overrides)
        return _CONNECTORS[system](settings)

    def salesforce_mapping(self) -> SalesforceMapping:
        """The standard org's mapping, or the one ``FIELDBRIDGE_SALESFORCE_MAPPING_FILE``
        names (``SetupError`` when it cannot be read)."""
        return salesforce_mapping(self.settings.salesforce_mapping_file)

    def sync_system(self, system: str) -> SyncSystem:
        """``system`` as a sync sees it: its mapping, streams and connector (the connector's
        settings are only needed when it connects)."""
        found = sync_system(
            system, self.settings.salesforce_mapping_file, technicians=self._technicians(system)
        )
        return found.connected_by(lambda: self.connector(system), self._bulk_threshold(system))

    def _technicians(self, system: str) -> TechnicianFilter | None:
        """Which of Workday's workers are technicians (``FIELDBRIDGE_WORKDAY_TECHNICIAN_
        FILTER``); ``SetupError`` when the setting is not a filter."""
        settings = self.systems.settings.get(system)
        if not isinstance(settings, WorkdaySettings):
            return None
        try:
            return TechnicianFilter.from_json(settings.technician_filter)
        except ValueError as exc:
            raise SetupError(f"FIELDBRIDGE_WORKDAY_TECHNICIAN_FILTER: {exc}") from None

    def _bulk_threshold(self, system: str) -> int | None:
        settings = self.systems.settings.get(system)
        return settings.bulk_threshold if isinstance(settings, SalesforceSettings) else None

    @property
    def webhooks_allow_private(self) -> bool:
        """Whether webhook subscribers may be private addresses
        (``FIELDBRIDGE_WEBHOOK_ALLOW_PRIVATE``)."""
        settings = self.systems.settings.get("webhooks")
        return isinstance(settings, WebhookSettings) and settings.allow_private

    # --- the write-back ------------------------------------------------------------------

    def relay(self, **options: Any) -> Relay:
        """The outbox relay for ``FIELDBRIDGE_OUTBOX_ROUTES``: each routed destination with
        its connectors; a destination whose system is not configured is left out, and its
        rows wait ``parked`` until it is (``options``: the relay's own, e.g. ``clock``)."""
        destinations: dict[str, Destination] = {}
        missing: dict[str, str] = {}
        for name in sorted(set(self.settings.outbox_routes.values())):
            try:
                destinations[name] = self._destination(name)
            except SetupError as exc:
                missing[name] = str(exc)
        for why in missing.values():
            log.warning("outbox: %s; its rows wait, parked, until they are complete", why)
        settings = self.settings
        policy = RelayPolicy(
            lease_s=settings.outbox_lease_s,
            max_attempts=settings.outbox_max_attempts,
            max_age_s=settings.outbox_max_age_s,
            backoff_base_s=settings.outbox_backoff_base_s,
            backoff_max_s=settings.outbox_backoff_max_s,
        )
        return Relay(
            self.new_uow, destinations, settings.outbox_routes, policy, parked=missing, **options
        )

    def _destination(self, name: str) -> Destination:
        if name not in DESTINATIONS:
            raise SetupError(f"{name} is not a destination (one of {', '.join(DESTINATIONS)})")
        self.systems.of(name)  # configured, or why not, before the first delivery
        workers = self.settings.outbox_workers
        if name == "sap":
            return SAPBilling(
                lambda: self.connector("sap", max_attempts=ONE_ATTEMPT),
                workers=workers,
                labour_product=self.settings.billing_labour_product,
                currency=self.settings.billing_currency,
            )
        if name == "salesforce":
            mapping = self.salesforce_mapping()
            sf = self.connector("salesforce", max_attempts=ONE_ATTEMPT)
            return ByEvent(
                {
                    CRM_COMPLETED: SalesforceJobs(sf, mapping),
                    CRM_CERTIFICATION: SalesforceSkills(sf, mapping),
                }
            )
        return FinanceWebhooks(
            lambda: self.connector("webhooks", max_attempts=ONE_ATTEMPT),
            self.new_uow,
            workers=workers,
        )

    # --- the process ---------------------------------------------------------------------

    def submit_run(self, run_id: int) -> None:
        """Run a queued schedule run in the background mode's way."""
        self.background.submit_run(run_id)

    def dispose(self) -> None:
        self.background.stop()
        self.engine.dispose()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()


_CONNECTORS: dict[str, Callable[[Any], Any]] = {
    "salesforce": SalesforceConnector,
    "sap": SAPConnector,
    "hr": HRConnector,
    "webhooks": WebhookConnector,
    "workday": WorkdayConnector,
}


def bootstrap(
    settings: Settings | None = None,
    *,
    systems: Systems | None = None,
    background: Callable[[Container], Background] | None = None,
    checkpoint_in_background: bool = False,
) -> Container:
    """The container for this process. ``systems``: the connectors' settings (read from the
    environment when not given); ``background``: makes the background mode for the
    container (by default embedded, or Celery when ``FIELDBRIDGE_BROKER_URL`` is set);
    ``checkpoint_in_background``: for a long-running process that checkpoints SQLite's WAL
    itself (``orchestrator.store.db.checkpoint``), so no request pays for it."""
    settings = settings or read_settings()
    container = Container(
        settings=settings,
        systems=systems if systems is not None else read_systems(),
        engine=make_engine(
            settings.database_url, checkpoint_in_background=checkpoint_in_background
        ),
        secret_key=settings.resolved_secret_key(),
        attachments=AttachmentStore(
            settings.attachments_dir, settings.max_upload_bytes, settings.max_image_pixels
        ),
    )
    container.background = (background or _background_mode)(container)
    return container


def _background_mode(container: Container) -> Background:
    if container.settings.broker_url:
        from orchestrator.runtime.tasks import CeleryBackground  # Celery: the production mode

        return CeleryBackground(container.settings)
    from orchestrator.runtime.embedded import WAKE_VARIABLE, EmbeddedBackground, Forwarder

    if address := os.environ.get(WAKE_VARIABLE):
        return Forwarder(address)
    return EmbeddedBackground(container.settings, container.new_uow, container.relay)


def worker_context(container: Container) -> WorkerContext:
    """What a Celery worker's tasks use, from this process's container."""
    from orchestrator.runtime.tasks import WorkerContext

    return WorkerContext(
        settings=container.settings,
        new_uow=container.new_uow,
        relay=container.relay(),
        sync_system=container.sync_system,
    )
