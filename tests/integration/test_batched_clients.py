"""Whole runs of ``dms_monthly_billing`` with clients in batches: a month of more clients than
Airflow would map one by one, and a bad client inside a batch of good ones."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from include.dms_billing.core.billing_month import billing_window
from include.dms_billing.ledger.db import default_ledger_url, ledger_engine
from include.dms_billing.ledger.deliveries import delivery_log
from include.dms_billing.ledger.invoices import month_invoices
from include.dms_billing.outputs.paths import client_month_paths
from tests.integration.conftest import MAY
from tests.integration.conftest import run_dag as _run
from tests.support.scenarios import Source

pytestmark = pytest.mark.airflow
MANY = 1_100  # more than Airflow's default [core] max_map_length, 1,024
BATCH_TASKS = 5  # the mapped tasks of one batch: two waits, decide, deliver the lists, the invoices
MULTI_CLIENT_LABEL = re.compile(r"(C\d{4})\.\.(C\d{4}) \((\d+)\)")


def _kind(message) -> str:
    return message["X-Sokrio-Billing"].split(";")[0]


def _many_clients(count: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``count`` clients of one active user each, who logged in during May; a plan for each."""
    src = Source()
    window = billing_window(MAY, "Asia/Dhaka")
    codes = [f"C{n:04d}" for n in range(1, count + 1)]
    for client_id, code in enumerate(codes, start=1):
        src.client(client_id, code, "Asia/Dhaka")
        src.user(client_id, "active", datetime(2022, 6, 1), history=[("active", datetime(2022, 6, 1))],
                 logins=[window.start + timedelta(days=3)])
    db = tmp_path / "many.sqlite"
    src.load(sa.create_engine(f"sqlite:///{db}"))
    plan = {"plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}
    (tmp_path / "billing.yaml").write_text(yaml.safe_dump({"clients": dict.fromkeys(codes, plan)}), encoding="utf-8")
    monkeypatch.setenv("DMS_BILLING_CONFIG", str(tmp_path / "billing.yaml"))
    monkeypatch.setenv("AIRFLOW_CONN_DMS_SOURCE", f"sqlite:///{db}")
    return codes


def _bill_each_once(codes: list[str], max_batches: int, data_root: Path) -> None:
    """One run bills every client once, in at most ``max_batches`` batches, each labelled with its clients."""
    run = _run({"billing_month": str(MAY)})

    instances = run.get_task_instances()
    assert run.state == "success", {(ti.task_id, ti.map_index): ti.state for ti in instances if ti.state != "success"}
    mapped = [ti for ti in instances if ti.task_id.startswith("bill_batch.")]
    batches = {ti.map_index for ti in mapped}
    assert len(batches) == max_batches and len(mapped) == max_batches * BATCH_TASKS
    sizes = {}
    for ti in mapped:  # first..last (how many); together, every client once
        first, last, size = MULTI_CLIENT_LABEL.fullmatch(ti.rendered_map_index).groups()
        sizes[ti.map_index] = int(size)
        assert first < last
    assert sum(sizes.values()) == len(codes)
    invoices = month_invoices(ledger_engine(default_ledger_url()), str(MAY))
    assert sorted(i.bill_to.client_code for i in invoices) == codes
    assert {i.billable_count for i in invoices} == {1}
    assert len({i.invoice_number for i in invoices}) == len(codes)
    assert all(client_month_paths(str(MAY), code, data_root).archived_email("invoice").exists()
               for code in codes[:: max(1, len(codes) // 10)])


def test_more_clients_than_airflow_maps_are_billed_once_each_in_a_bounded_number_of_tasks(
    airflow_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_root: Path
) -> None:
    """Airflow maps at most ``[core] max_map_length`` values (1,024 by default; 16 here, so that the
    month stays quick): a run of more clients than that plans and bills them all."""
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "16")
    monkeypatch.setenv("AIRFLOW__DMS_BILLING__MAX_BATCHES", "100")  # capped at max_map_length
    _bill_each_once(_many_clients(40, tmp_path, monkeypatch), 16, data_root)


@pytest.mark.scale
def test_a_month_of_1100_clients_is_billed_once_each_in_a_bounded_number_of_tasks(
    airflow_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_root: Path
) -> None:
    """Past Airflow's default ``max_map_length``, with the default number of batches (the
    deployment's parallelism, 32 here): every client's list and invoice, each made once."""
    _bill_each_once(_many_clients(MANY, tmp_path, monkeypatch), 32, data_root)


def test_a_bad_client_stops_alone_in_its_batch_and_a_rerun_sends_nothing_twice(
    airflow_db, source: Source, outbox, monkeypatch: pytest.MonkeyPatch, data_root: Path
) -> None:
    """BROKEN (an unmapped status) and DHAKA1 share a batch (Dhaka's moments, one batch allowed):
    DHAKA1 is billed and delivered, BROKEN named in the alert and the report; the run is red."""
    monkeypatch.setenv("AIRFLOW__DMS_BILLING__MAX_BATCHES", "1")
    conf = {"billing_month": str(MAY), "deliver": True}
    run = _run(conf)

    states = {(ti.task_id, ti.rendered_map_index): ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    dhaka = "BROKEN..DHAKA1 (2)"  # KOLKATA1's month closes at another moment: a batch of its own
    assert {label for _, label in states} == {dhaka, "KOLKATA1", None}
    for task in ("decide_lists", "deliver_lists", "issue_and_deliver_invoices"):
        assert states[(f"bill_batch.{task}", dhaka)] == states[(f"bill_batch.{task}", "KOLKATA1")] == "success"
    assert states[("report", None)] == "failed"

    sent = [(_kind(m), m["Subject"]) for m in outbox.messages]
    assert sorted(kind for kind, _ in sent) == ["alert", "alert", "finance", "invoice", "invoice", "list", "list"]
    assert not any("BROKEN" in subject for kind, subject in sent if kind != "alert")
    [stopped] = [m for m in outbox.messages if _kind(m) == "alert" and "BROKEN" in m.get_body(("plain",)).get_content()
                 and "validate" in m["Subject"]]
    text = stopped.get_body(("plain",)).get_content()
    broken = client_month_paths(str(MAY), "BROKEN", data_root)
    assert "on_leave" in text and str(broken.report_dir) in text
    assert (broken.report_dir / "data_docs" / "index.html").exists() and not broken.billable_csv.exists()
    [report_alert] = [m for m in outbox.messages if _kind(m) == "alert" and "report" in m["Subject"]]
    assert "BROKEN" in report_alert.get_body(("plain",)).get_content()
    ledger = ledger_engine(default_ledger_url())
    numbers = {i.bill_to.client_code: i.invoice_number for i in month_invoices(ledger, str(MAY))}
    assert set(numbers) == {"DHAKA1", "KOLKATA1"}

    before = len(outbox.messages)
    _run(conf)
    assert {_kind(m) for m in outbox.messages[before:]} == {"alert"}
    assert {i.bill_to.client_code: i.invoice_number for i in month_invoices(ledger, str(MAY))} == numbers
    sends = [(r["client_code"], r["kind"]) for r in delivery_log(ledger, str(MAY)) if r["state"] == "sent"]
    assert sorted(sends) == sorted({*sends}) and len(sends) == 5  # two lists, two invoices, finance's summary
