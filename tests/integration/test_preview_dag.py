"""Whole runs of ``dms_billing_preview`` through ``dag.test()``, then the month's own run.

Two clients in two timezones (Asia/Dhaka, Europe/London) get their May 2023 preview on their own
local preview day (29 May, three days before their month closes), once; a user deactivated after
the preview, without logging in again, is not on the day-1 list. Real SMTP on loopback, real SQLite.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
import yaml

from include.dms_billing.ledger.db import default_ledger_url, ledger_engine
from include.dms_billing.ledger.deliveries import delivery_log
from include.dms_billing.ledger.invoices import month_invoices
from include.dms_billing.outputs.paths import PreviewPaths
from tests.integration.conftest import run_dag
from tests.support.scenarios import Source

pytestmark = pytest.mark.airflow
CLIENTS = {1: ("DHAKA1", "Asia/Dhaka"), 2: ("LONDON1", "Europe/London")}
OLD, APRIL, MAY_10 = datetime(2023, 1, 5, 8), datetime(2023, 4, 20, 8), datetime(2023, 5, 10, 8)  # naive UTC


@pytest.fixture
def preview_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_root: Path) -> tuple[Source, Path, dict]:
    """Per client: two active users idle in May (candidates), one active and one inactive user
    who logged in in May, one inactive user without a login."""
    src, users = Source(), {}
    for client_id, (code, tz) in CLIENTS.items():
        src.client(client_id, code, tz)
        active = [("active", OLD)]
        users[code] = {
            "idle_deactivated": src.user(client_id, "active", OLD, history=active, logins=[APRIL]),
            "idle_kept": src.user(client_id, "active", OLD, history=active, logins=[APRIL]),
            "active_used": src.user(client_id, "active", OLD, history=active, logins=[MAY_10]),
            "inactive_used": src.user(client_id, "inactive", OLD, history=[("inactive", OLD)], logins=[MAY_10]),
            "inactive_idle": src.user(client_id, "inactive", OLD, history=[("inactive", OLD)]),
        }
    db = tmp_path / "dms.sqlite"
    src.load(sa.create_engine(f"sqlite:///{db}"))
    config = {"clients": {code: {"plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}
                          for code, _ in CLIENTS.values()}}
    (tmp_path / "billing.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("DMS_BILLING_CONFIG", str(tmp_path / "billing.yaml"))
    monkeypatch.setenv("AIRFLOW_CONN_DMS_SOURCE", f"sqlite:///{db}")
    return src, db, users


def _previews(outbox) -> list:
    return [m for m in outbox.messages if m["X-Sokrio-Billing"].startswith("preview;")]


def _attachments(message) -> dict[str, bytes]:
    return {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}


def _preview(conf_as_of: str):
    run = run_dag({"as_of": conf_as_of, "deliver": True}, dag_id="dms_billing_preview")
    assert run.state == "success", {(t.task_id, t.map_index): t.state for t in run.get_task_instances()}
    return run


def test_previews_go_out_on_each_clients_local_day_once_and_deactivation_counts(
    airflow_db, preview_source, outbox, data_root: Path,
) -> None:
    _, db, users = preview_source

    # Both months close at 1 June 00:00 local; three days before is 29 May 00:00 local.
    _preview("2023-05-28T17:59:59+00:00")  # 28 May 23:59:59 in Dhaka: nobody's day yet
    assert _previews(outbox) == []
    _preview("2023-05-28T18:00:00+00:00")  # 29 May 00:00 in Dhaka, 28 May 19:00 in London
    assert [m["X-Sokrio-Billing"] for m in _previews(outbox)] == ["preview; client=DHAKA1; month=2023-05"]
    _preview("2023-05-28T23:00:00+00:00")  # 29 May 00:00 in London
    _preview("2023-05-30T09:00:00+00:00")  # both were sent: nothing more
    previews = {m["X-Sokrio-Billing"].split("client=")[1].split(";")[0]: m for m in _previews(outbox)}
    assert len(_previews(outbox)) == 2 and set(previews) == {"DHAKA1", "LONDON1"}

    zone_names = {"Asia/Dhaka": "Bangladesh time", "Europe/London": "United Kingdom time"}  # as clients say them
    for code, tz in CLIENTS.values():
        message = previews[code]
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert message["To"] == f"billing@{code.lower()}.example"
        assert f"Changes count until 23:59:59 on 31 May 2023 ({zone_names[tz]})." in text
        assert "00:00 on 29 May 2023" in text and "00:00 on 1 June 2023" in text  # as of, and the close
        assert "Candidates to deactivate: 2 active users" in text
        files = _attachments(message)
        projected = list(csv.DictReader(io.StringIO(files[f"Sokrio_preview_{code}_2023-05.csv"].decode("utf-8-sig"))))
        mine = users[code]
        assert {int(r["user_id"]): r["billable_reason"] for r in projected} == {
            mine["idle_deactivated"]: "active", mine["idle_kept"]: "active", mine["active_used"]: "active",
            mine["inactive_used"]: "inactive_recent_login"}
        sheet = openpyxl.load_workbook(io.BytesIO(files[f"Sokrio_preview_{code}_2023-05.xlsx"]))["Active, not logged in"]
        assert sorted(row[0] for row in sheet.iter_rows(min_row=2, values_only=True)) == sorted(
            [mine["idle_deactivated"], mine["idle_kept"]])
        assert PreviewPaths(data_root, "2023-05", code).projected.exists()
    ledger = ledger_engine(default_ledger_url())
    assert [(r["client_code"], r["kind"], r["state"]) for r in delivery_log(ledger, "2023-05")] == [
        ("DHAKA1", "preview", "sent"), ("LONDON1", "preview", "sent")]
    # The preview decided nothing about the bill.
    assert not (data_root / "billable").exists() and not (data_root / "invoices").exists()
    assert month_invoices(ledger, "2023-05") == []

    # After its preview, DHAKA1's administrator deactivates one idle user; nobody logs in again.
    deactivated = users["DHAKA1"]["idle_deactivated"]
    with sa.create_engine(f"sqlite:///{db}").begin() as conn:
        conn.execute(sa.text("INSERT INTO user_status_changes (id, user_id, status, changed_at, changed_by) "
                             "SELECT MAX(id) + 1, :u, 'inactive', :t, 'admin' FROM user_status_changes"),
                     {"u": deactivated, "t": "2023-05-29 10:00:00"})
    run = run_dag({"billing_month": "2023-05", "clients": ["DHAKA1"], "deliver": True})
    assert run.state == "success"
    [listed] = [m for m in outbox.messages if m["X-Sokrio-Billing"].startswith("list;")]
    rows = {int(r["user_id"]): r for r in csv.DictReader(io.StringIO(
        _attachments(listed)["Sokrio_billable_users_DHAKA1_2023-05.csv"].decode("utf-8-sig")))}
    mine = users["DHAKA1"]
    assert deactivated not in rows
    assert set(rows) == {mine["idle_kept"], mine["active_used"], mine["inactive_used"]}
    kept = rows[mine["idle_kept"]]
    assert (kept["billable_reason"], kept["logins_in_month"], kept["status_source"]) == ("active", "0", "history")
    assert kept["status_set_at"] == (OLD + timedelta(hours=6)).isoformat() + "+06:00"
    assert kept["last_login_at"] == "2023-04-20T14:00:00+06:00"
    assert len(_previews(outbox)) == 2  # the month's run sends no preview
