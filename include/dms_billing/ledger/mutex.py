"""One-row mutex tables: a check-and-set serialized on every database the ledger supports.

The first statement of the transaction updates the table's one row. On PostgreSQL and MySQL
(MariaDB) that row lock is held until commit or rollback; on SQLite the UPDATE takes the
database's write lock at once, as ``BEGIN IMMEDIATE`` would (pysqlite begins the transaction
just before it, after no read). A second writer waits (on SQLite up to the busy timeout), then
reads everything the first committed: under MySQL's repeatable read too, as its snapshot is
taken at the first plain read, after the lock.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa


def hold(conn: sa.Connection, mutex: sa.Table, now: datetime | None = None) -> None:
    """Take ``mutex`` for the rest of ``conn``'s transaction: call it first in the transaction."""
    now = now or datetime.now(timezone.utc)
    taken = conn.execute(mutex.update().where(mutex.c.id == 1).values(taken_at=now))
    if taken.rowcount != 1:
        raise RuntimeError(f"the ledger's {mutex.name} row is missing: migrate the ledger")
