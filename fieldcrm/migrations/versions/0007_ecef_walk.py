"""ecef walk: PostgreSQL walks customers in order of the straight chord through the earth

Revision ID: b1e0c7a3d5f2
Revises: 7c4e2a9f1b06
Create Date: 2026-11-23 22:20:00

PostgreSQL: a partial GiST index on the WGS84 earth-centred (ECEF) x, y, z of each
customer, as a ``cube`` (contrib extension, trusted since PostgreSQL 13), with the same
included columns and predicate as the point index. ``cube <-> cube`` is the Euclidean
distance, which the GiST index walks in order (nearest first). That chord is never longer
than the geodesic and almost equal to it nearby, so the nearest-customer walk reads about
``limit`` + 2 entries instead of twice ``limit`` in plain degrees (docs/GEO.md).

The point(lon, lat) index stays: the map's "customers in this area" asks for a
latitude/longitude rectangle, which that index answers directly.

SQLite: nothing changes here.
"""
from alembic import op

revision = 'b1e0c7a3d5f2'
down_revision = '7c4e2a9f1b06'
branch_labels = None
depends_on = None


# WGS84: a = 6378137 m, e² = f (2 − f) with f = 1 / 298.257223563; height 0. The same
# formula as fieldcrm.geo.ecef, which computes the query point in Python. PostgreSQL
# raises an error when a product underflows to zero (sin² of 1e-200°, or radians() of a
# subnormal), which would make inserting such a customer fail, so coordinates nearer to 0
# than 1e-100° are taken as 0 (1e-95 m away), and N uses cos² (never below 3.7e-33).
ECEF_FUNCTIONS = [
    """
CREATE FUNCTION fieldcrm_ecef_radians(phi double precision, lam double precision) RETURNS cube
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT cube(ARRAY[
    6378137.0 / sqrt(0.9933056200098587 + 0.0066943799901413165 * cos(phi) * cos(phi))
      * cos(phi) * cos(lam),
    6378137.0 / sqrt(0.9933056200098587 + 0.0066943799901413165 * cos(phi) * cos(phi))
      * cos(phi) * sin(lam),
    6378137.0 / sqrt(0.9933056200098587 + 0.0066943799901413165 * cos(phi) * cos(phi))
      * 0.9933056200098587 * sin(phi)])
$$
""",
    """
CREATE FUNCTION fieldcrm_ecef(lat double precision, lon double precision) RETURNS cube
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT fieldcrm_ecef_radians(radians(CASE WHEN abs(lat) < 1e-100 THEN 0 ELSE lat END),
                               radians(CASE WHEN abs(lon) < 1e-100 THEN 0 ELSE lon END))
$$
""",
]

ECEF_INDEX = ("CREATE INDEX ix_customer_ecef ON customer USING gist (fieldcrm_ecef(lat, lon)) "
              "INCLUDE (seq, lat, lon, territory_id, owner_id, status, abc_class) "
              "WHERE NOT deleted AND lat IS NOT NULL AND lon IS NOT NULL")


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS cube")
    for statement in ECEF_FUNCTIONS:
        op.execute(statement)
    op.execute(ECEF_INDEX)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("DROP INDEX ix_customer_ecef")
    op.execute("DROP FUNCTION fieldcrm_ecef(double precision, double precision)")
    op.execute("DROP FUNCTION fieldcrm_ecef_radians(double precision, double precision)")
    # The extension stays: another schema object may use it, and it costs nothing unused.
