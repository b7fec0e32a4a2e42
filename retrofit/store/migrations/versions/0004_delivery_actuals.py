"""delivery actuals: versioned status files per run

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 14:51:02.580860

Two new tables, nothing else touched: `actuals` (one row per imported version, per run) and
`actual_row` (one row per home of a version).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('actual_row',
    sa.Column('actuals_id', sa.Integer(), nullable=False),
    sa.Column('home_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('actual_cost_gbp', sa.Float(), nullable=True),
    sa.Column('package_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('actuals_id', 'home_id')
    )
    op.create_table('actuals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'version', name='uq_actuals_run_version')
    )
    with op.batch_alter_table('actuals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_actuals_run_id'), ['run_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('actuals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_actuals_run_id'))

    op.drop_table('actuals')
    op.drop_table('actual_row')
