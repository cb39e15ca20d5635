"""SQLAlchemy URLs from Airflow connections, without importing Airflow.

``dms_source`` and ``billing_db`` may be given as an Airflow URI (``sqlite:////abs/path``,
``postgresql://user@host/db``, ``mysql://user@host/db``) or with an explicit
``{"sqlalchemy_url": "..."}`` in the connection's extra, which wins.
"""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa

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
