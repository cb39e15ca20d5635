"""What the data team's alert names when a whole task fails: the batch's clients and month, read
from the task's own arguments (a batch and the run's facts, or a preview's job)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from billing_sensors import WaitForBatchMoment

from include.dms_billing.airflow.alerts import _clients
from include.dms_billing.core.batches import BatchKey, ClientBatch
from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.jobs import ClientJob, RunFacts
from include.dms_billing.outputs.paths import VALIDATION_DOCS, client_month_paths

MAY = BillingMonth(2023, 5)


def _job(code: str) -> ClientJob:
    return ClientJob(1, code, f"{code} Ltd", "Asia/Dhaka", MAY, f"{code.lower()}@example.com", None)


def _planned(*codes: str) -> dict:
    return {"batch": ClientBatch(tuple(_job(c) for c in codes), BatchKey(None, None)).to_dict(),
            "run": RunFacts(MAY).to_dict()}


def test_a_batch_task_names_its_clients_month_and_the_one_clients_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DMS_BILLING_DATA", str(tmp_path))
    report = client_month_paths(str(MAY), "MEGHNA").report_dir / VALIDATION_DOCS / "index.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>")
    task = SimpleNamespace(op_kwargs=_planned("MEGHNA"))  # a decorated task, its arguments resolved
    assert _clients({"task": task}) == ("MEGHNA", "2023-05", str(report))
    sensor = WaitForBatchMoment(task_id="wait", **_planned("C001", "C002"), moment="month_closes_at")
    assert _clients({"task": sensor}) == ("C001..C002 (2)", "2023-05", None)


def test_a_preview_task_names_its_client_and_a_run_level_task_none() -> None:
    preview = SimpleNamespace(op_kwargs={"job": _job("PADMA").to_dict(), "as_of": "2023-05-28T00:00:00+06:00"})
    assert _clients({"task": preview}) == ("PADMA", "2023-05", None)
    assert _clients({"task": SimpleNamespace(op_kwargs={"plan": [], "run": RunFacts(MAY).to_dict()})}) == (
        None, None, None)
