"""``fieldbridge sandbox up``: the outside world on loopback, for the embedded mode and demos."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.console import err, stop
from devtools.world import World, WorldError, world
from sandbox.finance import FinanceSimulator
from sandbox.hr import HRSimulator
from sandbox.salesforce import SalesforceSimulator, SeedSummary
from sandbox.sap import SAPSimulator

sandbox_app = typer.Typer(
    help="Local simulators of the systems fieldbridge syncs with.", no_args_is_help=True
)


def _show(title: str, rows: tuple[tuple[str, str], ...]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for name, value in rows:
        table.add_row(name, escape(value))
    err.print(table)


@sandbox_app.command("up")
def up(
    customers: Annotated[int, typer.Option(help="Accounts to seed", min=0)] = 1000,
    assets: Annotated[int, typer.Option(help="Assets to seed", min=0)] = 2000,
    contacts: Annotated[
        int | None, typer.Option(help="Contacts to seed [default: one per customer]", min=0)
    ] = None,
    work_orders: Annotated[int, typer.Option(help="WorkOrders to seed", min=0)] = 200,
    seed: Annotated[int, typer.Option(help="seed of the data and the credentials")] = 1,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1 (0: a free one)", min=0)] = 0,
    workdir: Annotated[
        Path, typer.Option(help="where the CA, certificate and private key are written")
    ] = Path(".fieldbridge/sandbox/salesforce"),
    workers: Annotated[
        int, typer.Option(help="technicians in the HR simulator (3 certifications each)", min=0)
    ] = 50,
    hr_port: Annotated[
        int, typer.Option(help="HR simulator's port on 127.0.0.1 (0: a free one)", min=0)
    ] = 0,
    hr_workdir: Annotated[
        Path, typer.Option(help="where the HR simulator's CA and certificate are written")
    ] = Path(".fieldbridge/sandbox/hr"),
    sap_customers: Annotated[
        int, typer.Option(help="customers (billing accounts) in the SAP simulator", min=0)
    ] = 1000,
    sap_equipment: Annotated[
        int, typer.Option(help="equipment (identified stock) in the SAP simulator", min=0)
    ] = 500,
    sap_port: Annotated[
        int, typer.Option(help="SAP simulator's port on 127.0.0.1 (0: a free one)", min=0)
    ] = 0,
    sap_workdir: Annotated[
        Path, typer.Option(help="where the SAP simulator's CA and certificate are written")
    ] = Path(".fieldbridge/sandbox/sap"),
    finance_port: Annotated[
        int, typer.Option(help="finance receiver's port on 127.0.0.1 (0: a free one)", min=0)
    ] = 0,
    finance_workdir: Annotated[
        Path, typer.Option(help="where the finance receiver's CA and certificate are written")
    ] = Path(".fieldbridge/sandbox/finance"),
) -> None:
    """Start the Salesforce, HR and SAP simulators with seeded data and a finance webhook
    receiver, until Ctrl-C.

    Prints where they are and the credentials (standard error), and the
    ``FIELDBRIDGE_SALESFORCE_*``, ``FIELDBRIDGE_HR_*``, ``FIELDBRIDGE_SAP_*`` and
    ``FIELDBRIDGE_WEBHOOK_*`` settings that point fieldbridge at them (standard output).
    The finance receiver's URL and secret are for a webhook subscription
    (POST /api/v1/webhook-subscriptions).
    """
    sf = SalesforceSimulator(seed=seed, port=port, workdir=workdir)
    summary = _seeded(sf, customers, assets, contacts, work_orders)
    simulators = world(
        salesforce=sf,
        hr=HRSimulator(seed=seed, workers=workers, port=hr_port, workdir=hr_workdir),
        sap=SAPSimulator(seed=seed, customers=sap_customers, stocks=sap_equipment,
                         port=sap_port, workdir=sap_workdir),
        finance=FinanceSimulator(seed=seed, port=finance_port, workdir=finance_workdir),
    )  # fmt: skip
    try:
        with simulators as running:
            _describe(running, summary, workers)
            err.print("settings for fieldbridge (standard output); Ctrl-C stops the simulators")
            for name, value in running.variables("jwt").items():
                sys.stdout.write(f"{name}={value}\n")
            sys.stdout.flush()
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
            err.print("stopping the simulators")
    except WorldError as exc:
        raise stop(str(exc)) from None


def _seeded(
    sf: SalesforceSimulator, customers: int, assets: int, contacts: int | None, work_orders: int
) -> SeedSummary:
    """The org seeded, with a progress bar per object."""
    planned = {
        "Account": customers,
        "Contact": customers if contacts is None else contacts,
        "Asset": assets,
        "WorkOrder": work_orders,
    }
    columns = (TextColumn("seeding {task.description:<10}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err) as progress:
        bars = {
            name: progress.add_task(name, total=total) for name, total in planned.items() if total
        }

        def report(name: str, done: int, total: int) -> None:
            if name in bars:
                progress.update(bars[name], completed=done, total=total)

        return sf.seed(customers=customers, assets=assets, contacts=contacts,
                       work_orders=work_orders, progress=report)  # fmt: skip


def _describe(running: World, summary: SeedSummary, workers: int) -> None:
    """Where each simulator is, its credentials and what it holds."""
    sf, hr, sap, finance = running.salesforce, running.hr, running.sap, running.finance
    assert sf is not None and hr is not None and sap is not None and finance is not None  # nosec B101  # the world started every simulator; this narrows the type
    _show("Salesforce simulator", (
        ("login URL", sf.login_url), ("instance URL", sf.instance_url),
        ("API version", sf.api_version), ("CA bundle", str(sf.ca_path)),
        ("client id", sf.client_id), ("client secret", sf.client_secret),
        ("username", sf.username), ("password", sf.password),
        ("private key (JWT)", str(sf.private_key_path)),
        ("records", ", ".join(f"{n} {k}" for k, n in summary.counts.items())),
        ("malformed on purpose", str(len(summary.malformed))),
        ("ledger", f"{sf.login_url}/__ledger"), ("faults", f"POST {sf.login_url}/__faults"),
    ))  # fmt: skip
    _show("HR simulator", (
        ("URL", hr.url), ("CA bundle", str(hr.ca_path)), ("token", hr.token),
        ("certifications", f"{hr.count()} of {workers} technicians"),
        ("malformed on purpose", str(len(hr.malformed_ids()))),
        ("feed", f"GET {hr.url}/v1/certifications"),
        ("ledger", f"{hr.url}/__ledger"), ("faults", f"POST {hr.url}/__faults"),
    ))  # fmt: skip
    _show("SAP simulator", (
        ("URL", sap.url), ("QueryCustomerIn", sap.service_url("QueryCustomerIn")),
        ("WSDL folder", str(sap.wsdl_dir)), ("CA bundle", str(sap.ca_path)),
        ("username", sap.username), ("password", sap.password),
        ("customers", str(sap.count())),
        ("QueryIdentifiedStocksIn", sap.service_url("QueryIdentifiedStocksIn")),
        ("equipment", str(sap.stock_count())),
        ("malformed on purpose", str(len(sap.malformed_ids()))),
        ("ledger", f"{sap.url}/__ledger"), ("faults", f"POST {sap.url}/__faults"),
    ))  # fmt: skip
    _show("finance webhook receiver", (
        ("subscription URL", finance.endpoint), ("subscription secret", finance.secret),
        ("CA bundle", str(finance.ca_path)),
        ("register", "POST /api/v1/webhook-subscriptions {url, secret} (admin)"),
        ("ledger", f"{finance.url}/__ledger"), ("faults", f"POST {finance.url}/__faults"),
    ))  # fmt: skip
