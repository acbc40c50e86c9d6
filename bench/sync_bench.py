"""The inbound sync at volume: a first load and an incremental run from the Salesforce simulator,
a first load of the HR certifications from the HR simulator and a first load of the SAP
customers from the SAP simulator.

Usage::

    .venv/bin/python bench/sync_bench.py [--backends sqlite,postgresql] [--accounts 100000]
        [--assets 200000] [--touch 0.01] [--naive 2000] [--hr-workers 10000]
        [--sap-customers 20000] [--json results.json]

For each backend: a migrated throwaway store (a SQLite file in a temp dir; a PostgreSQL
database ``fb_bench_<random>`` on ``postgresql+psycopg://postgres@127.0.0.1:5432``, dropped
``WITH (FORCE)`` afterwards, skipped and said so when nothing answers there), and a
simulator seeded with ``--accounts`` Accounts (no Contacts) and ``--assets`` Assets (1% of
each malformed, as the simulator seeds them). Then, through the real connector over HTTPS:

``accounts``     the first load of the customers stream (Account -> customer + site).
``assets``       the first load of the assets stream.
``incremental``  ``--touch`` of the Accounts and of the Assets touched at the simulator, then
                 one run of both streams from their cursors.
``naive``        beside them, in a store of its own: a per-record loop over the first
                 ``--naive`` Accounts: GET each by id through the connector
                 (``/sobjects/Account/{Id}``) and upsert its customer and site in a
                 transaction of its own;
                 extrapolated to records/s and compared with the engine's first load.

Then, when ``--hr-workers`` is above 0, an HR simulator of its own seeded with that many
workers (3 certifications each, 2% malformed, as the simulator seeds them), its workers
inserted as technicians (``source_system`` ``hr``, ``external_id`` the worker id) into the
same store in one statement, and, through the real HR connector over HTTPS:

``certifications``  the first load of the HR certifications stream (pages of 1,000).
``hr naive``        beside it, in a store of its own holding the same technicians: a
                    per-record loop over the first ``--naive`` certifications of the feed,
                    read with ``page_size=1`` (one call per record: the feed has no read by
                    id); each mapped, its technician found by (hr, worker id) and its
                    certification upserted (select, then insert or update) in a transaction
                    of its own; extrapolated and compared with the engine's first load.

Then, when ``--sap-customers`` is above 0, a SAP simulator of its own seeded with that many
customers (1% malformed, as the simulator seeds them) and, through the real SAP connector
over HTTPS (SOAP, zeep), into the same store:

``sap customers``  the first load of SAP's customers stream (QueryCustomerIn, pages of 1,000
                   hits: the connector's largest page).
``sap naive``      beside it, in a store of its own: a per-record loop over the first
                   ``--naive`` customers, read with ``page_size=1`` (one call per record, as
                   the HR naive loop reads its feed); each mapped and its customer upserted
                   (select, then insert or update) in a transaction of its own;
                   extrapolated and compared with the engine's first load.

Records/s counts remote records read (an Account is one record, two rows; a certification or
a SAP customer one record, one row). API calls are the connectors' requests: REST for
Salesforce and HR, SOAP for SAP (the Salesforce login not counted; the HR feed's static
token and SAP's HTTP Basic auth need none). Floor (per the issue): 100,000
Accounts into the store in under 60 s with no more than 60 API calls. The exit code is 0
even when the floor is missed (this is a benchmark, not a test); a miss is printed as
MISSED. ``--json PATH`` writes one flat object whose keys carry their unit:
``accounts_load_s``, ``accounts_load_api_calls``, ``accounts_records_per_s``, ...,
``certifications_load_s``, ``certifications_records_per_s``, ``hr_engine_to_naive_ratio_x``,
``sap_customers_load_s``, ``sap_customers_records_per_s``, ``sap_engine_to_naive_ratio_x``, ...
(the first backend's unprefixed, every backend's with its name: ``postgresql_accounts_load_s``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Connection, insert, select, update
from sqlalchemy import Table as SQLTable

from connectors.hr import HRConnector, HRSettings
from connectors.salesforce import SalesforceConnector
from connectors.sap import MAX_PAGE_SIZE as SAP_MAX_PAGE_SIZE
from connectors.sap import SAPConnector
from mappings.errors import MappingError
from mappings.hr import HRMapping
from mappings.records import InboundMap, Mapped
from mappings.salesforce import SalesforceMapping, to_canonical
from mappings.sap import SAPMapping
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.sync import (
    Stream,
    StreamResult,
    hr_streams,
    run_stream,
    salesforce_streams,
    sap_streams,
)
from orchestrator.sync.streams import json_safe
from sandbox.hr import HRSimulator
from sandbox.salesforce import SalesforceSimulator
from sandbox.sap import SAPSimulator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.connect import sap_connector, sf_connector
from bench.stores import (
    PG_ADMIN_URL,
    PG_HOST,
    PG_PORT,
    by_backend,
    parse_backends,
    parser_for,
    postgres_answers,
    postgres_database,
    store,
)

FLOOR_S, FLOOR_CALLS = 60.0, 60
MAPPING = SalesforceMapping()
STREAMS = salesforce_streams(MAPPING)
HR_MAPPING = HRMapping()
HR_STREAMS = hr_streams()
HR_PAGE_SIZE = 1000  # the feed's largest page
SAP_MAPPING = SAPMapping()
SAP_STREAMS = sap_streams()
SAP_PAGE_SIZE = min(1000, SAP_MAX_PAGE_SIZE)  # the connector's largest page (the simulator's: any)
VIA = {"salesforce": "query", "hr": "feed", "sap": "SOAP query"}  # how a stream's system reads

console = Console(width=None if sys.stdout.isatty() else 170)


def hr_connector(sim: HRSimulator) -> HRConnector:
    values = {k.removeprefix("FIELDBRIDGE_HR_").lower(): v for k, v in sim.env().items()}
    return HRConnector(HRSettings(**values))  # type: ignore[arg-type]


def add_technicians(container: Container, workers: list[str]) -> None:
    """The HR workers as technicians (``hr``, worker id), in one statement (executemany)."""
    with container.new_uow() as work:
        work.connection().execute(
            insert(models.table_of(models.Technician)),
            [
                {
                    "source_system": "hr",
                    "external_id": worker,
                    "name": f"Technician {worker}",
                    "home_latitude": 52.5,
                    "home_longitude": 13.4,
                    "time_zone": "Europe/Berlin",
                    "version": 1,
                }
                for worker in workers
            ],
        )
        work.commit()


# --- the phases ------------------------------------------------------------------------------


def timed_run(
    container: Container,
    sf: SalesforceConnector | HRConnector | SAPConnector,
    names: list[str],
    progress: Progress,
    label: str,
    total: int | None,
    bulk_threshold: int | None,
    *,
    streams: Mapping[str, Stream] = STREAMS,
    mapping: InboundMap = MAPPING,
    batch_size: int = 2000,
) -> dict[str, Any]:
    """Run ``names`` (of ``streams``, Salesforce's by default) in order from their cursors;
    seconds, API calls, records, counts."""
    task = progress.add_task(label, total=total, counts="")
    done = 0

    def report(result: StreamResult) -> None:
        progress.update(
            task,
            completed=done + result.read,
            counts=f"{result.stream}: {result.read:,} read, {result.written:,} written, "
            f"{result.quarantined:,} quarantined",
        )

    calls = sf.api_calls
    start = time.perf_counter()
    results = []
    for name in names:
        results.append(
            run_stream(
                container.new_uow,
                sf,
                streams[name],
                mapping,
                bulk_threshold=bulk_threshold,
                batch_size=batch_size,
                on_page=report,
            )
        )
        done += results[-1].read
    seconds = time.perf_counter() - start
    progress.update(task, total=done, completed=done)
    read = sum(r.read for r in results)
    return {
        "s": seconds,
        "api_calls": sf.api_calls - calls,
        "records": read,
        "records_per_s": read / seconds if seconds else 0.0,
        "written": sum(r.written for r in results),
        "skipped": sum(r.skipped for r in results),
        "quarantined": sum(r.quarantined for r in results),
        "via": "+".join(
            sorted({"bulk" if r.bulk else VIA.get(r.system, r.system) for r in results})
        ),
    }


def select_row(connection: Connection, table: SQLTable, system: str, external_id: str) -> Any:
    """``table``'s row (its ``id``) for (``system``, ``external_id``), or None."""
    key = (table.c.source_system == system) & (table.c.external_id == external_id)
    return connection.execute(select(table.c.id).where(key)).first()


def upsert_row(
    connection: Connection, table: SQLTable, mapped: Mapped[Any], values: dict[str, Any]
) -> None:
    """Select ``mapped``'s row in ``table`` by (``source_system``, ``external_id``), then
    insert it with ``values`` and its ``remote_stamp``, or update it with them."""
    row = select_row(connection, table, mapped.system, mapped.external_id)
    if row is None:
        connection.execute(insert(table).values(**values, remote_stamp=mapped.stamp))
    else:
        connection.execute(
            update(table).where(table.c.id == row.id).values(**values, remote_stamp=mapped.stamp)
        )


def per_record_loop(
    pages: Iterable[list[dict[str, Any]]],
    source: SalesforceConnector | HRConnector | SAPConnector,
    limit: int,
    label: str,
    progress: Progress,
    apply: Callable[[dict[str, Any]], int | None],
) -> dict[str, Any]:
    """Read ``pages`` (one record each: one call per record), ``apply`` each record (its
    rows written, each record in a transaction of its own; None when skipped) until ``limit``
    records are read; seconds, ``source``'s API calls, records, counts."""
    task = progress.add_task(label, total=limit, counts="")
    calls = source.api_calls
    start = time.perf_counter()
    read = written = skipped = 0
    for page in pages:
        for raw in page:
            read += 1
            rows = apply(raw)
            if rows is None:
                skipped += 1
            else:
                written += rows
        if read % 50 == 0 or read >= limit:
            progress.update(task, completed=read, counts=f"{read:,} records, {written:,} rows")
        if read >= limit:
            break
    seconds = time.perf_counter() - start
    progress.update(task, total=read, completed=read)
    return {
        "s": seconds,
        "api_calls": source.api_calls - calls,
        "records": read,
        "records_per_s": read / seconds if seconds else 0.0,
        "written": written,
        "skipped": skipped,
    }


def naive_loop(
    container: Container, sf: SalesforceConnector, ids: list[str], progress: Progress
) -> dict[str, Any]:
    """Per record: one GET by id, then its rows upserted in a transaction of its own."""
    stream = STREAMS["customers"]

    def apply(raw: dict[str, Any]) -> int:
        written = 0
        with container.new_uow() as work:
            connection = work.connection()
            customer_id = None
            for entity in stream.entities:
                try:
                    mapped = to_canonical(MAPPING, entity, raw)
                except MappingError:
                    continue
                table = models.table_of(models.Customer if entity == "customer" else models.Site)
                row = select_row(connection, table, mapped.system, mapped.external_id)
                ids_ = {name: customer_id for name in mapped.refs}
                if None in ids_.values():
                    continue
                values = mapped.canonical(ids_).model_dump()
                if row is None:
                    done = connection.execute(
                        insert(table).values(**values, remote_stamp=mapped.stamp)
                    )
                    if entity == "customer":
                        customer_id = (done.inserted_primary_key or (None,))[0]
                else:
                    connection.execute(update(table).where(table.c.id == row.id).values(**values))
                    customer_id = row.id if entity == "customer" else customer_id
                written += 1
            work.commit()
        return written

    pages = ([sf.record("Account", record_id)] for record_id in ids)
    return per_record_loop(pages, sf, len(ids), "naive loop", progress, apply)


def hr_naive_loop(
    container: Container, hr: HRConnector, limit: int, progress: Progress
) -> dict[str, Any]:
    """Per record: read one at a time (``page_size=1``: one call each, the feed has no read by
    id), map it, then find its technician and upsert its certification in a transaction of
    its own. Stops after ``limit`` records (or at the end of the feed)."""
    certs = models.table_of(models.Certification)
    techs = models.table_of(models.Technician)

    def apply(raw: dict[str, Any]) -> int | None:
        try:
            mapped = HR_MAPPING.to_canonical("certification", raw)
        except MappingError:
            return None
        worker = mapped.refs["technician_id"]
        with container.new_uow() as work:
            connection = work.connection()
            technician = select_row(connection, techs, worker.system, worker.external_id)
            if technician is None:
                return None
            values = mapped.canonical({"technician_id": technician.id}).model_dump()
            upsert_row(connection, certs, mapped, values)
            work.commit()
            return 1

    pages = hr.certification_pages(page_size=1)  # one call per record
    return per_record_loop(pages, hr, limit, "hr naive", progress, apply)


def bench_hr(
    container: Container,
    url: str | None,
    args: argparse.Namespace,
    workdir: Path,
    progress: Progress,
    out: dict[str, Any],
) -> None:
    """The HR phases: ``certifications`` into ``container`` (which already holds the
    Salesforce phases' rows), ``hr naive`` into a store of its own."""
    with HRSimulator(seed=args.seed, workers=args.hr_workers) as sim, hr_connector(sim) as hr:
        records = sim.records()
        workers = sorted({str(r["worker_id"]) for r in records if r.get("worker_id")})
        out["hr_seeded"] = len(records)
        add_technicians(container, workers)
        out["certifications"] = timed_run(
            container,
            hr,
            ["certifications"],
            progress,
            "certifications",
            len(records),
            None,
            streams=HR_STREAMS,
            mapping=HR_MAPPING,
            batch_size=HR_PAGE_SIZE,
        )
        if args.naive:
            with store(url and _sibling(url, "hr_naive"), workdir) as naive_store:
                add_technicians(naive_store, workers)
                out["hr naive"] = hr_naive_loop(naive_store, hr, args.naive, progress)


def sap_naive_loop(
    container: Container, sap: SAPConnector, limit: int, progress: Progress
) -> dict[str, Any]:
    """Per record: read one at a time (``page_size=1``: one call each, as the HR naive loop
    reads its feed), map it, then select its customer and insert or update it in a
    transaction of its own. Stops after ``limit`` records (or at the last customer)."""
    customers = models.table_of(models.Customer)

    def apply(raw: dict[str, Any]) -> int | None:
        try:
            mapped = SAP_MAPPING.to_canonical("customer", json_safe(raw))
        except MappingError:
            return None
        with container.new_uow() as work:
            connection = work.connection()
            if mapped.deleted:  # obsolete: a tombstone for a customer held, else nothing
                row = select_row(connection, customers, mapped.system, mapped.external_id)
                if row is None:
                    return None
                connection.execute(
                    update(customers)
                    .where(customers.c.id == row.id)
                    .values(deleted_at=mapped.stamp, remote_stamp=mapped.stamp)
                )
            else:
                upsert_row(connection, customers, mapped, mapped.canonical({}).model_dump())
            work.commit()
            return 1

    pages = sap.customer_pages(page_size=1)  # one call per record
    return per_record_loop(pages, sap, limit, "sap naive", progress, apply)


def bench_sap(
    container: Container,
    url: str | None,
    args: argparse.Namespace,
    workdir: Path,
    progress: Progress,
    out: dict[str, Any],
) -> None:
    """The SAP phases: ``sap customers`` into ``container`` (which already holds the
    Salesforce and HR phases' rows), ``sap naive`` into a store of its own."""
    with (
        SAPSimulator(seed=args.seed, customers=args.sap_customers) as sim,
        sap_connector(sim) as sap,
    ):
        out["sap_seeded"] = sim.count()
        out["sap customers"] = timed_run(
            container,
            sap,
            ["customers"],
            progress,
            "sap customers",
            out["sap_seeded"],
            None,
            streams=SAP_STREAMS,
            mapping=SAP_MAPPING,
            batch_size=SAP_PAGE_SIZE,
        )
        if args.naive:
            with store(url and _sibling(url, "sap_naive"), workdir) as naive_store:
                out["sap naive"] = sap_naive_loop(naive_store, sap, args.naive, progress)


def bench_backend(url: str | None, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with (
        SalesforceSimulator(
            seed=args.seed, customers=args.accounts, contacts=0, assets=args.assets
        ) as sim,
        sf_connector(sim) as sf,
        Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            TextColumn("{task.completed:>9,.0f}"),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        sf.limits()  # log in before anything is timed (one call, not counted below)
        sim.set_api_usage(limit=10_000_000)
        with store(url, workdir) as container:
            bulk = args.bulk_threshold
            out["accounts"] = timed_run(
                container, sf, ["customers"], progress, "accounts", args.accounts, bulk
            )
            out["assets"] = timed_run(
                container, sf, ["assets"], progress, "assets", args.assets, bulk
            )
            accounts = sim.touch("Account", int(args.accounts * args.touch))
            assets = sim.touch("Asset", int(args.assets * args.touch))
            out["touched"] = len(accounts.ids) + len(assets.ids)
            out["incremental"] = timed_run(
                container,
                sf,
                ["customers", "assets"],
                progress,
                "incremental",
                None,
                bulk,
            )
            if args.naive:
                with store(url and _sibling(url, "naive"), workdir) as naive_store:
                    sample = [row[0] for row in sim.org.table("Account").rows[: args.naive]]
                    out["naive"] = naive_loop(naive_store, sf, sample, progress)
            if args.hr_workers:
                bench_hr(container, url, args, workdir, progress, out)
            if args.sap_customers:
                bench_sap(container, url, args, workdir, progress, out)
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _sibling(url: str, suffix: str) -> str:
    """Another throwaway PostgreSQL database beside ``url``'s, ``<name>_<suffix>`` (made here,
    dropped at exit)."""
    import psycopg

    name = f"{url.rsplit('/', 1)[1]}_{suffix}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _SIBLINGS.append(name)
    return f"{url.rsplit('/', 1)[0]}/{name}"


_SIBLINGS: list[str] = []


def _drop_siblings() -> None:
    if not _SIBLINGS:
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for name in _SIBLINGS:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _SIBLINGS.clear()


# --- the report ------------------------------------------------------------------------------


def floor_met(run: dict[str, Any]) -> bool:
    return bool(run["accounts"]["s"] < FLOOR_S and run["accounts"]["api_calls"] <= FLOOR_CALLS)


def print_table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    title = (
        f"inbound sync from the simulators: {args.accounts:,} Accounts, {args.assets:,} "
        f"Assets, {args.touch:.0%} touched"
    )
    if args.hr_workers:
        title += f"; {args.hr_workers:,} HR workers' certifications"
    if args.sap_customers:
        title += f"; {args.sap_customers:,} SAP customers"
    table = Table(title=title)
    for name, justify in (
        ("backend", "left"),
        ("phase", "left"),
        ("via", "left"),
        ("records", "right"),
        ("seconds", "right"),
        ("records/s", "right"),
        ("API calls", "right"),
        ("written", "right"),
        ("quarantined", "right"),
        ("floor", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    naive_of = {  # naive -> its engine load
        "naive": "accounts",
        "hr naive": "certifications",
        "sap naive": "sap customers",
    }
    for backend, run in results.items():
        labels = {
            "accounts": ("first load, accounts", ""),
            "assets": ("first load, assets", ""),
            "incremental": (f"incremental ({run.get('touched', 0):,} touched)", ""),
            "naive": ("naive loop (sample)", "GET by id"),
            "certifications": ("first load, HR certifications", ""),
            "hr naive": ("HR naive loop (sample)", "feed, 1/page"),
            "sap customers": ("first load, SAP customers", ""),
            "sap naive": ("SAP naive loop (sample)", "SOAP query, 1/page"),
        }
        for phase, (label, via) in labels.items():
            if phase not in run:
                continue
            stats = run[phase]
            verdict = ""
            if phase == "accounts":
                verdict = f"< {FLOOR_S:.0f} s, <= {FLOOR_CALLS} calls: " + (
                    "[green]met[/green]" if floor_met(run) else "[bold red]MISSED[/bold red]"
                )
            elif phase in naive_of:
                ratio = run[naive_of[phase]]["records_per_s"] / stats["records_per_s"]
                verdict = f"engine {ratio:,.0f}x faster; {stats['api_calls']:,} calls"
            table.add_row(
                backend,
                label,
                stats.get("via", via),
                f"{stats['records']:,}",
                f"{stats['s']:.1f}",
                f"{stats['records_per_s']:,.0f}",
                f"{stats['api_calls']:,}",
                f"{stats['written']:,}",
                f"{stats['quarantined']:,}" if "quarantined" in stats else "-",
                verdict,
            )
    console.print(table)
    for backend, run in results.items():
        if "naive" in run:
            naive = run["naive"]
            console.print(
                f"{backend}: the naive loop would take "
                f"{args.accounts / naive['records_per_s']:,.0f} s and {args.accounts:,} API "
                f"calls for {args.accounts:,} Accounts (peak memory {run['max_rss_mb']:,.0f} MB)"
            )
        if "hr naive" in run:
            naive, seeded = run["hr naive"], run["hr_seeded"]
            console.print(
                f"{backend}: the HR naive loop would take {seeded / naive['records_per_s']:,.0f}"
                f" s and {seeded:,} API calls for {seeded:,} certifications (the engine: "
                f"{run['certifications']['s']:,.1f} s, "
                f"{run['certifications']['api_calls']:,} calls)"
            )
        if "sap naive" in run:
            naive, seeded, engine = run["sap naive"], run["sap_seeded"], run["sap customers"]
            console.print(
                f"{backend}: the SAP naive loop would take {seeded / naive['records_per_s']:,.0f}"
                f" s and {seeded:,} API calls for {seeded:,} customers (the engine: "
                f"{engine['s']:,.1f} s, {engine['api_calls']:,} calls)"
            )


def flat_json(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "accounts_seeded": args.accounts,
        "assets_seeded": args.assets,
        "touched_share_pct": round(args.touch * 100, 2),
        "naive_sample_records": args.naive,
        "hr_workers_seeded": args.hr_workers,
        "sap_customers_seeded": args.sap_customers,
    }
    for index, (backend, run) in enumerate(results.items()):
        flat: dict[str, Any] = {}
        for phase in ("accounts", "assets"):
            stats = run[phase]
            flat[f"{phase}_load_s"] = round(stats["s"], 2)
            flat[f"{phase}_load_api_calls"] = stats["api_calls"]
            flat[f"{phase}_records"] = stats["records"]
            flat[f"{phase}_records_per_s"] = round(stats["records_per_s"], 1)
            flat[f"{phase}_quarantined_records"] = stats["quarantined"]
        inc = run["incremental"]
        flat["incremental_touched_records"] = run["touched"]
        flat["incremental_s"] = round(inc["s"], 2)
        flat["incremental_api_calls"] = inc["api_calls"]
        flat["incremental_records"] = inc["records"]
        flat["incremental_written_rows"] = inc["written"]
        flat["incremental_records_per_s"] = round(inc["records_per_s"], 1)
        if "naive" in run:
            flat["naive_records_per_s"] = round(run["naive"]["records_per_s"], 1)
            flat["naive_api_calls_per_record"] = round(
                run["naive"]["api_calls"] / run["naive"]["records"], 2
            )
            flat["engine_to_naive_ratio_x"] = round(
                run["accounts"]["records_per_s"] / run["naive"]["records_per_s"], 1
            )
        if "certifications" in run:
            stats = run["certifications"]
            flat["certifications_seeded_records"] = run["hr_seeded"]
            flat["certifications_load_s"] = round(stats["s"], 2)
            flat["certifications_load_api_calls"] = stats["api_calls"]
            flat["certifications_records"] = stats["records"]
            flat["certifications_records_per_s"] = round(stats["records_per_s"], 1)
            flat["certifications_quarantined_records"] = stats["quarantined"]
        if "hr naive" in run:
            naive = run["hr naive"]
            flat["hr_naive_records_per_s"] = round(naive["records_per_s"], 1)
            flat["hr_naive_api_calls_per_record"] = round(naive["api_calls"] / naive["records"], 2)
            flat["hr_engine_to_naive_ratio_x"] = round(
                run["certifications"]["records_per_s"] / naive["records_per_s"], 1
            )
        if "sap customers" in run:
            stats = run["sap customers"]
            flat["sap_customers_seeded_records"] = run["sap_seeded"]
            flat["sap_customers_load_s"] = round(stats["s"], 2)
            flat["sap_customers_load_api_calls"] = stats["api_calls"]
            flat["sap_customers_records"] = stats["records"]
            flat["sap_customers_records_per_s"] = round(stats["records_per_s"], 1)
            flat["sap_customers_quarantined_records"] = stats["quarantined"]
        if "sap naive" in run:
            naive = run["sap naive"]
            flat["sap_naive_records_per_s"] = round(naive["records_per_s"], 1)
            flat["sap_naive_api_calls_per_record"] = round(naive["api_calls"] / naive["records"], 2)
            flat["sap_engine_to_naive_ratio_x"] = round(
                run["sap customers"]["records_per_s"] / naive["records_per_s"], 1
            )
        flat["accounts_floor_met"] = floor_met(run)
        flat["max_rss_mb"] = round(run["max_rss_mb"], 1)
        out |= by_backend(backend, flat, first=index == 0)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = parser_for(__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--assets", type=int, default=200_000)
    parser.add_argument("--touch", type=float, default=0.01, help="share touched (0..1)")
    parser.add_argument(
        "--naive",
        type=int,
        default=2000,
        help="records of each naive loop (Accounts; HR certifications; SAP customers)",
    )
    parser.add_argument(
        "--hr-workers",
        type=int,
        default=10_000,
        help="HR workers seeded (3 certifications each) for the certifications phases; "
        "0: no HR phases",
    )
    parser.add_argument(
        "--sap-customers",
        type=int,
        default=20_000,
        help="SAP customers seeded for the SAP customers phases; 0: no SAP phases",
    )
    parser.add_argument("--seed", type=int, default=1, help="the simulator's seed")
    parser.add_argument(
        "--bulk-threshold",
        type=int,
        default=2000,
        help="read through Bulk API 2.0 above this many changed records (the product's "
        "default, FIELDBRIDGE_SALESFORCE_BULK_THRESHOLD); -1: never (REST query pages only)",
    )
    args = parser.parse_args(argv)
    parse_backends(parser, args)
    args.bulk_threshold = None if args.bulk_threshold < 0 else args.bulk_threshold
    if (
        args.accounts < 1
        or args.assets < 0
        or not 0 <= args.touch <= 1
        or args.naive < 0
        or args.hr_workers < 0
        or args.sap_customers < 0
    ):
        parser.error(
            "--accounts >= 1, --assets >= 0, --touch in 0..1, --naive >= 0, --hr-workers >= 0, "
            "--sap-customers >= 0"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fb-sync-bench-") as tmp:
        try:
            for backend in args.backends:
                console.print(f"[bold]{backend}[/bold]")
                if backend == "sqlite":
                    results[backend] = bench_backend(None, args, Path(tmp))
                elif not postgres_answers():
                    console.print(
                        f"[yellow]postgresql skipped: nothing answers on {PG_HOST}:{PG_PORT}"
                        "[/yellow]"
                    )
                    skipped.append(backend)
                else:
                    with postgres_database() as url:
                        try:
                            results[backend] = bench_backend(url, args, Path(tmp))
                        finally:
                            _drop_siblings()
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]")
            if not results:
                return 130
    if results:
        print_table(results, args)
    if skipped:
        console.print(f"[yellow]skipped: {', '.join(skipped)} (not reachable)[/yellow]")
    if args.json:
        args.json.write_text(json.dumps(flat_json(results, args), indent=2) + "\n")
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
