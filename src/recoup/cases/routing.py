"""Field visits (外访): great-circle distance, check-in geofences and the order of a day's visits.

Pure functions, no I/O. Distances are great-circle (haversine) distances on a sphere of radius
:data:`EARTH_RADIUS_M` (the IUGG mean Earth radius); over the few kilometres of a field visit the error
against the ellipsoid is well under 0.5 %.

- :func:`haversine_m` — one distance in metres; :func:`haversine_expr` — the same as a Polars expression,
  for many check-ins at once.
- :func:`check_in` — how far an agent's GPS fix is from the address, and whether it is inside the radius
  (on the circle counts as inside).
- :func:`plan_route` — an open route from the agent's base through every stop once, not returning:
  OR-Tools routing (PATH_CHEAPEST_ARC first solution, then GUIDED_LOCAL_SEARCH until ``time_limit_s``) on
  a haversine distance matrix in whole metres, the open end made by a dummy end node that every stop
  reaches at zero cost. When OR-Tools is not importable or finds no solution the route falls back to
  nearest neighbour and ``solver_used`` says ``"nearest"``. Travel minutes of a leg are its distance
  over ``speed_kmh``, rounded up to a whole minute; ``total_min`` adds ``service_min`` per stop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from recoup.errors import RecoupError

__all__ = [
    "EARTH_RADIUS_M",
    "START_ID",
    "CheckIn",
    "Leg",
    "Route",
    "RouteInputError",
    "Stop",
    "VisitLocationError",
    "check_in",
    "distance_matrix_m",
    "haversine_expr",
    "haversine_m",
    "plan_route",
]

#: Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8
#: The ``from_id`` of a route's first leg: the agent's base.
START_ID = "start"


class VisitLocationError(RecoupError):
    """A latitude, longitude or radius is out of range; ``details`` names the field and the value."""

    code = "visit.bad_location"
    http_status = 422
    exit_code = 65  # EX_DATAERR


class RouteInputError(VisitLocationError):
    """A route parameter (speed, service time, time limit, solver, stop ids) is invalid.

    A subclass of :class:`VisitLocationError` so callers catching bad visit input catch both.
    """

    code = "visit.bad_route"


@dataclass(frozen=True, slots=True)
class CheckIn:
    """One check-in judged against its address: the distance in metres and whether it is inside."""

    distance_m: float
    inside: bool


@dataclass(frozen=True, slots=True)
class Stop:
    """A place to visit: ``id`` (unique within a route), latitude and longitude in degrees."""

    id: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg of a route; ``from_id`` of the first leg is :data:`START_ID` (or the caller's start id)."""

    from_id: str
    to_id: str
    distance_m: int
    travel_min: int


@dataclass(frozen=True, slots=True)
class Route:
    """An open route: the stops in visiting order, its legs and totals (``total_min`` = travel + service)."""

    order: list[str] = field(default_factory=list)
    legs: list[Leg] = field(default_factory=list)
    total_distance_m: int = 0
    total_travel_min: int = 0
    total_min: int = 0
    solver_used: str = "trivial"


# --------------------------------------------------------------------------------------------- geometry


def _bad(field_name: str, value: object, en: str, zh: str) -> VisitLocationError:
    return VisitLocationError(
        f"{field_name} {value!r} {en} / {field_name} {value!r} {zh}",
        details={"field": field_name, "value": value},
    )


def _check_point(lat: float, lon: float, prefix: str) -> None:
    if not isinstance(lat, int | float) or isinstance(lat, bool) or not -90.0 <= lat <= 90.0:
        raise _bad(f"{prefix}lat", lat, "is not a latitude in [-90, 90]", "不是 [-90, 90] 内的纬度")
    if not isinstance(lon, int | float) or isinstance(lon, bool) or not -180.0 <= lon <= 180.0:
        raise _bad(f"{prefix}lon", lon, "is not a longitude in [-180, 180]", "不是 [-180, 180] 内的经度")


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in degrees (not validated; see
    :func:`check_in` for the validating form)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlmb / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, max(0.0, a))))


def _expr(x: pl.Expr | str | float) -> pl.Expr:
    if isinstance(x, pl.Expr):
        return x
    if isinstance(x, str):
        return pl.col(x)
    return pl.lit(float(x))


def haversine_expr(
    lat1: pl.Expr | str | float,
    lon1: pl.Expr | str | float,
    lat2: pl.Expr | str | float,
    lon2: pl.Expr | str | float,
) -> pl.Expr:
    """:func:`haversine_m` as a Polars expression (Float64 metres); a ``str`` names a column, a number is a
    literal. Null in, null out; ranges are not checked (filter or validate the frame first)."""
    p1 = _expr(lat1).cast(pl.Float64).radians()
    p2 = _expr(lat2).cast(pl.Float64).radians()
    dphi = p2 - p1
    dlmb = (_expr(lon2).cast(pl.Float64) - _expr(lon1).cast(pl.Float64)).radians()
    a = (dphi / 2).sin().pow(2) + p1.cos() * p2.cos() * (dlmb / 2).sin().pow(2)
    return a.clip(0.0, 1.0).sqrt().arcsin() * (2.0 * EARTH_RADIUS_M)


def check_in(
    address_lat: float, address_lon: float, gps_lat: float, gps_lon: float, radius_m: float
) -> CheckIn:
    """Judge a GPS check-in against the visit address: inside when the distance is at most ``radius_m``."""
    _check_point(address_lat, address_lon, "address_")
    _check_point(gps_lat, gps_lon, "gps_")
    if (
        not isinstance(radius_m, int | float)
        or isinstance(radius_m, bool)
        or not math.isfinite(radius_m)
        or radius_m <= 0
    ):
        raise _bad("radius_m", radius_m, "must be a finite number of metres > 0", "须为大于 0 的有限米数")
    d = haversine_m(address_lat, address_lon, gps_lat, gps_lon)
    return CheckIn(distance_m=d, inside=d <= radius_m)


def distance_matrix_m(points: Sequence[tuple[float, float]]) -> npt.NDArray[np.int64]:
    """Symmetric matrix of haversine distances between ``(lat, lon)`` points, rounded to whole metres."""
    if not points:
        return np.zeros((0, 0), dtype=np.int64)
    ll = np.radians(np.asarray(points, dtype=np.float64))
    lat, lon = ll[:, 0], ll[:, 1]
    dphi = lat[None, :] - lat[:, None]
    dlmb = lon[None, :] - lon[:, None]
    a = np.sin(dphi / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlmb / 2) ** 2
    d = 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    m: npt.NDArray[np.int64] = np.rint(d).astype(np.int64)
    sym: npt.NDArray[np.int64] = np.minimum(m, m.T)  # exactly symmetric, zero diagonal
    return sym


# ---------------------------------------------------------------------------------------------- routing


def _travel_min(distance_m: int, speed: Fraction) -> int:
    """Minutes to cover ``distance_m`` at ``speed`` km/h, rounded up (exact rational arithmetic)."""
    return math.ceil(Fraction(distance_m * 60) / (speed * 1000))


def _nearest(dist: npt.NDArray[np.int64]) -> list[int]:
    """Nearest-neighbour order of stop nodes 1..n from node 0; ties go to the earlier stop."""
    n = dist.shape[0] - 1
    unvisited = list(range(1, n + 1))
    order: list[int] = []
    cur = 0
    while unvisited:
        nxt = min(unvisited, key=lambda j: (int(dist[cur, j]), j))
        order.append(nxt)
        unvisited.remove(nxt)
        cur = nxt
    return order


def _ortools(dist: npt.NDArray[np.int64], time_limit_s: float) -> list[int] | None:
    """Open-route order of stop nodes 1..n from node 0 by OR-Tools; ``None`` if unavailable or unsolved."""
    try:
        from ortools.constraint_solver import (  # type: ignore[import-untyped]
            pywrapcp,
            routing_enums_pb2,
        )
    except ImportError:
        return None
    n = dist.shape[0] - 1
    end = n + 1  # dummy end node: zero cost from every node, so the route does not return
    matrix = np.zeros((n + 2, n + 2), dtype=np.int64)
    matrix[: n + 1, : n + 1] = dist
    manager: Any = pywrapcp.RoutingIndexManager(n + 2, 1, [0], [end])
    model: Any = pywrapcp.RoutingModel(manager)
    transit = model.RegisterTransitMatrix(matrix.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(transit)
    params: Any = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, round(time_limit_s * 1000)))
    solution: Any = model.SolveWithParameters(params)
    if solution is None:
        return None
    order: list[int] = []
    index = solution.Value(model.NextVar(model.Start(0)))
    while not model.IsEnd(index):
        order.append(int(manager.IndexToNode(index)))
        index = solution.Value(model.NextVar(index))
    if sorted(order) != list(range(1, n + 1)):  # pragma: no cover - defensive: never seen
        return None
    return order


def _route_input(field_name: str, value: object, en: str, zh: str) -> RouteInputError:
    return RouteInputError(
        f"{field_name} {value!r} {en} / {field_name} {value!r} {zh}",
        details={"field": field_name, "value": value},
    )


def _positive(value: object) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


def plan_route(
    start: tuple[float, float],
    stops: Sequence[Stop],
    *,
    speed_kmh: float = 30.0,
    service_min: int = 30,
    time_limit_s: float = 2.0,
    solver: Literal["ortools", "nearest"] = "ortools",
    start_id: str = START_ID,
) -> Route:
    """Order ``stops`` for one agent leaving ``start`` = ``(lat, lon)``, visiting each once, not returning.

    Minimises total haversine distance in whole metres. ``solver="ortools"`` runs OR-Tools routing for
    ``time_limit_s`` seconds (guided local search always uses its whole time limit); ``"nearest"`` (or the
    fallback when OR-Tools is missing or finds nothing) goes to the nearest unvisited stop each time, ties
    to the earlier stop. 0 stops give an empty route and 1 stop the only route, both with ``solver_used``
    ``"trivial"``. The same input gives the same route.
    """
    _check_point(start[0], start[1], "start_")
    seen: set[str] = set()
    for i, s in enumerate(stops):
        _check_point(s.lat, s.lon, f"stops[{i}].")
        if s.id in seen or s.id == start_id:
            raise _route_input(f"stops[{i}].id", s.id, "is not unique", "重复")
        seen.add(s.id)
    if not _positive(speed_kmh):
        raise _route_input("speed_kmh", speed_kmh, "must be a finite speed > 0", "须为大于 0 的有限速度")
    if not isinstance(service_min, int) or isinstance(service_min, bool) or service_min < 0:
        raise _route_input(
            "service_min", service_min, "must be a whole number of minutes >= 0", "须为不小于 0 的整数分钟"
        )
    if not _positive(time_limit_s):
        raise _route_input(
            "time_limit_s", time_limit_s, "must be a finite number of seconds > 0", "须为大于 0 的有限秒数"
        )
    if solver not in ("ortools", "nearest"):
        raise _route_input("solver", solver, "is not one of ortools, nearest", "不是 ortools 或 nearest")

    if not stops:
        return Route()
    dist = distance_matrix_m([(float(start[0]), float(start[1]))] + [(s.lat, s.lon) for s in stops])
    if len(stops) == 1:
        order, used = [1], "trivial"
    else:
        found = _ortools(dist, time_limit_s) if solver == "ortools" else None
        order, used = (found, "ortools") if found is not None else (_nearest(dist), "nearest")

    speed = Fraction(speed_kmh)
    legs: list[Leg] = []
    prev = 0
    for node in order:
        d = int(dist[prev, node])
        legs.append(
            Leg(
                from_id=start_id if prev == 0 else stops[prev - 1].id,
                to_id=stops[node - 1].id,
                distance_m=d,
                travel_min=_travel_min(d, speed),
            )
        )
        prev = node
    travel = sum(leg.travel_min for leg in legs)
    return Route(
        order=[stops[node - 1].id for node in order],
        legs=legs,
        total_distance_m=sum(leg.distance_m for leg in legs),
        total_travel_min=travel,
        total_min=travel + service_min * len(stops),
        solver_used=used,
    )
