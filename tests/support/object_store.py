"""An S3-compatible object store on loopback (moto's standalone server), for the object-storage tests.

A test that needs it skips with the reason when the server cannot start, except in CI
(``CI=true``), where that is a failure. Outputs go to ``s3://dms_billing_store@<bucket>/<prefix>``:
Airflow's ObjectStoragePath takes the connection id from the URL and the connection (endpoint,
credentials) from ``AIRFLOW_CONN_DMS_BILLING_STORE``.
"""

from __future__ import annotations

import atexit
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.support.servers import in_ci

STORE_CONN_ID = "dms_billing_store"
KEY, SECRET, REGION = "testing", "testing", "us-east-1"


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str
    bucket: str

    def url(self, prefix: str) -> str:
        """The ``DMS_BILLING_DATA`` for outputs under ``prefix`` in the bucket."""
        return f"s3://{STORE_CONN_ID}@{self.bucket}/{prefix}"

    def connection(self) -> str:
        """The Airflow connection (``AIRFLOW_CONN_DMS_BILLING_STORE``) as JSON."""
        return json.dumps({"conn_type": "aws", "login": KEY, "password": SECRET,
                           "extra": {"endpoint_url": self.endpoint, "region_name": REGION}})

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=KEY,
                            aws_secret_access_key=SECRET, region_name=REGION)

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()


_endpoint: str | None = None


def _server_endpoint() -> str:
    """The session's one moto server, started on first use on a free loopback port.

    One server per test process, not per test: Airflow caches a connection's file system (and
    with it the endpoint) for the life of the process, so a second server on another port would
    be invisible to the tests after the first.
    """
    global _endpoint
    if _endpoint is None:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        atexit.register(server.stop)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
        host, port = server.get_host_and_port()
        _endpoint = f"http://{host}:{port}"
    return _endpoint


@contextmanager
def object_store() -> Iterator[ObjectStore]:
    """A new, empty bucket on the session's S3-compatible server (skip, or fail in CI, without one)."""
    try:
        endpoint = _server_endpoint()
    except Exception as exc:  # noqa: BLE001 - any failure to start is the skip's reason
        reason = f"the S3-compatible test server (moto) could not start: {exc!r}"
        if in_ci():
            pytest.fail(f"CI=true, so the object store is required: {reason}")
        pytest.skip(reason)
    store = ObjectStore(endpoint, f"dms-billing-{uuid.uuid4().hex[:8]}")
    store.client().create_bucket(Bucket=store.bucket)
    yield store
