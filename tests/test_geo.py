"""Nearest customers: exact k nearest by geodesic distance, equal to a brute-force ranking."""

import random
import uuid

import pytest
from geopy.distance import geodesic

from fieldcrm.geo import Box, covering_boxes, distance_m, nearest_customers
from fieldcrm.models import Customer
from fieldcrm.scope import customer_scope


def test_distance_matches_geopy():
    assert distance_m(53.55, 9.99, 48.14, 11.58) == pytest.approx(
        geodesic((53.55, 9.99), (48.14, 11.58)).meters, abs=1e-6)


def test_boxes_split_at_antimeridian():
    boxes = covering_boxes(0.0, 179.99, 50_000)
    assert len(boxes) == 2 and any(b.east == 180.0 for b in boxes) and any(b.west == -180.0 for b in boxes)
    assert covering_boxes(89.9, 0, 50_000) == [Box(pytest.approx(89.9 - 0.4527, abs=0.01), -180.0, 90.0, 180.0)]


def test_nearest_equals_brute_force(db, world):
    rng = random.Random(7)
    admin = world.admin
    rows = [Customer(name=f"K{i}", lat=rng.uniform(47, 55), lon=rng.uniform(6, 15),
                     territory_id=world.north.id) for i in range(300)]
    db.session.add_all(rows)
    db.session.commit()
    everyone = [c for c in db.session.query(Customer).all() if c.lat is not None]
    for _ in range(15):
        lat, lon = rng.uniform(46, 56), rng.uniform(5, 16)
        # The world's two customers share a point: ties go to the older customer (lower seq).
        expected = sorted((geodesic((lat, lon), (c.lat, c.lon)).meters, c.seq) for c in everyone)[:20]
        got = nearest_customers(admin, lat, lon, limit=20)
        assert [c.seq for c, _ in got] == [seq for _, seq in expected]
        assert [d for _, d in got] == pytest.approx([d for d, _ in expected], abs=1e-3)


@pytest.mark.parametrize("role", ["rep", "manager", "admin"])
def test_scope_reads_only_role_and_id(role):
    """fieldcrm.geo keeps each user's scope clause by (role, id); that is only right while
    customer_scope reads nothing else of the user. If this fails, widen the key in geo._scope."""

    class OnlyRoleAndId:
        def __init__(self):
            self.role, self.id = role, uuid.uuid4()

        def __getattr__(self, name):
            raise AssertionError(f"customer_scope read user.{name}")

    customer_scope(OnlyRoleAndId())
