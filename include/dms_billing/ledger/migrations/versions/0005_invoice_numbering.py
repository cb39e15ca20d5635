"""invoice numbering: the mutex of the next number; the rendering kept just after the invoice

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

RENDERING = (('html', sa.Text()), ('pdf', sa.LargeBinary()), ('pdf_sha256', sa.String(length=64)))


def upgrade() -> None:
    mutex = op.create_table('invoice_number_mutex',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_number_mutex'))
    )
    op.bulk_insert(mutex, [{'id': 1, 'taken_at': None}])
    with op.batch_alter_table('invoices') as batch_op:
        for column, type_ in RENDERING:
            batch_op.alter_column(column, existing_type=type_, nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('invoices') as batch_op:
        for column, type_ in RENDERING:
            batch_op.alter_column(column, existing_type=type_, nullable=False)
    op.drop_table('invoice_number_mutex')
