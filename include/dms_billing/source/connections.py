"""SQLAlchemy URLs from Airflow connections, without importing Airflow.

``dms_source`` and ``billing_db`` may be given as an Airflow URI (``sqlite:////abs/path``,
``postgresql://user@host/db``, ``mysql://user@host/db``) or with an explicit
``{"sqlalchemy_url": "..."}`` in the connection's extra, which wins.
"""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa

# Per dialect, the statement that makes a session read and compare timestamps in UTC.
UTC_SESSION = {
    "postgresql": "SET TIME ZONE 'UTC'",
    "mysql": "SET time_zone = '+00:00'",
}

DRIVERS = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


class ConnectionLike(Protocol):
    conn_type: str | None
    host: str | None
    schema: str | None
    login: str | None
    password: str | None
    port: int | None
    extra_dejson: dict[str, Any]


def sqlalchemy_url(conn: ConnectionLike) -> sa.URL:
    extra = dict(conn.extra_dejson or {})
    if "sqlalchemy_url" in extra:
        return sa.make_url(extra["sqlalchemy_url"])
    if conn.conn_type == "sqlite":
        return sa.URL.create("sqlite", database=conn.schema or conn.host)
    return sa.URL.create(
        DRIVERS.get(conn.conn_type or "", conn.conn_type or ""),
        username=conn.login,
        password=conn.password,
        host=conn.host,
        port=conn.port,
        database=conn.schema,
        query={k: str(v) for k, v in extra.items()},
    )


def dms_engine(url: str | sa.URL) -> sa.Engine:
    """An engine on the DMS whose every session is in UTC.

    The contract's timestamps are UTC. A PostgreSQL ``timestamptz`` or a MySQL ``TIMESTAMP`` is
    converted to and from the session's time zone, which is the server's unless set: set to UTC
    on connect, such columns read and compare as UTC whatever the server's zone.
    """
    engine = sa.create_engine(url, pool_pre_ping=True)
    statement = UTC_SESSION.get(engine.dialect.name)
    if statement is not None:

        @sa.event.listens_for(engine, "connect")
        def _utc_session(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(statement)
            finally:
                cursor.close()
            dbapi_connection.commit()  # PostgreSQL: a rolled-back transaction would undo the SET

    return engine
