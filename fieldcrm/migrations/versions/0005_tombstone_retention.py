"""tombstone retention: the highest purged version on the counter row

Revision ID: 5a1e0c3b9d27
Revises: 00d0773cbc15
Create Date: 2026-11-23 17:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '5a1e0c3b9d27'
down_revision = '00d0773cbc15'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('sync_counter', sa.Column('purged_version', sa.BigInteger(), nullable=False,
                                            server_default='0'))


def downgrade():
    with op.batch_alter_table('sync_counter', schema=None) as batch_op:
        batch_op.drop_column('purged_version')
