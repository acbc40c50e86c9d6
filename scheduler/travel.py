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
    if travel.matrix_s is not None:
        full = np.asarray(travel.matrix_s, dtype=np.int64)
        rows = np.fromiter((p.index for p in places), dtype=np.int64, count=len(places))
        return full[np.ix_(rows, rows)]
    lat = np.radians(np.fromiter((p.lat for p in places), dtype=np.float64, count=len(places)))
    lon = np.radians(np.fromiter((p.lon for p in places), dtype=np.float64, count=len(places)))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
    metres = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))) * travel.road_factor
    seconds = np.rint(metres / (travel.speed_kmh / 3.6)).astype(np.int64)
    np.fill_diagonal(seconds, 0)
    return seconds


def seconds(travel: Travel, frm: Place, to: Place) -> int:
    """Seconds from one place to another (the same figure ``matrix`` gives)."""
    return int(matrix(travel, [frm, to])[0, 1])
