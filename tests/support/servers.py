"""The local PostgreSQL, MariaDB and Redis servers, for the tests that need them.

A test that needs a server skips with the reason when it does not answer, except in CI
(``CI=true``), where a missing server is a failure: CI must run every test.
Each test gets its own scratch database, so tests can run concurrently on the same server.
(The S3-compatible object store: ``tests/support/object_store.py``.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get("DMS_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("DMS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")

_CREATE = {"postgresql": "CREATE DATABASE {}", "mysql": "CREATE DATABASE {} CHARACTER SET utf8mb4"}
_DROP = {"postgresql": "DROP DATABASE IF EXISTS {} WITH (FORCE)", "mysql": "DROP DATABASE IF EXISTS {}"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(server: str, reason: str) -> NoReturn:
    """Skip the test saying why ``server`` cannot be used; in CI, fail it."""
    if in_ci():
        pytest.fail(f"CI=true, so {server} is required: {reason}")
    pytest.skip(reason)


def require_server(url: str | sa.URL) -> sa.Engine:
    """An engine on a reachable server; otherwise skip the test (fail it in CI) saying why."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        reason = f"{engine.url.render_as_string(hide_password=True)} is not reachable: {exc.orig}".strip()
        unavailable("the database server", reason)
    return engine


def require_redis(url: str) -> None:
    """Skip (fail in CI) unless the Redis server at ``url`` answers a PING."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("the Redis server", f"Redis at {url} does not answer: {exc}")
    finally:
        client.close()


@contextmanager
def scratch_database(url: str | sa.URL) -> Iterator[sa.URL]:
    """The URL of a new, uniquely named database on the server at ``url``, dropped afterwards."""
    engine = require_server(url)
    name = f"dms_test_{uuid.uuid4().hex[:12]}"

    def run(statement: dict[str, str]) -> None:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                statement[engine.dialect.name].format(name))

    try:
        run(_CREATE)
        yield engine.url.set(database=name)
    finally:
        run(_DROP)
        engine.dispose()
