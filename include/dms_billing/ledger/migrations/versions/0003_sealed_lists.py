"""sealed lists: the fingerprint and count of the list each invoice was built from

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sealed_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_code', sa.String(length=32), nullable=False),
    sa.Column('billing_month', sa.String(length=7), nullable=False),
    sa.Column('csv_sha256', sa.String(length=64), nullable=False),
    sa.Column('parquet_sha256', sa.String(length=64), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('sealed_because', sa.String(length=16), nullable=False),
    sa.Column('invoice_number', sa.String(length=32), nullable=True),
    sa.Column('sealed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sealed_by_run', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sealed_lists')),
    sa.UniqueConstraint('client_code', 'billing_month', name='uq_sealed_lists_client_month')
    )


def downgrade() -> None:
    op.drop_table('sealed_lists')
