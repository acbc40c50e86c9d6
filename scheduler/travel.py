"""Travel times between places, in whole seconds, as a problem defines them.

Either the caller's matrix (rows and columns by ``Place.index``) or the great-circle
distance times a road factor at a speed. The engines and the validator both read travel
through here: it is part of the problem's definition, not of any engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from scheduler.model import Place, Travel

EARTH_RADIUS_M = 6_371_008.8


def matrix(travel: Travel, places: Sequence[Place]) -> NDArray[np.int64]:
    """Seconds from each of ``places`` to each, as a square integer matrix."""
    return between(travel, places, places)


def between(travel: Travel, frm: Sequence[Place], to: Sequence[Place]) -> NDArray[np.int64]:
    """Seconds from each of ``frm`` (rows) to each of ``to`` (columns)."""
    if travel.matrix_s is not None:  # only the rows asked for: a leg costs one row, not all
        rows = np.asarray([travel.matrix_s[i] for i in _indices(frm)], dtype=np.int64)
        return rows.reshape(len(frm), len(travel.matrix_s))[:, _indices(to)]
    lat1, lon1 = _radians(frm)
    lat2, lon2 = _radians(to)
    dlat = lat1[:, None] - lat2[None, :]
    dlon = lon1[:, None] - lon2[None, :]
    haversine = (
        np.sin(dlat / 2) ** 2
        + np.cos(lat1)[:, None] * np.cos(lat2)[None, :] * np.sin(dlon / 2) ** 2
    )
    metres = (
        2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(haversine, 0.0, 1.0))) * travel.road_factor
    )
    return np.rint(metres / (travel.speed_kmh / 3.6)).astype(np.int64)


def route(travel: Travel, places: Sequence[Place]) -> list[int]:
    """Seconds of each drive along ``places`` in order (one fewer than the places): a whole
    route's legs in one computation, not one per leg."""
    if len(places) < 2:
        return []
    frm, to = places[:-1], places[1:]
    if travel.matrix_s is not None:
        return [travel.matrix_s[a][b] for a, b in zip(_indices(frm), _indices(to), strict=True)]
    lat1, lon1 = _radians(frm)
    lat2, lon2 = _radians(to)
    haversine = (
        np.sin((lat1 - lat2) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon1 - lon2) / 2) ** 2
    )
    metres = (
        2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(haversine, 0.0, 1.0))) * travel.road_factor
    )
    return [int(s) for s in np.rint(metres / (travel.speed_kmh / 3.6)).astype(np.int64)]


def _indices(places: Sequence[Place]) -> NDArray[np.int64]:
    return np.fromiter((p.index for p in places), dtype=np.int64, count=len(places))


def _radians(places: Sequence[Place]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lat = np.fromiter((p.lat for p in places), dtype=np.float64, count=len(places))
    lon = np.fromiter((p.lon for p in places), dtype=np.float64, count=len(places))
    return np.radians(lat), np.radians(lon)


def seconds(travel: Travel, frm: Place, to: Place) -> int:
    """Seconds from one place to another (the same figure ``matrix`` gives)."""
    return int(between(travel, [frm], [to])[0, 0])
