"""Integration fixtures: reference data in the per-test database (see
``tests/support/lifecycle_world.py``)."""

from __future__ import annotations

import pytest

from orchestrator.runtime.bootstrap import Container
from tests.support.lifecycle_world import World, make_world


@pytest.fixture
def world(container: Container) -> World:
    return make_world(container)
