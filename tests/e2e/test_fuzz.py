"""Schemathesis over every operation of our own OpenAPI document, for every caller (a token of
each role, and none), then along the document's links. Every answer must be what the document
says: never a 5xx, a documented status code, its content type, its body's schema, its headers
(``tests/support/fuzzing.py`` has the checks: schemathesis's own).

``make test`` runs it on a short budget; ``make fuzz`` runs the same with
``FIELDBRIDGE_FUZZ_EXAMPLES`` higher. A caller the role check refuses gets a few examples
only: its answer cannot depend on what it sends (``docs/access-matrix.md``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from schemathesis.specs.openapi import stateful

from tests.support.access import CALLERS, REFUSALS, operation_labels, read_matrix
from tests.support.databases import Templates
from tests.support.fuzzing import (
    CHECKS,
    ApiWorld,
    api_world,
    call_and_validate,
    examples,
    send,
    served_document,
)

OPERATIONS = operation_labels(served_document())
MATRIX = read_matrix()
EXAMPLES = examples(default=20)
REFUSED_EXAMPLES = max(3, EXAMPLES // 10)
STEPS = 10
CREATORS = [caller for caller in CALLERS if MATRIX["POST /api/v1/work-orders"][caller] == "ok"]
UNLIMITED = {"service_request_rate_per_min": 100_000, "status_rate_per_min": 100_000}
"""The rate limits out of the way, so the fuzz reaches the handlers behind them."""


def _budget(**overrides: Any) -> settings:
    values: dict[str, Any] = {
        "max_examples": EXAMPLES,
        "deadline": None,
        "suppress_health_check": list(HealthCheck),
        "database": None,
    }
    return settings(**(values | overrides))


@pytest.fixture(scope="module")
def world(templates: Templates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    with api_world(templates, tmp_path_factory.mktemp("fuzz"), **UNLIMITED) as made:
        yield made


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("label", OPERATIONS)
def test_every_answer_is_documented(label: str, caller: str, world: ApiWorld) -> None:
    token = world.tokens[caller]
    method, path = label.split(" ", 1)
    operation = world.schema[path][method]
    refused = MATRIX.get(label, {}).get(caller) in REFUSALS
    budget = _budget(max_examples=REFUSED_EXAMPLES) if refused else _budget()
    modes = [operation.as_strategy(mode) for mode in schemathesis.GenerationMode]

    @given(case=st.one_of(modes))
    @budget
    def check(case: schemathesis.Case) -> None:
        call_and_validate(world.client, case, token)

    check()


def test_an_orders_answers_link_to_what_comes_next() -> None:
    """The links the sequences follow: made, an order leads to its read and its moves, each
    move to the next with the ETag it answered as If-Match."""
    paths = served_document()["paths"]
    ids = {
        f"{method.upper()} {path}": operation["operationId"]
        for path, operations in paths.items()
        for method, operation in operations.items()
    }
    made = paths["/api/v1/work-orders"]["post"]["responses"]["201"]
    moved = paths["/api/v1/work-orders/{ident}/transitions"]["post"]["responses"]["200"]
    assert made["links"]["get"] == {
        "operationId": ids["GET /api/v1/work-orders/{ident}"],
        "parameters": {"path.ident": "$response.body#/id"},
    }
    for answer in (made, moved):
        assert answer["links"]["post_transitions"] == {
            "operationId": ids["POST /api/v1/work-orders/{ident}/transitions"],
            "parameters": {
                "path.ident": "$response.body#/id",
                "header.if-match": "$response.header.ETag",
            },
        }
        assert "ETag" in answer["headers"]
    read = paths["/api/v1/work-orders/{ident}"]["get"]["responses"]["200"]["links"]
    assert {"patch", "post_transitions", "put_checklist", "post_attachments"} <= set(read)
    assert "get" not in read
    requested = paths["/api/v1/service-requests"]["post"]["responses"]["201"]["links"]
    assert requested["get_status"]["operationId"] == ids["GET /status/{tracking_code}"]


def _starts_a_sequence(operation: Any, *_: Any) -> bool:
    """What a sequence may begin with: a POST or a GET on no resource in particular
    (``POST /work-orders``, ``GET /customers``). Schemathesis guesses from the body's field
    names which resources an operation needs first, and finds none of ours made anywhere
    (it looks for ``Site`` where we answer ``SitePublic``, for ``External`` from
    ``external_id``): it would begin no sequence with ``POST /work-orders``."""
    return operation.method in ("get", "post") and not operation.path_parameters


@pytest.mark.parametrize(
    ("caller", "scope"),
    [(caller, "every link") for caller in CALLERS]
    + [(caller, "an order's life") for caller in CREATORS],
)
def test_sequences_that_follow_the_links(
    caller: str, scope: str, world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schemathesis's state machine over the document's links (``api.openapi._link``): make
    something, read it, then move, edit or document what was made, with ``If-Match`` from the
    answer's ``ETag``; a service request, then its status page. "An order's life" keeps to
    ``/work-orders``: every sequence begins with ``POST /work-orders``."""
    monkeypatch.setattr(stateful, "is_likely_root_transition", _starts_a_sequence)
    token = world.tokens[caller]
    schema = world.schema
    if scope == "an order's life":
        schema = schema.include(path_regex="^/api/v1/work-orders")

    failed: list[BaseException] = []

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def call(self, case: schemathesis.Case, **kwargs: Any) -> schemathesis.Response:
            return schemathesis.Response.from_any(send(world.client, case, token))

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, *_: Any, **__: Any
        ) -> None:
            try:
                case.validate_response(response, checks=CHECKS)
            except BaseException as failure:
                failed.append(failure)
                raise

    try:
        Sequences.run(settings=_budget(stateful_step_count=STEPS))
    except Flaky:
        # The world keeps what each sequence made (a code taken once is a 409 the next time),
        # so Hypothesis may not replay a sequence as it first ran. As schemathesis's own runner
        # does, that ends the run; what fails it is a check that failed on the way.
        if failed:
            raise failed[0] from None
