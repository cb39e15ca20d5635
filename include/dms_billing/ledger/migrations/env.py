"""Alembic environment of the billing ledger: runs on the connection the caller hands over."""

from __future__ import annotations

from alembic import context

from include.dms_billing.ledger.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
