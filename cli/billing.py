"""``fieldbridge billing reconcile [--no-sap] [--json PATH] [--closed-from WHEN] [--closed-to
WHEN]``: billing reconciliation for finance from a terminal.

Every closed work order with its billing triggers (the ERP billing request and each finance
trigger), their delivery state, SAP's document id and, unless ``--no-sap``, the invoice SAP
made of it, read back through ``FIELDBRIDGE_SAP_*`` for the delivered billing requests, and
compared line by line with what the order owed (the labour as hours of
``FIELDBRIDGE_BILLING_LABOUR_PRODUCT``, each part as its SAP material).
What is missing on either side comes first (a closed order without a trigger, a dead letter,
an invoice naming no order of ours, a delivered request SAP has not invoiced, an invoice
whose lines differ from what the order owed, each difference named); the command exits 1
when anything is, 0 otherwise (2 when it cannot run).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cli.console import err, error, stop, when
from connectors.errors import ConnectorError
from orchestrator.domain.errors import SetupError
from orchestrator.outbox import billing
from orchestrator.outbox.events import ERP_BILLING
from orchestrator.runtime.bootstrap import Container, bootstrap

billing_app = typer.Typer(
    help="Billing for finance: reconciliation with SAP.", no_args_is_help=True
)

CHUNK = 100  # documents per invoice query: the selection stays a sensible SOAP message
COLOURS = {
    "missing_trigger": "bold red",
    "dead": "red",
    "unknown_invoice": "magenta",
    "delivered_not_invoiced": "yellow",
    "line_mismatch": "yellow",
    "pending": "cyan",
    "delivered": "",
    "invoiced": "green",
}


def _delivered_documents(report: dict[str, Any]) -> list[str]:
    """The tracking codes whose ERP billing request SAP took: the documents to read back."""
    return [
        entry["tracking_code"]
        for entry in report["orders"]
        if any(t["event"] == ERP_BILLING and t["state"] == "delivered" for t in entry["triggers"])
    ]


def _read_invoices(container: Container, documents: Iterable[str]) -> list[dict[str, Any]]:
    """SAP's invoices for these documents of ours, in chunks (or a clear stop)."""
    try:
        connector = container.connector("sap")
    except SetupError as exc:
        raise stop(f"{exc} (or pass --no-sap)") from None
    wanted = list(documents)
    found: list[dict[str, Any]] = []
    with connector as sap:
        try:
            with err.status(f"reading SAP's invoices for {len(wanted)} documents ..."):
                for start in range(0, len(wanted), CHUNK):
                    found += sap.invoices_for(wanted[start : start + CHUNK])
        except ConnectorError as exc:
            raise stop(f"sap: {exc}") from None
    return found


def _table(entries: list[dict[str, Any]], shown: int) -> Table:
    table = Table(title="billing reconciliation")
    columns = ("status", "order", "closed at", "customer", "triggers", "SAP document", "invoice")
    for name in columns:
        table.add_column(name, overflow="fold")
    for entry in entries[:shown]:
        customer = entry["customer"] or {}
        triggers = ", ".join(
            f"{t['destination']}:{t['state']}"
            + (f" ({t['attempts']}x)" if t["state"] != "delivered" else "")
            for t in entry["triggers"]
        )
        problems = "; ".join(t["last_error"] for t in entry["triggers"] if t["last_error"])
        if problems:
            triggers += f"\n{problems}"
        erp = next((t for t in entry["triggers"] if t["event"] == ERP_BILLING), None)
        invoice = entry["invoice"]
        billed = f"{invoice['id']} ({invoice['date']})" if invoice else "-"
        for mismatch in entry.get("mismatches") or []:
            billed += "\n" + _mismatch(mismatch)
        table.add_row(
            entry["status"],
            escape(entry["tracking_code"]),
            when(entry["closed_at"]),
            escape(str(customer.get("name") or customer.get("external_id") or "-")),
            escape(triggers or "-"),
            escape((erp or {}).get("remote_id") or "-"),
            escape(billed),
            style=COLOURS[entry["status"]],
        )
    return table


def _mismatch(mismatch: dict[str, Any]) -> str:
    """``part FD-16 (P-FD16): another quantity: owed 1 EA, invoiced 2 EA``."""
    owed = mismatch["owed"] or "nothing"
    invoiced = mismatch["invoiced"] or "nothing"
    return (
        f"{mismatch['line']} ({mismatch['product_id']}): {mismatch['why']}: "
        f"owed {owed}, invoiced {invoiced}"
    )


def _instant(option: str, text: str | None) -> datetime | None:
    """A date (its midnight) or an ISO 8601 time; UTC unless it says otherwise."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise stop(f"{option}: {text!r} is not a date or an ISO 8601 time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _summary(report: dict[str, Any]) -> str:
    summary = report["summary"]
    counts = ", ".join(
        f"{summary[status]} {status}" for status in billing.STATUSES if summary[status]
    )
    read = "SAP read back" if report["read_back"] else "SAP not read (--no-sap)"
    period = " ".join(
        f"{word} {when(report['period'][key])}"
        for word, key in (("from", "closed_from"), ("before", "closed_to"))
        if report["period"][key] is not None
    )
    return (
        f"{summary['orders']} closed orders{f' (closed {period})' if period else ''}, "
        f"{summary['problems']} problem"
        f"{'s' if summary['problems'] != 1 else ''}: {counts or 'nothing to bill'} ({read})"
    )


@billing_app.command("reconcile")
def reconcile_cmd(
    no_sap: Annotated[
        bool, typer.Option("--no-sap", help="the store only: do not read SAP's invoices")
    ] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="write the whole report here (JSON)")
    ] = None,
    limit: Annotated[int, typer.Option(help="table rows at most", min=1, max=100_000)] = 200,
    closed_from: Annotated[
        str | None,
        typer.Option(
            help="orders closed at or after this only: a date or an ISO 8601 time "
            "(UTC unless it has an offset)"
        ),
    ] = None,
    closed_to: Annotated[
        str | None, typer.Option(help="orders closed before this only (as --closed-from)")
    ] = None,
) -> None:
    """Every closed order (of the period, where given) with its billing triggers, their
    delivery state, SAP's document id and the invoice SAP made of it, its lines compared
    with what the order owed; what is missing or differs on either side first. Exits 1 when
    anything is, 0 otherwise."""
    start = _instant("--closed-from", closed_from)
    end = _instant("--closed-to", closed_to)
    if start is not None and end is not None and end <= start:
        raise stop("--closed-to: must come after --closed-from")
    with bootstrap() as container:
        labour_product = container.settings.billing_labour_product
        with container.new_uow(read_only=True) as uow:
            report = billing.reconciliation(uow, closed_from=start, closed_to=end)
        if not no_sap:
            found = _read_invoices(container, _delivered_documents(report))
            for document in billing.duplicates(found):
                error(f"SAP has more than one invoice for {document}")
            with container.new_uow(read_only=True) as uow:
                invoices = billing.by_document(found)
                report = billing.reconciliation(
                    uow,
                    invoices=invoices,
                    closed_from=start,
                    closed_to=end,
                    labour_product=labour_product,
                )
    err.print(_table(report["orders"], limit))
    if report["shown"] > limit:
        err.print(f"({report['shown'] - limit} more rows: see --json or --limit)")
    summary = _summary(report)
    err.print(f"[{'red' if report['summary']['problems'] else 'green'}]{escape(summary)}[/]")
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        except OSError as exc:
            raise stop(f"cannot write {json_path}: {exc.strerror or exc}") from None
        err.print(f"report written to {escape(str(json_path))}")
    if report["summary"]["problems"]:
        raise typer.Exit(code=1)
