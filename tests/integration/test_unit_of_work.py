"""The unit of work on every backend, run the way the API runs it (``await uow.run``).

On PostgreSQL ``run`` goes through the loop database (asyncpg, a greenlet per unit of
work): the loop stays free while a statement waits, and units of work get their turn
first come, first served. On SQLite it runs inline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, insert, select, text

from mappings import canonical
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.runtime.bootstrap import Container
from orchestrator.store import models
from orchestrator.store.db import LOOP_POOL_SIZE
from orchestrator.store.uow import UnitOfWork
from orchestrator.work_orders import commands as wo
from orchestrator.work_orders import queries
from tests.support.databases import BACKENDS

DISPATCHER = Actor("dan", Role.DISPATCHER)
CUSTOMERS = models.table_of(models.Customer)
T = TypeVar("T")


@pytest.fixture
def loop_container(container: Container) -> Iterator[Container]:
    """The container as the API's lifespan leaves it: with its loop database where wanted."""
    container.open_loop_database()
    yield container


def run_in_loop(container: Container, scenario: Callable[[], Any]) -> Any:
    async def main() -> Any:
        try:
            return await scenario()
        finally:
            await container.close_loop_database()

    return asyncio.run(main())


def customers(container: Container) -> list[str]:
    with container.new_uow() as uow:
        return list(uow.connection().scalars(select(CUSTOMERS.c.name).order_by(CUSTOMERS.c.id)))


def test_the_loop_database_is_used_exactly_where_the_database_is_across_a_network(
    loop_container: Container, backend: str
) -> None:
    assert (loop_container.loop_database is not None) == (backend == "postgresql")


def test_core_and_orm_work_share_one_transaction_that_commits_or_rolls_back_whole(
    loop_container: Container,
) -> None:
    def add_two(uow: UnitOfWork, prefix: str, commit: bool) -> None:
        uow.connection().execute(insert(CUSTOMERS).values(name=f"{prefix} core", version=1))
        uow.session.add(models.Customer(name=f"{prefix} orm", version=1))
        uow.flush()
        seen = uow.connection().scalar(select(func.count()).select_from(CUSTOMERS))
        assert seen == 2 if prefix == "kept" else seen == 4  # both, in one transaction
        if commit:
            uow.commit()

    def boom(uow: UnitOfWork) -> None:
        add_two(uow, "lost", commit=False)
        raise RuntimeError("the command failed after writing")

    async def scenario() -> None:
        await loop_container.new_uow().run(add_two, "kept", commit=True)
        with pytest.raises(RuntimeError):
            await loop_container.new_uow().run(boom)
        await loop_container.new_uow().run(add_two, "dropped", commit=False)

    run_in_loop(loop_container, scenario)
    assert customers(loop_container) == ["kept core", "kept orm"]


def test_a_read_only_unit_of_work_sees_committed_rows_and_writes_nothing(
    loop_container: Container,
) -> None:
    with loop_container.new_uow() as uow:
        order = wo.create(uow, wo.CreateWorkOrder(canonical.WorkOrder(summary="x"), DISPATCHER))

    async def scenario() -> dict[str, Any]:
        return await loop_container.new_uow(read_only=True).run(
            queries.get, order["id"], DISPATCHER
        )

    assert run_in_loop(loop_container, scenario)["summary"] == "x"


postgres_only = pytest.mark.parametrize(
    "backend", [b for b in BACKENDS if b == "postgresql"], indirect=True
)


@postgres_only
def test_the_loop_serves_other_work_while_a_statement_waits_for_postgresql(
    loop_container: Container,
) -> None:
    ticks: list[float] = []

    def slow(uow: UnitOfWork) -> None:
        uow.connection().execute(text("SELECT pg_sleep(0.4)"))

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(asyncio.get_running_loop().time())
            await asyncio.sleep(0.01)

    async def scenario() -> float:
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        started = asyncio.get_running_loop().time()
        await loop_container.new_uow().run(slow)
        stop.set()
        await tick
        return started

    started = run_in_loop(loop_container, scenario)
    during = [t for t in ticks if t > started + 0.05]
    # a blocked loop would tick once after the statement; a free one about every 10 ms
    assert len(during) >= 15, f"the loop ticked {len(during)} times during a 0.4 s statement"


@postgres_only
def test_units_of_work_get_their_turn_in_the_order_they_asked(
    loop_container: Container,
) -> None:
    """Every turn is held and units of work queue for one; while the turns free up, more
    arrive about every millisecond. Each gets its turn in the order it asked: a newcomer
    never takes a connection freed for one that was waiting (a pool's own queue lets it)."""
    entered: list[int] = []

    def hold(uow: UnitOfWork) -> None:
        uow.connection().execute(text("SELECT pg_sleep(0.3)"))

    def record(uow: UnitOfWork, turn: int) -> None:
        entered.append(turn)
        uow.connection().execute(text("SELECT 1"))

    async def scenario() -> list[int]:
        loop = asyncio.get_running_loop()
        holders = [
            asyncio.create_task(loop_container.new_uow().run(hold)) for _ in range(LOOP_POOL_SIZE)
        ]
        await asyncio.sleep(0.1)  # every turn is taken
        asked: list[int] = []
        tasks = []
        until = loop.time() + 0.5  # past the holders' end, while the queue drains
        while loop.time() < until:
            asked.append(len(asked))
            tasks.append(asyncio.create_task(loop_container.new_uow().run(record, asked[-1])))
            await asyncio.sleep(0.001)
        await asyncio.gather(*holders, *tasks)
        return asked

    asked = run_in_loop(loop_container, scenario)
    assert len(asked) > 4 * LOOP_POOL_SIZE
    assert entered == asked
