"""objections and adjustments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from include.dms_billing.ledger.schema import Money

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('objections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_code', sa.String(length=32), nullable=False),
    sa.Column('billing_month', sa.String(length=7), nullable=False),
    sa.Column('invoice_number', sa.String(length=32), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('user_count', sa.Integer(), nullable=False),
    sa.Column('unit_price', Money(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=150), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_run', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objections'))
    )
    op.create_table('adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_code', sa.String(length=32), nullable=False),
    sa.Column('objection_id', sa.Integer(), nullable=True),
    sa.Column('after_month', sa.String(length=7), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', Money(), nullable=False),
    sa.Column('amount', Money(), nullable=False),
    sa.Column('applied_invoice_number', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['objection_id'], ['objections.id'], name=op.f('fk_adjustments_objection_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adjustments'))
    )
    op.create_table('objection_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('objection_id', sa.Integer(), nullable=False),
    sa.Column('client_code', sa.String(length=32), nullable=False),
    sa.Column('billing_month', sa.String(length=7), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['objection_id'], ['objections.id'], name=op.f('fk_objection_users_objection_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objection_users')),
    sa.UniqueConstraint('client_code', 'billing_month', 'user_id', name='uq_objection_users_user_month')
    )


def downgrade() -> None:
    op.drop_table('objection_users')
    op.drop_table('adjustments')
    op.drop_table('objections')
