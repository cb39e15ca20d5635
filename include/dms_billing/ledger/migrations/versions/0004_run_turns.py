"""run turns: the runs waiting for, or holding, the turn to bill, and the mutex of the turn

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_turns',
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('billing_month', sa.String(length=7), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('process', sa.String(length=300), nullable=True),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_run_turns'))
    )
    mutex = op.create_table('run_turn_mutex',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_turn_mutex'))
    )
    op.bulk_insert(mutex, [{'id': 1, 'taken_at': None}])


def downgrade() -> None:
    op.drop_table('run_turn_mutex')
    op.drop_table('run_turns')
