"""Nearest customers at 1,000,000 customers: query and request time against a brute-force scan (issue 3).

    .venv/bin/python -m bench.nearby                  # make bench
    .venv/bin/python -m bench.nearby --explain        # also print the query plans
    .venv/bin/python -m bench.nearby --customers 100000 --queries 200   # a quick look

It generates customers spread like real German customers: a mixture of Gaussians
around the 80 largest German cities, weighted by population (a dense core and a
wider ring of suburbs each), plus a uniform rural background inside a rough
outline of Germany; 0.5 % have no coordinates and 0.5 % are tombstones. Five
territories cut Germany into latitude bands of one fifth of the customers each;
the rep works the northern band and owns a few customers elsewhere.

For SQLite (a file under bench/results/, kept between runs and rebuilt when the
schema or the generator changes, or with ``--rebuild``) and PostgreSQL
(``BENCH_DATABASE_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/fieldcrm_bench_nearby``, created
and dropped by the run; skipped with a note when unreachable) it migrates with
the real Alembic migrations, bulk-loads the customers (SQLite ``executemany``,
PostgreSQL ``COPY``) and times, as the admin (scope: everyone) and as the rep
(a fifth of the customers), over random query points drawn from the same
distribution (the rep's from the rep's territory):

* ``rank_nearest(user, lat, lon, limit=20)``: the search for the 20 nearest,
  and with the rows loaded (``nearest_customers``);
* the same within 10 km, at most as many as the nearby list asks for (101);
* a whole request through Flask's test client: ``GET /api/v1/customers?near=lat,lon&limit=20``,
  the real API route, with the session cookie (loading the user, the search, the rows,
  the customers' JSON with ``distance_m``);
* filtered searches, which the issue sets no target for, over the first
  ``--filter-queries`` admin points: common filters, the owner filter, and filters
  few or no customers pass (docs/GEO.md "Known limits");

and in the same run the brute-force baseline: a numpy scan of all coordinates
(haversine, ``argpartition``) over the first ``--baseline-queries`` points, plus
an exact pyproj geodesic scan of all rows for a few. Every "20 nearest" answer of
the baseline points is checked against the exact brute-force ranking.
"""

import argparse
import importlib.util
import json
import math
import os
import sqlite3
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from flask import Flask
from pyproj import Geod

import fieldcrm
from bench.list_detail import drop_postgres, recreate_postgres
from bench.list_detail import machine as base_machine
from fieldcrm import create_app, geo
from fieldcrm.auth import hash_password
from fieldcrm.config import Config
from fieldcrm.extensions import db
from fieldcrm.geo import load_ranked, nearest_customers, rank_nearest
from fieldcrm.models import Customer, Territory, User
from fieldcrm.scope import customer_scope

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/fieldcrm_bench_nearby"
RESULTS = Path(__file__).parent / "results"
GENERATOR_VERSION = 4
SEED = 2026
TARGET_P50_MS, TARGET_P95_MS, TARGET_REQUEST_P50_MS = 1.0, 3.0, 5.0
EARTH_MEAN_RADIUS_M = 6_371_008.8
RADIUS_M = 10_000.0
NEAREST = 20

# The 80 largest German cities: name, latitude, longitude, inhabitants in thousands.
CITIES = [
    ("Berlin", 52.520, 13.405, 3755), ("Hamburg", 53.551, 9.994, 1892),
    ("München", 48.137, 11.575, 1512), ("Köln", 50.938, 6.960, 1084),
    ("Frankfurt am Main", 50.111, 8.682, 773), ("Stuttgart", 48.776, 9.183, 633),
    ("Düsseldorf", 51.227, 6.773, 629), ("Leipzig", 51.340, 12.375, 616),
    ("Dortmund", 51.514, 7.468, 595), ("Essen", 51.456, 7.012, 584),
    ("Bremen", 53.079, 8.802, 577), ("Dresden", 51.050, 13.738, 563),
    ("Hannover", 52.376, 9.732, 545), ("Nürnberg", 49.452, 11.077, 523),
    ("Duisburg", 51.435, 6.763, 503), ("Bochum", 51.482, 7.216, 364),
    ("Wuppertal", 51.256, 7.150, 358), ("Bielefeld", 52.030, 8.532, 334),
    ("Bonn", 50.737, 7.098, 336), ("Münster", 51.961, 7.626, 320),
    ("Mannheim", 49.487, 8.466, 315), ("Karlsruhe", 49.007, 8.404, 308),
    ("Augsburg", 48.371, 10.898, 301), ("Wiesbaden", 50.078, 8.240, 283),
    ("Mönchengladbach", 51.185, 6.442, 261), ("Gelsenkirchen", 51.518, 7.086, 263),
    ("Aachen", 50.776, 6.084, 249), ("Braunschweig", 52.269, 10.521, 251),
    ("Kiel", 54.323, 10.123, 247), ("Chemnitz", 50.833, 12.925, 250),
    ("Halle (Saale)", 51.483, 11.970, 239), ("Magdeburg", 52.121, 11.628, 240),
    ("Freiburg im Breisgau", 47.999, 7.842, 237), ("Krefeld", 51.339, 6.586, 228),
    ("Mainz", 49.993, 8.247, 220), ("Lübeck", 53.866, 10.687, 218),
    ("Erfurt", 50.978, 11.029, 215), ("Oberhausen", 51.470, 6.852, 210),
    ("Rostock", 54.092, 12.099, 210), ("Kassel", 51.313, 9.480, 202),
    ("Hagen", 51.367, 7.463, 190), ("Potsdam", 52.391, 13.065, 185),
    ("Saarbrücken", 49.234, 6.995, 181), ("Hamm", 51.681, 7.820, 180),
    ("Ludwigshafen am Rhein", 49.477, 8.445, 174), ("Mülheim an der Ruhr", 51.431, 6.881, 171),
    ("Oldenburg", 53.144, 8.214, 170), ("Osnabrück", 52.279, 8.047, 166),
    ("Leverkusen", 51.046, 7.019, 164), ("Darmstadt", 49.873, 8.651, 162),
    ("Heidelberg", 49.399, 8.672, 160), ("Solingen", 51.171, 7.083, 160),
    ("Herne", 51.538, 7.225, 157), ("Neuss", 51.198, 6.691, 154),
    ("Regensburg", 49.013, 12.102, 153), ("Paderborn", 51.719, 8.754, 152),
    ("Ingolstadt", 48.766, 11.426, 139), ("Offenbach am Main", 50.096, 8.776, 131),
    ("Fürth", 49.477, 10.989, 131), ("Würzburg", 49.791, 9.953, 128),
    ("Ulm", 48.401, 9.988, 127), ("Heilbronn", 49.142, 9.219, 127),
    ("Pforzheim", 48.892, 8.695, 126), ("Wolfsburg", 52.423, 10.787, 125),
    ("Göttingen", 51.541, 9.916, 118), ("Bottrop", 51.524, 6.929, 117),
    ("Reutlingen", 48.491, 9.204, 116), ("Koblenz", 50.356, 7.599, 114),
    ("Bremerhaven", 53.540, 8.581, 114), ("Recklinghausen", 51.614, 7.197, 111),
    ("Erlangen", 49.590, 11.004, 113), ("Bergisch Gladbach", 50.992, 7.127, 111),
    ("Remscheid", 51.179, 7.192, 111), ("Jena", 50.928, 11.589, 110),
    ("Trier", 49.750, 6.637, 110), ("Salzgitter", 52.154, 10.333, 104),
    ("Moers", 51.451, 6.626, 104), ("Siegen", 50.875, 8.024, 101),
    ("Hildesheim", 52.151, 9.951, 101), ("Cottbus", 51.757, 14.329, 98),
]

# A rough outline of Germany (lon, lat), enough to keep the rural background on land.
GERMANY = np.array([
    (8.6, 53.9), (8.9, 54.9), (8.3, 55.05), (9.4, 54.83), (10.0, 54.7), (11.0, 54.4),
    (11.3, 54.2), (12.3, 54.4), (13.4, 54.7), (14.2, 53.95), (14.4, 53.3), (14.6, 52.6),
    (14.75, 52.1), (14.7, 51.5), (15.0, 51.1), (15.0, 51.0), (14.3, 50.9), (13.0, 50.5),
    (12.1, 50.3), (12.5, 49.7), (13.8, 48.8), (13.5, 48.5), (12.9, 47.9), (13.0, 47.5),
    (12.2, 47.7), (11.0, 47.4), (10.2, 47.3), (9.6, 47.5), (8.6, 47.7), (7.6, 47.6),
    (7.5, 48.1), (8.2, 48.98), (6.4, 49.2), (6.4, 49.5), (6.1, 50.1), (6.0, 50.75),
    (5.9, 51.05), (6.1, 51.85), (6.8, 52.0), (7.05, 52.6), (7.2, 53.3), (7.0, 53.6),
    (8.0, 53.7),
])
CITY_SHARE = 0.65
SUBURB_SHARE = 0.35
TERRITORIES = ("Nord", "Mitte-Nord", "Mitte", "Mitte-Süd", "Süd")
REP_OWNED_ELSEWHERE = 0.002
SURNAMES = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
            "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann")
TRADES = ("Bäckerei", "Metzgerei", "Apotheke", "Autohaus", "Getränkemarkt", "Blumen",
          "Elektro", "Sanitär", "Café", "Buchhandlung", "Optik", "Hotel")
STREETS = ("Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Dorfstraße",
           "Lindenstraße", "Kirchstraße", "Bergstraße", "Waldstraße", "Ringstraße")


def inside_germany(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Ray casting against the outline, vectorized over the points."""
    inside = np.zeros(lat.shape, dtype=bool)
    x1, y1 = GERMANY[-1]
    for x2, y2 in GERMANY:
        crosses = (y1 > lat) != (y2 > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = (x2 - x1) * (lat - y1) / (y2 - y1) + x1
        inside ^= crosses & (lon < at)
        x1, y1 = x2, y2
    return inside


def sample_points(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` (lat, lon, nearest-city index) drawn from the customer distribution."""
    lats, lons, cities = [], [], []
    weights = np.array([c[3] for c in CITIES], dtype=float)
    weights /= weights.sum()
    centre_lat = np.array([c[1] for c in CITIES])
    centre_lon = np.array([c[2] for c in CITIES])
    # A city's core spreads with the square root of its size: 2.5 km at 100,000 inhabitants.
    sigma_km = 2.5 * np.sqrt(np.array([c[3] for c in CITIES]) / 100.0)
    missing = count
    while missing:
        batch = int(missing * 1.3) + 100
        kind = rng.random(batch)
        city = rng.choice(len(CITIES), size=batch, p=weights)
        spread = np.where(kind < CITY_SHARE * (1 - SUBURB_SHARE), 1.0, 3.0) * sigma_km[city]
        north_km = rng.normal(size=batch) * spread
        east_km = rng.normal(size=batch) * spread
        lat = centre_lat[city] + north_km / 111.2
        lon = centre_lon[city] + east_km / (111.2 * np.cos(np.radians(lat)))
        rural = kind >= CITY_SHARE
        lat[rural] = rng.uniform(47.2, 55.1, rural.sum())
        lon[rural] = rng.uniform(5.8, 15.1, rural.sum())
        city[rural] = -1
        keep = inside_germany(lat, lon)
        lat, lon, city = lat[keep][:missing], lon[keep][:missing], city[keep][:missing]
        lats.append(lat)
        lons.append(lon)
        cities.append(city)
        missing -= len(lat)
    return np.concatenate(lats), np.concatenate(lons), np.concatenate(cities)


@dataclass
class Population:
    """The generated customers as arrays, and where the territories are cut."""

    lat: np.ndarray
    lon: np.ndarray
    city: np.ndarray
    located: np.ndarray
    deleted: np.ndarray
    territory: np.ndarray
    rep_owned: np.ndarray
    cuts: np.ndarray

    @property
    def count(self) -> int:
        return len(self.lat)


def generate(count: int) -> Population:
    """The customers, from the cache under bench/results/ when the same ones were made before."""
    cache = RESULTS / f"nearby-customers-{count}-v{GENERATOR_VERSION}.npz"
    if cache.exists():
        data = np.load(cache)
        return Population(**{name: data[name] for name in data.files})
    rng = np.random.default_rng(SEED)
    lat, lon, city = sample_points(rng, count)
    located = rng.random(count) >= 0.005
    deleted = rng.random(count) < 0.005
    # Latitude bands of one fifth of the customers each, north first.
    cuts = np.quantile(lat, [0.8, 0.6, 0.4, 0.2])
    territory = np.searchsorted(-cuts, -lat, side="right")
    rep_owned = (territory != 0) & (rng.random(count) < REP_OWNED_ELSEWHERE)
    population = Population(lat, lon, city, located, deleted, territory, rep_owned, cuts)
    RESULTS.mkdir(exist_ok=True)
    np.savez(cache, **population.__dict__)
    return population


def query_points(count: int, seed: int, north_of: float | None = None) -> list[tuple[float, float]]:
    """Query points from the customer distribution (only north of a latitude, for the rep)."""
    rng = np.random.default_rng(seed)
    points: list[tuple[float, float]] = []
    while len(points) < count:
        lat, lon, _ = sample_points(rng, count * (6 if north_of else 1))
        keep = lat >= north_of if north_of is not None else np.ones(lat.shape, bool)
        points += list(zip(lat[keep].tolist(), lon[keep].tolist(), strict=True))
    return points[:count]


def machine() -> dict:
    """What the numbers were measured on (bench.list_detail's) and the SQLite version."""
    return base_machine() | {
        "sqlite": sqlite3.sqlite_version,
    }


def app_config(url: str) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "bench",
        "DEBUG": False,
        "TESTING": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
    }


def migrate(url: str) -> None:
    """The newest schema, by the real Alembic migrations."""
    from flask_migrate import upgrade

    app = create_app(app_config(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()




def schema_head() -> str:
    """The newest migration revision, so a cached SQLite file is rebuilt after a schema change."""
    from alembic.script import ScriptDirectory

    import fieldcrm

    return ScriptDirectory(str(Path(fieldcrm.__file__).parent / "migrations")).get_current_head()


@dataclass
class People:
    rep_ids: list[uuid.UUID]
    territory_ids: list[uuid.UUID]


def seed_people() -> People:
    """An admin, five reps with a territory each (rep 1 works "Nord"), committed."""
    password_hash = hash_password("bench-password")
    admin = User(email="admin@bench.example", name="Bench Admin", role="admin",
                 password_hash=password_hash)
    reps, territories = [], []
    for number, name in enumerate(TERRITORIES, 1):
        rep = User(email=f"rep{number}@bench.example", name=f"Bench Rep {number}", role="rep",
                   password_hash=password_hash)
        reps.append(rep)
        territories.append(Territory(name=name, reps=[rep]))
    db.session.add_all([admin, *reps, *territories])
    db.session.commit()
    return People([r.id for r in reps], [t.id for t in territories])


def customer_rows(population: Population, people: People, first_version: int, start: int,
                  stop: int, as_uuid) -> list[tuple]:
    """The varying columns (see ``VARYING``) of customers ``start``…``stop`` as tuples."""
    rows = []
    rng = np.random.default_rng(start)
    ids = rng.bytes(16 * (stop - start))
    picks = rng.integers(0, 1_000_000, size=(stop - start, 4)).tolist()
    rep_ids = [as_uuid(r) for r in people.rep_ids]
    territory_ids = [as_uuid(t) for t in people.territory_ids]
    rep = rep_ids[0]
    lat, lon = population.lat, population.lon
    for offset, index in enumerate(range(start, stop)):
        a, b, c, d = picks[offset]
        located = bool(population.located[index])
        slot = int(population.territory[index])
        city_index = int(population.city[index])
        city = CITIES[city_index][0] if city_index >= 0 else f"Gemeinde {c % 9000}"
        version = first_version + index
        name = f"{TRADES[a % len(TRADES)]} {SURNAMES[b % len(SURNAMES)]} {d % 1000}"
        rows.append((
            as_uuid(uuid.UUID(bytes=ids[16 * offset:16 * offset + 16], version=4)),
            version, version, bool(population.deleted[index]), name,
            f"{STREETS[c % len(STREETS)]} {1 + d % 180}", f"{10000 + (a * 7 + c) % 89999:05d}",
            city, float(lat[index]) if located else None, float(lon[index]) if located else None,
            f"+49 {30 + b % 900} {100000 + d}", f"info@{SURNAMES[b % len(SURNAMES)].lower()}-{d}.de",
            ("customer", "prospect", "lead", "at_risk")[a % 4], "ABC"[c % 3],
            rep if population.rep_owned[index] else rep_ids[slot], territory_ids[slot],
            "ok" if located else "none",
        ))
    return rows


VARYING = ("id", "version", "seq", "deleted", "name", "street", "postal_code", "city", "lat", "lon",
           "phone", "email", "status", "abc_class", "owner_id", "territory_id", "geocode_status")


def constant_columns(dialect: sa.Dialect, now: datetime) -> dict:
    """The other NOT NULL columns of the migrated table, from the models' defaults."""
    values = {}
    inspector = sa.inspect(db.engine)
    present = {column["name"]: column for column in inspector.get_columns("customer")}
    for name, column in present.items():
        if name in VARYING or column["nullable"]:
            continue
        model_column = Customer.__table__.columns[name]
        if name in ("created_at", "updated_at"):
            value = now
        elif model_column.default is None:
            raise SystemExit(f"customer.{name} is NOT NULL without a default: teach the bench")
        elif model_column.default.is_callable:
            value = model_column.default.arg(None)
        else:
            value = model_column.default.arg
        process = model_column.type.bind_processor(dialect)
        values[name] = process(value) if process else value
    return values


def secondary_indexes() -> list[tuple[str, str]]:
    """(name, CREATE statement) of the customer table's indexes that back no constraint."""
    if db.engine.dialect.name == "sqlite":
        query = ("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                 "AND tbl_name = 'customer' AND sql IS NOT NULL")
    else:
        query = ("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customer' "
                 "AND indexname NOT IN (SELECT conname FROM pg_constraint "
                 "WHERE conrelid = 'customer'::regclass)")
    with db.engine.connect() as conn:
        return [(row[0], row[1]) for row in conn.exec_driver_sql(query)]


def spatial_triggers() -> list[tuple[str, str]]:
    """(name, CREATE statement) of the triggers that keep SQLite's R*Tree in step."""
    with db.engine.connect() as conn:
        return [(row[0], row[1]) for row in conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'customer'")]


def rtree_fill() -> list[str]:
    """The statements with which migration 0008 fills SQLite's R*Tree from the customers."""
    path = Path(fieldcrm.__file__).parent / "migrations/versions/0008_exact_rtree.py"
    spec = importlib.util.spec_from_file_location("exact_rtree", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FILL


def load_customers(population: Population, people: People) -> float:
    """Bulk-load every customer, bump the version counter; seconds taken.

    Secondary indexes are dropped for the load and made again from their own definitions
    afterwards (sorting once is far faster than a million random inserts). On SQLite the
    R*Tree triggers are lifted too and the R*Tree filled as migration 0008 fills it, then
    checked against the table; the load runs without a
    rollback journal. PostgreSQL gets COPY and then VACUUM ANALYZE (what autovacuum
    does shortly after a bulk load).
    """
    start = time.perf_counter()
    dialect = db.engine.dialect
    now = datetime.now(UTC).replace(microsecond=0)
    constants = constant_columns(dialect, now)
    columns = list(VARYING) + list(constants)
    tail = tuple(constants.values())
    counter = db.session.execute(sa.text("SELECT value FROM sync_counter WHERE id = 1")).scalar_one()
    first_version = counter + 1
    db.session.commit()
    chunk = 50_000
    indexes = secondary_indexes()
    triggers = spatial_triggers() if dialect.name == "sqlite" else []
    db.session.remove()
    db.engine.dispose()
    if dialect.name == "sqlite":
        # A connection of its own, outside the app's pool (which would switch it to WAL).
        raw = sqlite3.connect(db.engine.url.database)
    else:
        raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if dialect.name == "sqlite":
            cursor.execute("PRAGMA journal_mode = OFF")
            cursor.execute("PRAGMA cache_size = -400000")
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for name, _ in triggers:
            cursor.execute(f'DROP TRIGGER "{name}"')
        if dialect.name == "sqlite":
            placeholders = ", ".join("?" for _ in columns)
            statement = f"INSERT INTO customer ({', '.join(columns)}) VALUES ({placeholders})"
            for begin in range(0, population.count, chunk):
                rows = customer_rows(population, people, first_version, begin,
                                     min(begin + chunk, population.count), lambda u: u.hex)
                cursor.executemany(statement, [row + tail for row in rows])
            # As the newest migration (0008) fills it.
            for fill in rtree_fill():
                cursor.execute(fill)
        else:
            copy_sql = f"COPY customer ({', '.join(columns)}) FROM STDIN"
            with cursor.copy(copy_sql) as copy:
                for begin in range(0, population.count, chunk):
                    for row in customer_rows(population, people, first_version, begin,
                                             min(begin + chunk, population.count), lambda u: u):
                        copy.write_row(row + tail)
        cursor.execute(f"UPDATE sync_counter SET value = value + {population.count:d} WHERE id = 1")
        for _, definition in indexes + triggers:
            cursor.execute(definition)
        raw.commit()
    finally:
        raw.close()
    db.engine.dispose()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
        if dialect.name == "postgresql":
            auto.execute(sa.text("VACUUM ANALYZE"))
        else:
            indexed = auto.exec_driver_sql("SELECT count(*) FROM customer_geo").scalar_one()
            live = auto.exec_driver_sql("SELECT count(*) FROM customer WHERE lat IS NOT NULL "
                                        "AND lon IS NOT NULL AND NOT deleted").scalar_one()
            if indexed != live:
                raise SystemExit(f"R*Tree holds {indexed} entries for {live} located customers")
    return time.perf_counter() - start


@dataclass
class Series:
    """Timings of one kind of query for one user on one backend."""

    backend: str
    user: str
    label: str
    timings: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    results: list[int] = field(default_factory=list)
    found: list[list[tuple[int, float]]] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.timings)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.timings, n=20)[-1]


def haversine_m(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Great-circle distances on the mean sphere, vectorized (the brute-force baseline's metric)."""
    p1, p2 = math.radians(lat), np.radians(lats)
    a = (np.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * np.cos(p2) * np.sin(np.radians(lons - lon) / 2) ** 2)
    return 2 * EARTH_MEAN_RADIUS_M * np.arcsin(np.sqrt(a))


class BruteForce:
    """Every live located customer's coordinates in memory, scanned for each query."""

    def __init__(self, population: Population, scope: np.ndarray | None = None):
        live = population.located & ~population.deleted
        if scope is not None:
            live &= scope
        self.rows = np.flatnonzero(live)
        self.lat = population.lat[live].copy()
        self.lon = population.lon[live].copy()
        self.geod = Geod(ellps="WGS84")

    def nearest(self, lat: float, lon: float, k: int) -> np.ndarray:
        """Row numbers of the ``k`` nearest by haversine: the timed baseline."""
        distances = haversine_m(lat, lon, self.lat, self.lon)
        best = np.argpartition(distances, k)[:k]
        return self.rows[best[np.argsort(distances[best])]]

    def exact_nearest(self, lat: float, lon: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers and geodesic metres of the exact ``k`` nearest (haversine prefilter, ±0.5 %)."""
        distances = haversine_m(lat, lon, self.lat, self.lon)
        kth = np.partition(distances, k)[k]
        near = np.flatnonzero(distances <= kth * 1.02 + 1.0)
        exact = self.geodesic(lat, lon, near)
        order = np.lexsort((near, exact))[:k]
        return self.rows[near[order]], exact[order]

    def geodesic(self, lat: float, lon: float, which: np.ndarray | None = None) -> np.ndarray:
        lats = self.lat if which is None else self.lat[which]
        lons = self.lon if which is None else self.lon[which]
        ones = np.ones(lats.shape)
        return self.geod.inv(ones * lon, ones * lat, lons, lats)[2]


def logged_in_client(app: Flask, user_id: uuid.UUID):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
    return client


def bench_backend(name: str, url: str, population: Population, args, fresh: bool) -> dict:
    """Migrate and fill (unless kept from before) one database, then time every query kind."""
    if fresh:
        print(f"[{name}] migrating", flush=True)
        migrate(url)
    app = create_app(app_config(url))
    seconds = None
    with app.app_context():
        if fresh:
            people = seed_people()
            print(f"[{name}] loading {population.count:,} customers", flush=True)
            seconds = load_customers(population, people)
            print(f"[{name}] loaded in {seconds:.1f} s", flush=True)
        admin = db.session.scalar(sa.select(User).where(User.email == "admin@bench.example"))
        rep = db.session.scalar(sa.select(User).where(User.email == "rep1@bench.example"))
        if db.engine.dialect.name == "sqlite":
            version = sqlite3.sqlite_version
        else:
            version = db.session.execute(sa.text("SHOW server_version")).scalar_one()
        rep_share = db.session.execute(
            sa.select(sa.func.count()).where(~Customer.deleted, Customer.lat.is_not(None),
                                             customer_scope(rep))).scalar_one()
        first_seq = db.session.execute(sa.select(sa.func.min(Customer.seq))).scalar_one()
        users = {"admin": admin, "rep": rep}
        for person in users.values():
            db.session.expunge(person)
        db.session.remove()

    series = []
    for user, person in users.items():
        warm, points = args.points[user]
        kinds = {
            "nearest": (Series(name, user, f"{NEAREST} nearest: search"),
                        Series(name, user, f"{NEAREST} nearest: search + rows"),
                        {"limit": NEAREST}),
            "within": (Series(name, user, f"≤ {RADIUS_M / 1000:g} km, {args.radius_cap} max: search"),
                       Series(name, user, f"≤ {RADIUS_M / 1000:g} km, {args.radius_cap} max: + rows"),
                       {"limit": args.radius_cap, "radius_m": RADIUS_M}),
        }
        whole = Series(name, user, f"request: {NEAREST} nearest as JSON")
        with app.app_context():
            for turn, (lat, lon) in enumerate(warm + points):
                timed = turn >= len(warm)
                for kind, (search, with_rows, options) in kinds.items():
                    # As in a request: the user is loaded, so the transaction is open.
                    asker = db.session.get(User, person.id)
                    start, cpu = time.perf_counter(), time.process_time()
                    ranked = rank_nearest(asker, lat, lon, **options)
                    searched, searched_cpu = time.perf_counter(), time.process_time()
                    load_ranked(ranked)
                    loaded, loaded_cpu = time.perf_counter(), time.process_time()
                    db.session.remove()
                    if timed:
                        search.timings.append((searched - start) * 1000)
                        search.cpu.append((searched_cpu - cpu) * 1000)
                        with_rows.timings.append((loaded - start) * 1000)
                        with_rows.cpu.append((loaded_cpu - cpu) * 1000)
                        search.results.append(len(ranked))
                        if kind == "nearest" and len(search.found) < args.baseline_queries:
                            search.found.append([(seq - first_seq, d) for d, seq in ranked])
        client = logged_in_client(app, person.id)
        for turn, (lat, lon) in enumerate(warm + points):
            start, cpu = time.perf_counter(), time.process_time()
            response = client.get(f"/api/v1/customers?near={lat:.6f},{lon:.6f}&limit={NEAREST}")
            response.get_data()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            if response.status_code != 200:
                raise SystemExit(f"[{name}] GET /api/v1/customers?near=: HTTP {response.status_code}")
            if turn >= len(warm):
                whole.timings.append(elapsed * 1000)
                whole.cpu.append(cpu * 1000)
                whole.results.append(len(response.get_json()["items"]))
        for search, with_rows, _ in kinds.values():
            series += [search, with_rows]
        series.append(whole)
        print(f"[{name}] {user}: " + ", ".join(
            f"{s.label} p50 {s.p50:.3f} ms" for s in series[-5:]), flush=True)

    statements = count_statements(app, users, args)
    filtered = filtered_searches(app, users, args) if args.filter_queries else []
    plans = explain_plans(app, users, args) if args.explain else []
    with app.app_context():
        db.engine.dispose()
    return {"backend": name, "version": version, "load_seconds": seconds, "series": series,
            "plans": plans, "statements": statements, "rep_share": rep_share,
            "filtered": filtered}


def filtered_searches(app: Flask, users: dict, args) -> list[tuple[str, float, float, int]]:
    """(case, median ms, max ms, results at the first point) of filtered searches, which the
    issue sets no target for: the common ones and those few customers near the point pass
    (docs/GEO.md "Known limits"), over the first ``--filter-queries`` admin points."""
    points = args.points["admin"][1][:args.filter_queries]
    with app.app_context():
        rep2 = db.session.scalar(sa.select(User.id).where(User.email == "rep2@bench.example"))
        admin, rep = users["admin"], users["rep"]
        nobody_has = Customer.name.icontains("no customer is called this", autoescape=True)
        cases = [
            ("admin, status at_risk + class A", admin, {"where": [
                Customer.status == "at_risk", Customer.abc_class == "A"]}),
            ("admin, status at_risk + class A, <= 10 km", admin, {
                "where": [Customer.status == "at_risk", Customer.abc_class == "A"],
                "radius_m": RADIUS_M, "limit": args.radius_cap}),
            ("admin, owner rep 1 (north only)", admin, {"owner_id": rep.id}),
            ("admin, status lost (nobody)", admin, {"where": [Customer.status == "lost"]}),
            ("admin, text nobody has", admin, {"where": [nobody_has]}),
            ("rep 1, owner rep 2 (nobody in scope)", rep, {"owner_id": rep2}),
            # Four in five of these points lie outside the rep's band: a rep away from home.
            ("rep 1, no filter, at the admin's points", rep, {}),
        ]
        found = []
        for label, person, options in cases:
            timings, first = [], None
            for lat, lon in points:
                asker = db.session.get(User, person.id)
                start = time.perf_counter()
                ranked = rank_nearest(asker, lat, lon, **{"limit": NEAREST, **options})
                timings.append((time.perf_counter() - start) * 1000)
                first = len(ranked) if first is None else first
                db.session.remove()
            found.append((label, statistics.median(timings), max(timings), first))
    return found


def count_statements(app: Flask, users: dict, args) -> dict:
    """SQL statements per nearest_customers(limit=20): the search's and loading the rows."""
    stats = {}
    with app.app_context():
        engine = db.engine
        for user, person in users.items():
            counts = []

            def count(*_, into=counts):
                into[-1] += 1

            sa.event.listen(engine, "before_cursor_execute", count)
            geo.statement_hook = count  # the search's own statements bypass SQLAlchemy
            try:
                for lat, lon in args.points[user][1][:200]:
                    counts.append(0)
                    nearest_customers(person, lat, lon, limit=NEAREST)
                    db.session.remove()
            finally:
                sa.event.remove(engine, "before_cursor_execute", count)
                geo.statement_hook = None
            stats[user] = {"p50": statistics.median(counts), "max": max(counts)}
    return stats


def explain_plans(app: Flask, users: dict, args) -> list[tuple[str, str, str]]:
    """The plans of every statement of a "20 nearest" for both users at their first point."""
    plans = []
    with app.app_context():
        engine = db.engine
        for user, person in users.items():
            lat, lon = args.points[user][1][0]
            captured = []

            def capture(conn, cursor, statement, parameters, context, executemany, into=captured):
                into.append((statement, parameters))

            sa.event.listen(engine, "before_cursor_execute", capture)
            geo.statement_hook = lambda statement, parameters, into=captured: into.append(
                (statement, parameters))
            try:
                nearest_customers(person, lat, lon, limit=NEAREST)
            finally:
                sa.event.remove(engine, "before_cursor_execute", capture)
                geo.statement_hook = None
            db.session.remove()
            with engine.connect() as conn:
                for statement, parameters in captured:
                    if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                        continue
                    if conn.dialect.name == "sqlite":
                        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                        plan = "\n".join(f"  {row[3]}" for row in rows)
                    else:
                        rows = conn.exec_driver_sql(
                            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
                        plan = "\n".join(f"  {row[0]}" for row in rows)
                    plans.append((user, statement, plan))
    return plans


def baseline(population: Population, people_scope: dict, points: dict, args) -> dict:
    """Brute-force scan timings, and the exact rankings the index answers are checked against."""
    out = {}
    for user, scope in people_scope.items():
        brute = BruteForce(population, scope)
        sample = points[user][:args.baseline_queries]
        timings, exact = [], []
        for lat, lon in sample:
            start = time.perf_counter()
            brute.nearest(lat, lon, NEAREST)
            timings.append((time.perf_counter() - start) * 1000)
            exact.append(brute.exact_nearest(lat, lon, NEAREST))
        geodesic_ms = []
        for lat, lon in sample[:args.exact_queries]:
            start = time.perf_counter()
            distances = brute.geodesic(lat, lon)
            np.argpartition(distances, NEAREST)
            geodesic_ms.append((time.perf_counter() - start) * 1000)
        out[user] = {"timings": timings, "exact": exact, "geodesic_ms": geodesic_ms,
                     "rows": len(brute.rows)}
    return out


def check_exact(result: dict, brute: dict) -> tuple[int, int]:
    """Answers of the index that differ from the brute-force ranking (beyond 1 mm ties)."""
    wrong = checked = 0
    for series in result["series"]:
        for got, (rows, distances) in zip(series.found, brute[series.user]["exact"], strict=False):
            checked += 1
            got_rows = [row for row, _ in got]
            got_d = np.array([d for _, d in got])
            same_distances = len(got) == len(rows) and np.allclose(got_d, distances, atol=1e-3, rtol=0)
            if not same_distances or (set(got_rows) != set(rows.tolist())
                                      and not np.any(np.diff(distances) < 1e-3)):
                wrong += 1
    return wrong, checked


def report(info: dict, population: Population, results: list[dict], brute: dict,
           notes: list[str], args) -> str:
    """One plain-text table with the machine, the databases, the figures and the baseline."""
    lines = [
        "fieldcrm benchmark: nearest customers (issue 3)",
        f"  date        {info['date']}",
        f"  machine     {info['nproc']} CPUs (nproc), {info['cpu']}, {info['system']}",
        f"  python      {info['python']}",
    ]
    for result in results:
        loaded = (f"loaded in {result['load_seconds']:.0f} s" if result["load_seconds"]
                  else "kept from an earlier run")
        lines.append(f"  {result['backend']:<11} {result['version']} ({population.count:,} "
                     f"customers, {loaded}; the rep's scope holds {result['rep_share']:,})")
    lines += [f"  note        {note}" for note in notes]
    lines += [
        f"  queries     {args.queries} random points per user from the customer distribution "
        f"(+{args.warmup} warm-up); baseline over the first {args.baseline_queries}",
        "  search      rank_nearest(): the index queries and the exact geodesic ranking of the "
        "candidates;",
        "              the connection is already open, as in a request after loading the user",
        "  + rows      search and loading the Customer rows (ORM), i.e. nearest_customers()",
        f"  request     Flask test client GET /api/v1/customers?near=lat,lon&limit={NEAREST} "
        "(session cookie, user load, search, rows, JSON), no network",
        "  CPU         this process's CPU time (on SQLite that includes the database's work; "
        "PostgreSQL's runs in its own process)",
        "  baseline    numpy haversine over every live located customer in scope + argpartition "
        f"({NEAREST} nearest), data already in memory",
        f"  load avg    {info['load_before']} before, {info['load_after']} after (1/5/15 min)",
        "",
        f"{'backend':<12}{'user':<7}{'what':<34}{'p50':>9}{'p95':>9}{'CPU p50':>10}"
        f"{'baseline p50':>14}{'speed-up':>10}  target",
    ]
    for result in results:
        for series in result["series"]:
            base = statistics.median(brute[series.user]["timings"])
            met, goal = verdict(series)
            mark = "" if met is None else f"{'ok' if met else 'MISSED'} ({goal})"
            lines.append(
                f"{series.backend:<12}{series.user:<7}{series.label:<34}{series.p50:>7.3f}ms"
                f"{series.p95:>7.3f}ms{statistics.median(series.cpu):>8.3f}ms"
                f"{base:>12.1f}ms{base / series.p50:>9.0f}×  {mark}")
        counts = ", ".join(f"{user} {c['p50']:g} (max {c['max']})"
                           for user, c in result["statements"].items())
        lines.append(f"{'':<19}SQL statements per nearest_customers(limit={NEAREST}) (search and rows), "
                     f"median: {counts}")
        lines.append(f"{'':<19}exactness: {result['wrong']} of {result['checked']} answers differ "
                     "from the brute-force geodesic ranking")
        if result["filtered"]:
            lines.append(f"{'':<19}filtered searches, {NEAREST} nearest unless said (no target), "
                         f"median / max over {args.filter_queries} admin points:")
        for label, median, most, count in result["filtered"]:
            lines.append(f"{'':<21}{label:<44}{median:>9.1f} / {most:.1f} ms  "
                         f"({count} found at the first point)")
        lines.append("")
    for user, data in brute.items():
        lines.append(
            f"baseline {user:<6} numpy haversine scan of {data['rows']:,} rows: p50 "
            f"{statistics.median(data['timings']):.1f} ms, p95 "
            f"{statistics.quantiles(data['timings'], n=20)[-1]:.1f} ms; exact pyproj geodesic "
            f"scan: {statistics.median(data['geodesic_ms']):.0f} ms")
    return "\n".join(lines)


def verdict(series: Series) -> tuple[bool | None, str]:
    """Whether a series meets its target (None: shown for information), and the target."""
    if series.label.startswith("request"):
        return series.p50 <= TARGET_REQUEST_P50_MS, f"p50 ≤ {TARGET_REQUEST_P50_MS:g} ms"
    if series.label.endswith("search"):
        return (series.p50 <= TARGET_P50_MS and series.p95 <= TARGET_P95_MS,
                f"p50 ≤ {TARGET_P50_MS:g}, p95 ≤ {TARGET_P95_MS:g} ms")
    return None, ""


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def sqlite_file(count: int, head: str) -> Path:
    return RESULTS / f"nearby-{count}-v{GENERATOR_VERSION}-{head}.sqlite"


def complete(path: Path) -> Path:
    """The marker written next to a cached SQLite file once its load has finished."""
    return path.with_name(path.name + ".complete")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=int(os.environ.get("BENCH_CUSTOMERS", 1_000_000)))
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--baseline-queries", type=int, default=200)
    parser.add_argument("--exact-queries", type=int, default=5)
    parser.add_argument("--radius-cap", type=int, default=Config.NEARBY_RADIUS_MAX_ROWS + 1,
                        help="at most this many customers within the radius (default: what the "
                             "nearby list asks for)")
    parser.add_argument("--filter-queries", type=int, default=5,
                        help="points for the filtered searches (0: none)")
    parser.add_argument("--explain", action="store_true", help="print the plans of the queries")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse a PostgreSQL database kept by --keep (for profiling)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one backend only")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    info = machine()
    info["load_before"] = load_average()
    started = time.perf_counter()
    population = generate(args.customers)
    admin_points = query_points(args.warmup + args.queries, SEED + 1)
    rep_points = query_points(args.warmup + args.queries, SEED + 2,
                              north_of=float(population.cuts[0]))
    args.points = {user: (found[:args.warmup], found[args.warmup:])
                   for user, found in (("admin", admin_points), ("rep", rep_points))}
    points = {user: timed for user, (_, timed) in args.points.items()}
    rep_scope = (population.territory == 0) | population.rep_owned
    print(f"generated {population.count:,} customers in {time.perf_counter() - started:.1f} s; "
          "timing the brute-force baseline", flush=True)
    brute = baseline(population, {"admin": None, "rep": rep_scope}, points, args)

    results, notes = [], []
    head = schema_head()
    if args.only in (None, "sqlite"):
        path = sqlite_file(args.customers, head)
        fresh = args.rebuild or not complete(path).exists()
        if fresh:
            for old in RESULTS.glob(f"nearby-{args.customers}-*.sqlite*"):
                old.unlink()
        results.append(bench_backend("SQLite", f"sqlite:///{path}", population, args, fresh))
        complete(path).touch()
    if args.only in (None, "postgresql"):
        url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES_URL)
        problem = None if args.reuse else recreate_postgres(url)
        if problem:
            notes.append(f"PostgreSQL skipped: {problem}")
            print(f"[PostgreSQL] skipped: {problem}", flush=True)
        else:
            results.append(bench_backend("PostgreSQL", url, population, args, not args.reuse))
            if not args.keep:
                drop_postgres(url)
    for result in results:
        result["wrong"], result["checked"] = check_exact(result, brute)
    notes.append(f"whole run {time.perf_counter() - started:.0f} s")
    info["load_after"] = load_average()
    text = report(info, population, results, brute, notes, args)
    print()
    print(text)
    for result in results:
        for user, statement, plan in result["plans"]:
            print(f"\n[{result['backend']}] {user}\n{statement}\n{plan}")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"nearby-{stamp}.json").write_text(json.dumps({
        "machine": info, "customers": population.count, "queries": args.queries,
        "results": [{
            "backend": r["backend"], "version": r["version"], "load_seconds": r["load_seconds"],
            "statements": r["statements"], "wrong": r["wrong"], "checked": r["checked"],
            "filtered": [{"case": label, "median_ms": round(median, 2), "max_ms": round(most, 2),
                          "found": count} for label, median, most, count in r["filtered"]],
            "series": [{"user": s.user, "what": s.label, "p50_ms": round(s.p50, 4),
                        "p95_ms": round(s.p95, 4), "cpu_p50_ms": round(statistics.median(s.cpu), 4)}
                       for s in r["series"]],
        } for r in results],
        "baseline": {user: {"p50_ms": statistics.median(d["timings"]),
                            "geodesic_scan_ms": statistics.median(d["geodesic_ms"])}
                     for user, d in brute.items()},
        "notes": notes,
    }, indent=2))
    missed = [s for r in results for s in r["series"] if verdict(s)[0] is False]
    wrong = any(r["wrong"] for r in results)
    return 1 if wrong or (missed and args.strict) else 0


if __name__ == "__main__":
    raise SystemExit(main())
