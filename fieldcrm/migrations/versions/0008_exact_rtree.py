"""exact R*Tree: positions and scope inside SQLite's spatial index

Revision ID: c4d2f9e6a8b1
Revises: b1e0c7a3d5f2
Create Date: 2026-11-23 22:40:00

SQLite only (PostgreSQL: nothing). The R*Tree of 0006 kept the exact position in
auxiliary columns; reading one costs a lookup in the R*Tree's rowid table (~5 µs), and
a rep's search read customer rows (~5 µs each) to apply the scope. Both are now in the
R*Tree's own cells, read at ~0.2 µs an entry while the index is walked:

- lat and lon are split into a coarse part, ``round(x * 2^16) / 2^16``, which a 32-bit
  float holds exactly (|x * 2^16| < 2^24), and the rest, |rest| <= 2^-17 degrees. The
  coarse point is the entry's box (min = max); the rests sit in a third dimension,
  ``min_fine = rest_lat - 2^-16`` and ``max_fine = rest_lon + 2^-16`` (so min < max),
  to 2^-38 degrees (0.4 µm). See fieldcrm/geo.py for how searches read them.
- The customer's territory and owner are small integer codes (``customer_geo_key``, the
  UUID as stored to its code; codes are INTEGER PRIMARY KEY, so they never change), in
  the fourth and fifth dimensions as ``code * 2^-40`` (exact below 2^24 codes, which a
  CHECK keeps) with a fixed width of 2^-20.

The extra dimensions' extents are tiny and all alike, so the R*Tree still groups entries
by place; the triggers also follow changes of territory and owner.
"""
from alembic import op

revision = 'c4d2f9e6a8b1'
down_revision = 'b1e0c7a3d5f2'
branch_labels = None
depends_on = None

TRIGGERS = ("customer_geo_insert", "customer_geo_update", "customer_geo_delete")
LOCATED = "{row}.lat IS NOT NULL AND {row}.lon IS NOT NULL AND NOT {row}.deleted"

# 0006: boxes, and the exact position as auxiliary columns.
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

# The constants of fieldcrm/geo.py (RTREE_*), written out: a migration is a fixed record.
UNIT = "65536.0"  # 2^16
OFFSET = "0.0000152587890625"  # 2^-16
CODE_SCALE = "9.094947017729282e-13"  # 2^-40
CODE_WIDTH = "9.5367431640625e-07"  # 2^-20


def _cell(row: str) -> str:
    """The R*Tree cell of customer ``row`` (NEW, or the customer table in a SELECT)."""
    coarse = {axis: f"round({row}.{axis} * {UNIT}) / {UNIT}" for axis in ("lat", "lon")}
    codes = {part: f"coalesce((SELECT code FROM customer_geo_key WHERE key = {row}.{part}_id), 0)"
             f" * {CODE_SCALE}" for part in ("territory", "owner")}
    return ", ".join([
        f"{row}.seq", coarse["lat"], coarse["lat"], coarse["lon"], coarse["lon"],
        f"({row}.lat - {coarse['lat']}) - {OFFSET}", f"({row}.lon - {coarse['lon']}) + {OFFSET}",
        codes["territory"], f"{codes['territory']} + {CODE_WIDTH}",
        codes["owner"], f"{codes['owner']} + {CODE_WIDTH}",
    ])


def _keys(row: str) -> str:
    return (f"INSERT OR IGNORE INTO customer_geo_key (key) SELECT {row}.territory_id "
            f"WHERE {row}.territory_id IS NOT NULL; "
            f"INSERT OR IGNORE INTO customer_geo_key (key) SELECT {row}.owner_id "
            f"WHERE {row}.owner_id IS NOT NULL;")


EXACT = [
    "CREATE TABLE customer_geo_key ("
    "code INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, CHECK (code < 16777216))",
    "CREATE VIRTUAL TABLE customer_geo USING rtree(seq, min_lat, max_lat, min_lon, max_lon, "
    "min_fine, max_fine, min_territory, max_territory, min_owner, max_owner)",
    f"""CREATE TRIGGER customer_geo_insert AFTER INSERT ON customer
        WHEN {LOCATED.format(row="NEW")}
        BEGIN {_keys("NEW")} INSERT INTO customer_geo SELECT {_cell("NEW")}; END""",
    f"""CREATE TRIGGER customer_geo_update
        AFTER UPDATE OF lat, lon, deleted, seq, territory_id, owner_id ON customer
        BEGIN
          DELETE FROM customer_geo WHERE seq = OLD.seq;
          {_keys("NEW")}
          INSERT INTO customer_geo SELECT {_cell("NEW")} WHERE {LOCATED.format(row="NEW")};
        END""",
    """CREATE TRIGGER customer_geo_delete AFTER DELETE ON customer
       BEGIN DELETE FROM customer_geo WHERE seq = OLD.seq; END""",
]
# The R*Tree filled from the customers already there (bench/nearby.py fills it so, too).
FILL = [
    "INSERT OR IGNORE INTO customer_geo_key (key) "
    "SELECT territory_id FROM customer WHERE territory_id IS NOT NULL "
    "UNION SELECT owner_id FROM customer WHERE owner_id IS NOT NULL",
    f"INSERT INTO customer_geo SELECT {_cell('customer')} FROM customer "
    f"WHERE {LOCATED.format(row='customer')} ORDER BY seq",
]


def _rebuild(statements: list[str]) -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE customer_geo")
    op.execute("DROP TABLE IF EXISTS customer_geo_key")
    for statement in statements:
        op.execute(statement)


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(EXACT + FILL)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(POSITIONS)
