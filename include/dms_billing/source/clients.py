"""The clients to bill, as the DMS ``clients`` table (``include/sql/clients.sql``) lists them.

Apart from the extraction, so that planning a run reads the clients without importing pandas
and pyarrow.
"""

from __future__ import annotations

import sqlalchemy as sa

from include.dms_billing.core.jobs import SourceClient
from include.dms_billing.source.sql_files import load_sql


def fetch_user_counts(engine: sa.Engine) -> dict[int, int]:
    """Users per client id (``include/sql/client_users.sql``), to balance batches by their work."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(load_sql("client_users.sql"))).tuples().all())


def fetch_clients(engine: sa.Engine) -> list[SourceClient]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(load_sql("clients.sql"))).mappings().all()
    return [SourceClient(**row) for row in rows]
