"""plan rows carry each home's uptake probability and cost spread ([delivery])

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 19:30:00

Nullable columns only, added in place (no copy of plan_row). Rows stored before, and plans
without [delivery], are left null, which `retrofit.store.runs.read_plan` leaves out: such a plan
reads as before (every chosen home goes ahead at its cost).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('plan_row', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uptake', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('cost_sd_gbp', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('plan_row', schema=None) as batch_op:
        batch_op.drop_column('cost_sd_gbp')
        batch_op.drop_column('uptake')
