"""The local servers the tests need: PostgreSQL, MariaDB, Redis, and an S3-compatible object store.

A test that needs a server skips with the reason when it does not answer, except in CI
(``CI=true``), where a missing server is a failure: CI must run every test.
Each test gets its own scratch database (or bucket), so tests can run concurrently on the same server.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get("DMS_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("DMS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
STORE_CONN_ID = "dms_billing_store"  # the Airflow connection of the outputs' object store

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


@dataclass(frozen=True)
class ObjectStore:
    """An S3-compatible server on loopback with one bucket of the test's own."""

    endpoint: str
    bucket: str
    region: str = "us-east-1"
    key_id: str = "testing"  # moto accepts any credentials
    secret: str = "testing"

    def connection(self) -> str:
        """The ``aws`` connection to this server, as ``AIRFLOW_CONN_DMS_BILLING_STORE`` takes it."""
        extra = {"endpoint_url": self.endpoint, "region_name": self.region}
        return json.dumps({"conn_type": "aws", "login": self.key_id, "password": self.secret, "extra": extra})

    def url(self, prefix: str) -> str:
        """``s3://<conn id>@<bucket>/<prefix>``: the connection id in the user part (ObjectStoragePath)."""
        return f"s3://{STORE_CONN_ID}@{self.bucket}/{prefix}"

    def client(self):
        """A boto3 S3 client on this server, to look at what was written."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret)

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under ``prefix``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()


@contextmanager
def object_store(start_timeout: float = 30) -> Iterator[ObjectStore]:
    """moto's S3 server on 127.0.0.1 (a free port) in this process, with a new bucket; stopped after.

    Skips (fails in CI) when moto's server is not installed or does not start.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        unavailable("moto's S3 server", f"moto[server] is not installed: {exc}")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # start() waits, without a timeout, for a server that a failed bind never brings up
    starting = threading.Thread(target=server.start, daemon=True)
    starting.start()
    starting.join(start_timeout)
    if starting.is_alive():
        unavailable("moto's S3 server", f"moto's S3 server did not start within {start_timeout}s")
    try:
        host, port = server.get_host_and_port()
        store = ObjectStore(f"http://{host}:{port}", f"dms-test-{uuid.uuid4().hex[:12]}")
        store.client().create_bucket(Bucket=store.bucket)
        yield store
    finally:
        server.stop()
