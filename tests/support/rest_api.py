"""Airflow's REST API in the test's own process, as the UI and scripts call it: everyone is admin
(the simple auth manager's ``all_admins``), so no login is needed."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def rest_api(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """A client of the core API (``/api/v2``) on the session's metadata database."""
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import create_app

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))
    with TestClient(create_app("core")) as client:
        yield client
