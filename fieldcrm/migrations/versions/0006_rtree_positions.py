"""rtree positions: SQLite's R*Tree keeps each customer's exact position beside its box

Revision ID: 7c4e2a9f1b06
Revises: 5a1e0c3b9d27
Create Date: 2026-11-23 19:40:00

The R*Tree's box coordinates are 32-bit floats, so far a nearest-customer search read
the customer rows to learn the exact positions. Auxiliary columns (SQLite 3.24+) are
stored as they are, 64-bit: the search now ranks exactly from the R*Tree alone and reads
customer rows only to apply a scope or filters. PostgreSQL is unchanged (its GiST index
and the table hold the exact point already).
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


def _rebuild(statements: list[str]) -> None:
    """customer_geo made again from the customer table, kept by the same three triggers."""
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL's GiST index is unchanged
    for name in ("customer_geo_insert", "customer_geo_update", "customer_geo_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE customer_geo")
    for statement in statements:
        op.execute(statement)


def upgrade():
    _rebuild(POSITIONS)


def downgrade():
    _rebuild(BOXES)
