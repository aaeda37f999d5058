"""spatial positions: the exact position inside the spatial index on both databases

Revision ID: 7c4e2a9f1b06
Revises: 5a1e0c3b9d27
Create Date: 2026-11-23 19:40:00

SQLite: the R*Tree's box coordinates are 32-bit floats, so a nearest-customer search
read the customer rows to learn the exact positions. Auxiliary columns (SQLite 3.24+)
are stored as given, 64-bit: the admin's search now ranks exactly from the R*Tree
alone; rows are read only to apply a scope or filters.

PostgreSQL: the GiST index carries what the search reads and filters on (seq, lat, lon,
the scope's territory and owner, status and ABC class) as INCLUDE columns, so the
nearest-neighbour walk is an index-only scan instead of one heap page per candidate.
"""
from alembic import op

revision = '7c4e2a9f1b06'
down_revision = '5a1e0c3b9d27'
branch_labels = None
depends_on = None


# What 0002 made: boxes only.
BOXES = [
    "CREATE VIRTUAL TABLE customer_geo USING rtree(seq, min_lat, max_lat, min_lon, max_lon)",
    """CREATE TRIGGER customer_geo_insert AFTER INSERT ON customer
       WHEN NEW.lat IS NOT NULL AND NEW.lon IS NOT NULL AND NOT NEW.deleted
       BEGIN INSERT INTO customer_geo VALUES (NEW.seq, NEW.lat, NEW.lat, NEW.lon, NEW.lon); END""",
    """CREATE TRIGGER customer_geo_update AFTER UPDATE OF lat, lon, deleted, seq ON customer
       BEGIN
         DELETE FROM customer_geo WHERE seq = OLD.seq;
         INSERT INTO customer_geo SELECT NEW.seq, NEW.lat, NEW.lat, NEW.lon, NEW.lon
           WHERE NEW.lat IS NOT NULL AND NEW.lon IS NOT NULL AND NOT NEW.deleted;
       END""",
    """CREATE TRIGGER customer_geo_delete AFTER DELETE ON customer
       BEGIN DELETE FROM customer_geo WHERE seq = OLD.seq; END""",
    "INSERT INTO customer_geo SELECT seq, lat, lat, lon, lon FROM customer "
    "WHERE lat IS NOT NULL AND lon IS NOT NULL AND NOT deleted",
]

# Boxes and the exact positions as auxiliary columns (stored as given, not as float32).
POSITIONS = [
    "CREATE VIRTUAL TABLE customer_geo USING rtree("
    "seq, min_lat, max_lat, min_lon, max_lon, +lat, +lon)",
    """CREATE TRIGGER customer_geo_insert AFTER INSERT ON customer
       WHEN NEW.lat IS NOT NULL AND NEW.lon IS NOT NULL AND NOT NEW.deleted
       BEGIN INSERT INTO customer_geo
             VALUES (NEW.seq, NEW.lat, NEW.lat, NEW.lon, NEW.lon, NEW.lat, NEW.lon); END""",
    """CREATE TRIGGER customer_geo_update AFTER UPDATE OF lat, lon, deleted, seq ON customer
       BEGIN
         DELETE FROM customer_geo WHERE seq = OLD.seq;
         INSERT INTO customer_geo SELECT NEW.seq, NEW.lat, NEW.lat, NEW.lon, NEW.lon, NEW.lat, NEW.lon
           WHERE NEW.lat IS NOT NULL AND NEW.lon IS NOT NULL AND NOT NEW.deleted;
       END""",
    """CREATE TRIGGER customer_geo_delete AFTER DELETE ON customer
       BEGIN DELETE FROM customer_geo WHERE seq = OLD.seq; END""",
    "INSERT INTO customer_geo SELECT seq, lat, lat, lon, lon, lat, lon FROM customer "
    "WHERE lat IS NOT NULL AND lon IS NOT NULL AND NOT deleted",
]


# PostgreSQL: the GiST index of 0002, and the same with what the search reads included.
GIST = ("CREATE INDEX ix_customer_geo ON customer USING gist (point(lon, lat)) "
        "WHERE NOT deleted AND lat IS NOT NULL AND lon IS NOT NULL")
GIST_COVERING = ("CREATE INDEX ix_customer_geo ON customer USING gist (point(lon, lat)) "
                 "INCLUDE (seq, lat, lon, territory_id, owner_id, status, abc_class) "
                 "WHERE NOT deleted AND lat IS NOT NULL AND lon IS NOT NULL")


def _rebuild(statements: list[str], gist: str) -> None:
    """customer_geo made again from the customer table, kept by the same three triggers
    (SQLite), or the GiST index made again (PostgreSQL)."""
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP INDEX ix_customer_geo")
        op.execute(gist)
        return
    for name in ("customer_geo_insert", "customer_geo_update", "customer_geo_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE customer_geo")
    for statement in statements:
        op.execute(statement)


def upgrade():
    _rebuild(POSITIONS, GIST_COVERING)


def downgrade():
    _rebuild(BOXES, GIST)
