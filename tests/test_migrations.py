"""Migrations with data: up to head, down and up again, and the nearest search still exact.

Each test gets its own fresh database (SQLite file, or a PostgreSQL database of its
own), since it moves the schema back and forth under the shared one's feet otherwise.
"""

import os

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from pyproj import Geod
from support import app_config, drop_postgres_database, postgres_database

from fieldcrm import create_app
from fieldcrm.auth import hash_password
from fieldcrm.extensions import db
from fieldcrm.geo import rank_nearest
from fieldcrm.models import Customer, User

GEOD = Geod(ellps="WGS84")
BEFORE_0007 = "7c4e2a9f1b06"


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_app(request, tmp_path):
    """An app on an empty database, nothing migrated yet."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.sqlite'}"
    else:
        url = postgres_database(f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_migrations")
        if url is None:
            pytest.skip("TEST_DATABASE_URL not set (PostgreSQL suite skipped outside CI)")
    app = create_app(app_config(url))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    if request.param == "postgresql":
        drop_postgres_database(url)


def spatial_objects() -> set[str]:
    """The PostgreSQL indexes and function the nearest search relies on."""
    indexes = db.session.scalars(sa.text(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'customer'")).all()
    functions = db.session.scalars(sa.text(
        "SELECT proname FROM pg_proc WHERE proname LIKE 'fieldcrm_%'")).all()
    db.session.commit()
    return {name for name in [*indexes, *functions] if "geo" in name or "mercator" in name}


def brute_force(points: dict[int, tuple[float, float]], lat: float, lon: float) -> list[int]:
    return sorted(points, key=lambda seq: (GEOD.inv(lon, lat, points[seq][1], points[seq][0])[2], seq))


def test_0007_up_down_up_with_data(fresh_app):
    postgres = db.engine.dialect.name == "postgresql"
    upgrade(revision=BEFORE_0007)
    admin = User(email="admin@example.com", name="Ada", role="admin",
                 password_hash=hash_password("x"))
    db.session.add(admin)
    places = [(53.55, 9.99), (53.56, 10.0), (48.14, 11.58), (0.0, 179.999), (0.0, -179.999),
              (89.99, 0.0), (-89.99, 120.0), (53.55, 9.99)]
    customers = [Customer(name=f"K{n}", street="", postal_code="", city="", status="customer",
                          lat=lat, lon=lon) for n, (lat, lon) in enumerate(places)]
    customers += [Customer(name="gone", street="", postal_code="", city="", status="customer",
                           lat=53.55, lon=9.99, deleted=True),
                  Customer(name="nowhere", street="", postal_code="", city="", status="customer")]
    db.session.add_all(customers)
    db.session.commit()
    admin_id = admin.id
    points = {c.seq: (c.lat, c.lon) for c in customers if c.lat is not None and not c.deleted}

    def searches_are_exact():
        admin = db.session.get(User, admin_id)
        for lat, lon in [(53.55, 9.99), (0.0, 180.0), (90.0, 0.0), (-45.0, 60.0)]:
            expected = brute_force(points, lat, lon)
            for limit in (1, 3, 8, 20):
                assert [seq for _, seq in rank_nearest(admin, lat, lon, limit=limit)] == expected[:limit]
        assert [seq for _, seq in rank_nearest(admin, 0.0, 180.0, limit=5, radius_m=1_000)] == \
            brute_force({s: p for s, p in points.items() if abs(p[0]) < 1}, 0.0, 180.0)
        db.session.commit()

    def up_from_before_0007():
        if postgres:
            assert spatial_objects() == {"ix_customer_geo"}
        upgrade()
        if postgres:
            assert spatial_objects() == {"ix_customer_geo", "ix_customer_mercator",
                                         "fieldcrm_mercator"}
        searches_are_exact()

    up_from_before_0007()
    moved = db.session.scalar(sa.select(Customer).where(Customer.name == "K2"))
    moved.lat, moved.lon = 53.551, 9.991
    points[moved.seq] = (moved.lat, moved.lon)
    db.session.commit()
    searches_are_exact()
    db.session.remove()
    downgrade(revision=BEFORE_0007)
    up_from_before_0007()


def test_0009_status_index_down_and_up(fresh_app):
    def indexes() -> set[str]:
        names = {index["name"] for index in sa.inspect(db.engine).get_indexes("customer")}
        db.session.commit()
        return names

    upgrade()
    assert "ix_customer_status_class" in indexes()
    downgrade(revision="c4d2f9e6a8b1")
    assert "ix_customer_status_class" not in indexes()
    upgrade()
    assert "ix_customer_status_class" in indexes()
