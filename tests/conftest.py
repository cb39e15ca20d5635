"""Test session set-up: one Airflow home and metadata database for the whole session.

The environment is set here, at import, before anything imports Airflow, so every test and
every subprocess sees the same isolated Airflow home (never ~/airflow).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="dms-billing-airflow-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONPATH": os.pathsep.join([str(PROJECT), str(PROJECT / "plugins"), os.environ.get("PYTHONPATH", "")]),
    }
)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the session's Airflow metadata database once (a few seconds)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True, capture_output=True, cwd=PROJECT,
    )
    return _AIRFLOW_HOME


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DMS_BILLING_DATA for one test."""
    root = tmp_path / "data"
    monkeypatch.setenv("DMS_BILLING_DATA", str(root))
    return root


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real SMTP server on loopback, wired in as ``smtp_default``; what it received is in ``.messages``."""
    from tools.outbox_smtp import Outbox

    with Outbox(tmp_path / "outbox") as server:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.connection_uri())
        yield server


@pytest.fixture
def ledger_engine(tmp_path: Path):
    """A migrated SQLite ledger."""
    from include.dms_billing.ledger.db import ledger_engine as make_engine
    from include.dms_billing.ledger.db import migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    migrate(engine)
    yield engine
    engine.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``scale`` run only when asked for by marker (``make test-scale``: ``-m scale``)."""
    if "scale" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="a month at full scale (about 16 minutes here): run it with `make test-scale`")
    for item in items:
        if "scale" in item.keywords:
            item.add_marker(skip)
