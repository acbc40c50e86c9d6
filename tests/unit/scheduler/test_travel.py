"""Travel times: a route's legs computed at once are exactly the legs computed one by one."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from scheduler import travel
from scheduler.model import Place, Travel

places = st.lists(
    st.builds(
        Place,
        lat=st.floats(-89, 89, allow_nan=False),
        lon=st.floats(-179, 179, allow_nan=False),
    ),
    max_size=12,
)


@given(places, st.floats(5, 120), st.floats(1, 3))
def test_a_routes_legs_are_the_single_legs(route: list[Place], speed: float, factor: float) -> None:
    how = Travel(speed_kmh=speed, road_factor=factor)
    assert travel.route(how, route) == [
        travel.seconds(how, a, b) for a, b in itertools.pairwise(route)
    ]


@given(st.data())
def test_a_callers_matrix_is_read_leg_by_leg(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 6))
    matrix = data.draw(
        st.lists(
            st.lists(st.integers(0, 9999), min_size=size, max_size=size),
            min_size=size,
            max_size=size,
        )
    )
    order = data.draw(st.lists(st.integers(0, size - 1), max_size=10))
    how = Travel(matrix_s=matrix)
    route = [Place(lat=0, lon=0, index=i) for i in order]
    assert travel.route(how, route) == [matrix[a][b] for a, b in itertools.pairwise(order)]
