"""Field-visit geometry and routing: haversine worked by hand, geofences, routes whose optimum is obvious or
checked by brute force over every order, travel minutes rounded up, bad input."""

from __future__ import annotations

import itertools
import math
import random

import polars as pl
import pytest

from recoup.cases.routing import (
    EARTH_RADIUS_M,
    START_ID,
    CheckIn,
    RouteInputError,
    Stop,
    VisitLocationError,
    check_in,
    distance_matrix_m,
    haversine_expr,
    haversine_m,
    plan_route,
)
from recoup.errors import RecoupError

FAST = 0.3  # seconds of guided local search: plenty for ≤ 8 stops
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180  # ≈ 111,195 m: one degree of a great circle


# ----------------------------------------------------------------------------------------------- haversine


def test_one_degree_of_latitude() -> None:
    # 2πR / 360 = 2π × 6,371,008.8 / 360 = 111,195.08 m
    assert haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195.08, abs=0.01)
    assert haversine_m(39.0, 116.0, 40.0, 116.0) == pytest.approx(111_195.08, abs=0.01)  # any meridian
    assert haversine_m(0.0, 10.0, 0.0, 11.0) == pytest.approx(111_195.08, abs=0.01)  # along the equator


def test_beijing_to_shanghai() -> None:
    # Tiananmen (39.9087, 116.3975) → People's Square (31.2304, 121.4737): ≈ 1,067 km (published straight
    # line distance); by hand: dφ = −8.6783°, dλ = 5.0762°, a = sin²(dφ/2) + cos φ1 cos φ2 sin²(dλ/2)
    # = 0.005728 + 0.7672 × 0.8553 × 0.001961 = 0.007014, d = 2R asin(√a) = 1,067.6 km.
    d = haversine_m(39.9087, 116.3975, 31.2304, 121.4737)
    assert d == pytest.approx(1_067_000, rel=0.005)
    assert haversine_m(31.2304, 121.4737, 39.9087, 116.3975) == pytest.approx(d)  # symmetric


def test_same_point_and_antipodes() -> None:
    assert haversine_m(31.0, 121.0, 31.0, 121.0) == 0.0
    assert haversine_m(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert haversine_m(90.0, 0.0, -90.0, 0.0) == pytest.approx(math.pi * EARTH_RADIUS_M)


def test_haversine_expr_matches_scalar() -> None:
    pts = [
        (39.9087, 116.3975, 31.2304, 121.4737),
        (0.0, 0.0, 1.0, 0.0),
        (22.5431, 114.0579, 22.5440, 114.0590),
        (-33.8688, 151.2093, 51.5074, -0.1278),
        (None, 116.0, 31.0, 121.0),
    ]
    df = pl.DataFrame(pts, schema=["alat", "alon", "glat", "glon"], orient="row")
    out = df.with_columns(d=haversine_expr("alat", "alon", "glat", "glon"))["d"].to_list()
    for (a, b, c, e), got in zip(pts, out, strict=True):
        if a is None:
            assert got is None
        else:
            assert got == pytest.approx(haversine_m(a, b, c, e), rel=1e-12)
    # literal address against a column of fixes
    lit = df.select(haversine_expr(0.0, 0.0, pl.col("glat"), 0.0).alias("d"))["d"].to_list()
    assert lit[1] == pytest.approx(111_195.08, abs=0.01)


def test_distance_matrix_rounds_to_metres() -> None:
    m = distance_matrix_m([(0.0, 0.0), (0.0, 0.009), (0.0, -0.018)])
    # 0.009° of the equator = 0.009 × 111,195.08 = 1,000.76 m → 1,001; 0.018° → 2,001.51 → 2,002; 0.027°
    assert m.tolist() == [[0, 1001, 2002], [1001, 0, 3002], [2002, 3002, 0]]
    assert distance_matrix_m([]).shape == (0, 0)


# ------------------------------------------------------------------------------------------------ check-in


def test_check_in_inside_and_outside() -> None:
    # 0.0009° of latitude north of the address: 0.0009 × 111,195.08 = 100.08 m
    near = check_in(31.2304, 121.4737, 31.2313, 121.4737, 150.0)
    assert isinstance(near, CheckIn)
    assert near.distance_m == pytest.approx(100.08, abs=0.01)
    assert near.inside is True
    far = check_in(31.2304, 121.4737, 31.2313, 121.4737, 100.0)
    assert far.inside is False
    assert far.distance_m == pytest.approx(100.08, abs=0.01)
    # 0.002° of longitude at latitude 60°: 0.002 × 111,195.08 × cos 60° = 111.2 m
    east = check_in(60.0, 10.0, 60.0, 10.002, 120)
    assert east.distance_m == pytest.approx(111.2, abs=0.1)
    assert east.inside
    assert not check_in(60.0, 10.0, 60.0, 10.002, 110).inside


def test_check_in_on_the_circle_is_inside() -> None:
    d = haversine_m(0.0, 0.0, 0.0, 0.001)
    assert check_in(0.0, 0.0, 0.0, 0.001, d).inside
    assert check_in(0.0, 0.0, 0.0, 0.0, 1).inside  # same point


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((91.0, 0.0, 0.0, 0.0, 100.0), "address_lat"),
        ((0.0, 180.5, 0.0, 0.0, 100.0), "address_lon"),
        ((0.0, 0.0, -90.01, 0.0, 100.0), "gps_lat"),
        ((0.0, 0.0, 0.0, -181.0, 100.0), "gps_lon"),
        ((math.nan, 0.0, 0.0, 0.0, 100.0), "address_lat"),
        ((0.0, 0.0, 0.0, 0.0, 0.0), "radius_m"),
        ((0.0, 0.0, 0.0, 0.0, -5.0), "radius_m"),
        ((0.0, 0.0, 0.0, 0.0, math.inf), "radius_m"),
        ((0.0, 0.0, 0.0, 0.0, math.nan), "radius_m"),
    ],
)
def test_check_in_rejects_bad_input(args: tuple[float, float, float, float, float], field: str) -> None:
    with pytest.raises(VisitLocationError) as exc:
        check_in(*args)
    err = exc.value
    assert isinstance(err, RecoupError)
    assert err.code == "visit.bad_location"
    assert err.http_status == 422
    assert err.exit_code == 65
    assert err.details["field"] == field
    assert " / " in err.message


def test_check_in_accepts_bounds() -> None:
    assert check_in(90.0, 180.0, -90.0, -180.0, 1.0).distance_m == pytest.approx(math.pi * EARTH_RADIUS_M)


# ------------------------------------------------------------------------------------------------- routing


def _line(*xs: float) -> list[Stop]:
    """Stops along the equator at ``x`` hundredths of a degree east of 0°, named by position."""
    return [Stop(id=f"s{x:g}", lat=0.0, lon=x / 100) for x in xs]


@pytest.mark.parametrize("solver", ["ortools", "nearest"])
def test_points_on_a_line(solver: str) -> None:
    stops = _line(3, 1, 4, 2)  # all east of the base: the best open route walks out along the line
    r = plan_route((0.0, 0.0), stops, solver=solver, time_limit_s=FAST)  # type: ignore[arg-type]
    assert r.order == ["s1", "s2", "s3", "s4"]
    assert r.solver_used == solver
    assert [(leg.from_id, leg.to_id) for leg in r.legs] == [
        (START_ID, "s1"),
        ("s1", "s2"),
        ("s2", "s3"),
        ("s3", "s4"),
    ]
    # each leg is 0.01° of the equator = 1,111.95 m → 1,112 m; the total is the sum of rounded legs
    assert [leg.distance_m for leg in r.legs] == [1112, 1112, 1112, 1112]
    assert r.total_distance_m == 4448
    # 30 km/h = 500 m/min: 1,112 / 500 = 2.22 → 3 minutes a leg
    assert [leg.travel_min for leg in r.legs] == [3, 3, 3, 3]
    assert r.total_travel_min == 12
    assert r.total_min == 12 + 4 * 30


def _brute_force(start: tuple[float, float], stops: list[Stop]) -> int:
    m = distance_matrix_m([start] + [(s.lat, s.lon) for s in stops])
    best = None
    for perm in itertools.permutations(range(1, len(stops) + 1)):
        prev, total = 0, 0
        for node in perm:
            total += int(m[prev, node])
            prev = node
        best = total if best is None else min(best, total)
    assert best is not None
    return best


def test_nearest_neighbour_is_worse_and_ortools_finds_the_optimum() -> None:
    # Base at 0 on a line, stops at +1, −2, +4 (hundredths of a degree). Nearest neighbour: +1, −2, +4 =
    # 1 + 3 + 6 = 10 units; the optimum goes west first: −2, +1, +4 = 2 + 3 + 3 = 8 units.
    stops = _line(1, -2, 4)
    nn = plan_route((0.0, 0.0), stops, solver="nearest")
    opt = plan_route((0.0, 0.0), stops, time_limit_s=FAST)
    assert nn.order == ["s1", "s-2", "s4"]
    assert opt.order == ["s-2", "s1", "s4"]
    assert opt.solver_used == "ortools"
    unit = 0.01 * M_PER_DEG
    assert nn.total_distance_m == pytest.approx(10 * unit, abs=3)
    assert opt.total_distance_m == pytest.approx(8 * unit, abs=3)
    assert opt.total_distance_m == _brute_force((0.0, 0.0), stops)


def test_ortools_matches_brute_force_on_scattered_stops() -> None:
    rng = random.Random(20240611)
    start = (31.2304, 121.4737)
    worse_nn = 0
    for trial in range(6):
        n = 7 if trial % 2 == 0 else 6
        stops = [
            Stop(id=f"c{i}", lat=start[0] + rng.uniform(-0.05, 0.05), lon=start[1] + rng.uniform(-0.05, 0.05))
            for i in range(n)
        ]
        best = _brute_force(start, stops)
        r = plan_route(start, stops, time_limit_s=FAST)
        nn = plan_route(start, stops, solver="nearest")
        assert r.solver_used == "ortools"
        assert sorted(r.order) == sorted(s.id for s in stops)
        assert r.total_distance_m == best
        assert nn.total_distance_m >= best
        worse_nn += nn.total_distance_m > best
    assert worse_nn >= 1  # the instances include one where nearest neighbour is not optimal


def test_route_is_deterministic() -> None:
    rng = random.Random(7)
    stops = [Stop(id=f"v{i}", lat=rng.uniform(22.5, 22.6), lon=rng.uniform(114.0, 114.1)) for i in range(8)]
    a = plan_route((22.55, 114.05), stops, time_limit_s=FAST)
    b = plan_route((22.55, 114.05), stops, time_limit_s=FAST)
    assert a == b
    assert plan_route((22.55, 114.05), stops, solver="nearest") == plan_route(
        (22.55, 114.05), stops, solver="nearest"
    )


def test_empty_and_single_stop() -> None:
    empty = plan_route((0.0, 0.0), [])
    assert empty.order == [] and empty.legs == []
    assert (empty.total_distance_m, empty.total_travel_min, empty.total_min) == (0, 0, 0)
    one = plan_route((0.0, 0.0), [Stop("only", 0.0, 0.009)], service_min=20)
    assert one.order == ["only"]
    assert one.legs[0].distance_m == 1001
    assert one.legs[0].travel_min == 3  # 1,001 m at 500 m/min = 2.002 → 3
    assert (one.total_travel_min, one.total_min) == (3, 23)
    assert one.solver_used == "trivial"


@pytest.mark.parametrize(
    ("lon", "speed", "minutes"),
    [
        (0.009, 30.0, 3),  # 1,001 m / 500 m/min = 2.002 → 3
        (0.0089932, 60.0, 1),  # 0.0089932° = 999.996 m → 1,000 m at 1,000 m/min = exactly 1
        (0.0089932, 30.0, 2),  # 1,000 m at 500 m/min = exactly 2
        (0.009, 60.0, 2),  # 1,001 m / 1,000 m/min = 1.001 → 2
        (0.0, 30.0, 0),  # same place: no travel
        (0.0899, 12.0, 50),  # 9,996.4 → 9,996 m at 200 m/min = 49.98 → 50
    ],
)
def test_travel_minutes_round_up(lon: float, speed: float, minutes: int) -> None:
    r = plan_route((0.0, 0.0), [Stop("a", 0.0, lon)], speed_kmh=speed, service_min=0)
    assert r.legs[0].travel_min == minutes
    assert r.legs[0].travel_min == math.ceil(r.legs[0].distance_m * 60 / (speed * 1000) - 1e-9)
    assert r.total_min == minutes


def test_totals_add_up() -> None:
    stops = _line(5, -3, 2, 8, -1)
    r = plan_route((0.0, 0.0), stops, speed_kmh=25.0, service_min=15, time_limit_s=FAST)
    assert r.total_distance_m == sum(leg.distance_m for leg in r.legs)
    assert r.total_travel_min == sum(leg.travel_min for leg in r.legs)
    assert r.total_min == r.total_travel_min + 15 * 5
    assert [leg.to_id for leg in r.legs] == r.order
    assert [leg.from_id for leg in r.legs] == [START_ID, *r.order[:-1]]
    # on a line from 0 with stops −3, −1, +2, +5, +8: west first costs 3 + 11 = 14 units, east first
    # 8 + 11 = 19, so the optimum is −1, −3, then out east to +8
    assert r.order == ["s-1", "s-3", "s2", "s5", "s8"]
    assert r.total_distance_m == _brute_force((0.0, 0.0), stops)


def test_fallback_when_ortools_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("ortools"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    r = plan_route((0.0, 0.0), _line(1, -2, 4))
    assert r.solver_used == "nearest"
    assert r.order == ["s1", "s-2", "s4"]


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"start": (95.0, 0.0)}, "visit.bad_location", "start_lat"),
        ({"start": (0.0, -200.0)}, "visit.bad_location", "start_lon"),
        ({"stops": [Stop("a", 0.0, 0.0), Stop("b", -91.0, 0.0)]}, "visit.bad_location", "stops[1].lat"),
        ({"stops": [Stop("a", 0.0, 181.0)]}, "visit.bad_location", "stops[0].lon"),
        ({"stops": [Stop("a", 0.0, 0.0), Stop("a", 0.0, 1.0)]}, "visit.bad_route", "stops[1].id"),
        ({"stops": [Stop(START_ID, 0.0, 0.0)]}, "visit.bad_route", "stops[0].id"),
        ({"speed_kmh": 0.0}, "visit.bad_route", "speed_kmh"),
        ({"speed_kmh": -30.0}, "visit.bad_route", "speed_kmh"),
        ({"speed_kmh": math.nan}, "visit.bad_route", "speed_kmh"),
        ({"service_min": -1}, "visit.bad_route", "service_min"),
        ({"service_min": 2.5}, "visit.bad_route", "service_min"),
        ({"time_limit_s": 0}, "visit.bad_route", "time_limit_s"),
        ({"solver": "genetic"}, "visit.bad_route", "solver"),
    ],
)
def test_plan_route_rejects_bad_input(kwargs: dict[str, object], code: str, field: str) -> None:
    args: dict[str, object] = {"start": (0.0, 0.0), "stops": [Stop("a", 0.0, 0.01)], **kwargs}
    with pytest.raises(VisitLocationError) as exc:
        plan_route(**args)  # type: ignore[arg-type]
    assert exc.value.code == code
    assert exc.value.details["field"] == field
    assert exc.value.http_status == 422
    assert exc.value.exit_code == 65
    assert isinstance(exc.value, RouteInputError) == (code == "visit.bad_route")
