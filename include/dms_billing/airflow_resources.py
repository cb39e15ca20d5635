"""The databases a task talks to, from Airflow connections (imported inside tasks only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from include.dms_billing.connections import dms_engine, sqlalchemy_url
from include.dms_billing.ledger_db import default_ledger_url, ledger_engine

SOURCE_CONN_ID = "dms_source"
LEDGER_CONN_ID = "billing_db"


def source_engine() -> sa.Engine:
    """The ``dms_source`` connection, its sessions in UTC."""
    from airflow.sdk import Connection

    return dms_engine(sqlalchemy_url(Connection.get(SOURCE_CONN_ID)))


def ledger() -> sa.Engine:
    """The ``billing_db`` connection, or the default SQLite ledger under ``DMS_BILLING_DATA``."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        url = sqlalchemy_url(Connection.get(LEDGER_CONN_ID))
    except AirflowNotFoundException:
        url = default_ledger_url()
    return ledger_engine(url)


@contextmanager
def fail_without_retry() -> Iterator[None]:
    """Bad data or configuration (a ``ValueError``) will not mend itself: fail the task at once,
    without retries, with the message. Other errors (a database or mail server away) retry."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except ValueError as exc:
        raise AirflowFailException(str(exc)) from exc
