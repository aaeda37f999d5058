"""conformal walk: PostgreSQL walks customers in Mercator order, nearly the order of metres

Revision ID: b1e0c7a3d5f2
Revises: 7c4e2a9f1b06
Create Date: 2026-11-23 22:20:00

PostgreSQL: a partial GiST index on each customer's ellipsoidal Mercator position,
``fieldcrm_mercator(lat, lon)`` = point(lon, isometric latitude in degrees), with the same
included columns and predicate as the point(lon, lat) index. Mercator is conformal: a
Mercator degree is the same number of metres in every direction (N cos φ), so the GiST
walk (``point <-> point``) returns customers in nearly the order of metres and the search
reads about ``limit`` + 3 entries instead of about limit / cos φ in plain degrees.

A first version walked a ``cube`` index of earth-centred coordinates (ECEF chord), which
was exact but slower at a million customers (docs/GEO.md).

The point(lon, lat) index stays: the map's "customers in this area" and the search's
circle query (near the poles and the antimeridian) ask for latitude/longitude boxes.

SQLite: nothing changes here.
"""
from alembic import op

revision = 'b1e0c7a3d5f2'
down_revision = '7c4e2a9f1b06'
branch_labels = None
depends_on = None


# WGS84: e = √(f (2 − f)), f = 1 / 298.257223563. The same formula as fieldcrm.geo.mercator,
# which computes the query point in Python. PostgreSQL raises an error when a product
# underflows to zero (radians() of a subnormal latitude), which would make inserting such
# a customer fail, so coordinates nearer to 0 than 1e-100° are taken as 0 (1e-95 m away).
# At ±90° tan() of the rounded π/2 is 1.6e16: y is ±2178°, finite.
MERCATOR_FUNCTION = """
CREATE FUNCTION fieldcrm_mercator(lat double precision, lon double precision) RETURNS point
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT point(CASE WHEN abs(lon) < 1e-100 THEN 0 ELSE lon END,
               degrees(asinh(tan(radians(CASE WHEN abs(lat) < 1e-100 THEN 0 ELSE lat END)))
                       - 0.08181919084262149 * atanh(0.08181919084262149
                           * sin(radians(CASE WHEN abs(lat) < 1e-100 THEN 0 ELSE lat END)))))
$$
"""

MERCATOR_INDEX = ("CREATE INDEX ix_customer_mercator ON customer "
                  "USING gist (fieldcrm_mercator(lat, lon)) "
                  "INCLUDE (seq, lat, lon, territory_id, owner_id, status, abc_class) "
                  "WHERE NOT deleted AND lat IS NOT NULL AND lon IS NOT NULL")


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(MERCATOR_FUNCTION)
    op.execute(MERCATOR_INDEX)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("DROP INDEX ix_customer_mercator")
    op.execute("DROP FUNCTION fieldcrm_mercator(double precision, double precision)")
