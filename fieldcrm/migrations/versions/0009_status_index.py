"""status index: nearest customers with a status few customers have

Revision ID: d7a3e1f5b9c2
Revises: c4d2f9e6a8b1
Create Date: 2026-11-24 00:50:00

Both databases: a partial index on (status, abc_class) of the live located customers,
the rows the nearest-customer search ranks. Statuses are where filters get rare ("lost",
"at risk"): without the index a filter nobody in scope passes walked the whole spatial
index on PostgreSQL (150 ms at a million customers) and scanned the table on SQLite
(0.4 s). With it PostgreSQL's planner reads the few matching rows instead of walking,
and SQLite's search finds that few customers pass and ranks them all (docs/GEO.md).
"""
import sqlalchemy as sa
from alembic import op

revision = 'd7a3e1f5b9c2'
down_revision = 'c4d2f9e6a8b1'
branch_labels = None
depends_on = None

# The same predicate as the searches' WHERE (``NOT deleted`` renders as ``deleted = 0``
# on SQLite, which only uses a partial index whose predicate the query repeats).
LIVE_LOCATED = sa.text("NOT deleted AND lat IS NOT NULL AND lon IS NOT NULL")
LIVE_LOCATED_SQLITE = sa.text("deleted = 0 AND lat IS NOT NULL AND lon IS NOT NULL")


def upgrade():
    op.create_index("ix_customer_status_class", "customer", ["status", "abc_class"],
                    postgresql_where=LIVE_LOCATED, sqlite_where=LIVE_LOCATED_SQLITE)


def downgrade():
    op.drop_index("ix_customer_status_class", table_name="customer")
