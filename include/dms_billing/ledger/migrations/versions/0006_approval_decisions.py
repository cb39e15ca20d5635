"""approval decisions: finance's answer to a run's invoices, and who gave it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('approval_decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('billing_month', sa.String(length=7), nullable=False),
    sa.Column('held', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=250), nullable=False),
    sa.Column('asked', sa.Boolean(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_decisions'))
    )
    op.create_index(op.f('ix_approval_decisions_run_id'), 'approval_decisions', ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_approval_decisions_run_id'), table_name='approval_decisions')
    op.drop_table('approval_decisions')
