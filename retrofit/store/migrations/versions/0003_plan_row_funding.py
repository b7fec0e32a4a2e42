"""plan rows say how each home is paid for: council money, grants by scheme, co-funding

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 15:58:56.354580

Nullable columns only, added in place (ALTER TABLE ADD COLUMN on SQLite and PostgreSQL
alike: no copy of plan_row, however many rows it holds). Rows stored before are left null,
which `retrofit.store.runs.read_plan` reads as council money only.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('plan_row', schema=None) as batch_op:
        batch_op.add_column(sa.Column('council_gbp', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('grant_gbp', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('co_funding_gbp', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('funding', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('grants', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('plan_row', schema=None) as batch_op:
        batch_op.drop_column('grants')
        batch_op.drop_column('funding')
        batch_op.drop_column('co_funding_gbp')
        batch_op.drop_column('grant_gbp')
        batch_op.drop_column('council_gbp')
