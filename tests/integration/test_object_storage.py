"""A whole month with ``DMS_BILLING_DATA`` on an S3-compatible object store (moto on loopback).

Proves what only a whole run can: every task reads what the one before it wrote through the
object store (nothing handed over on a local disk), every output lands in the bucket as one
whole object, the emails carry what the bucket holds, and a second run sends nothing again.
"""

from __future__ import annotations

import email
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.dms_billing.ledger.invoices import month_invoices
from tests.integration.conftest import MAY
from tests.integration.conftest import run_dag
from tests.support.object_store import object_store
from tests.support.scenarios import Source
from tests.support.servers import POSTGRES_URL, scratch_database

pytestmark = pytest.mark.airflow
GOOD = ("DHAKA1", "KOLKATA1")


def _kind(message: email.message.Message) -> str:
    return message["X-Sokrio-Billing"].split(";")[0]


def _attachment(message: email.message.EmailMessage, suffix: str) -> bytes:
    [part] = [p for p in message.iter_attachments() if p.get_filename().endswith(suffix)]
    return part.get_payload(decode=True)


def test_a_month_bills_with_every_output_on_the_object_store(
    airflow_db, source: Source, outbox, data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with object_store() as store, scratch_database(POSTGRES_URL) as ledger_url:
        monkeypatch.setenv("DMS_BILLING_DATA", store.url("billing"))
        monkeypatch.setenv("AIRFLOW_CONN_DMS_BILLING_STORE", store.connection())
        monkeypatch.setenv("AIRFLOW_CONN_BILLING_DB", ledger_url.render_as_string(hide_password=False))
        workdir = tmp_path / "cwd"
        workdir.mkdir()
        monkeypatch.chdir(workdir)

        run = run_dag({"billing_month": str(MAY), "deliver": True})

        assert run.state == "failed"  # BROKEN's data fails validation; the others are billed
        keys = set(store.keys("billing/"))
        invoices = {i.bill_to.client_code: i for i in month_invoices(sa.create_engine(ledger_url), str(MAY))}
        assert sorted(invoices) == list(GOOD)
        for code in GOOD:
            part = f"billing_month={MAY}/client_code={code}"
            number = invoices[code].invoice_number
            assert {f"billing/snapshots/{part}/user_facts.parquet", f"billing/snapshots/{part}/source_checks.json",
                    f"billing/reports/{part}/validation.json", f"billing/billable/{part}/billable_users.csv",
                    f"billing/billable/{part}/billable_users.parquet", f"billing/billable/{part}/summary.json",
                    f"billing/billable/{part}/sealed.json", f"billing/invoices/{part}/invoice_{number}.pdf",
                    f"billing/invoices/{part}/invoice_{number}.html"} <= keys
        broken = f"billing/reports/billing_month={MAY}/client_code=BROKEN"
        assert f"{broken}/data_docs/index.html" in keys and f"{broken}/validation.json" in keys
        assert not any("client_code=BROKEN" in key for key in keys if key.startswith("billing/billable/"))
        assert f"billing/finance/billing_month={MAY}/finance_summary.csv" in keys
        assert not [key for key in keys if key.endswith(".tmp") or "/." in key]  # no temporary object left

        by_kind: dict[str, list] = {}
        for message in outbox.messages:
            by_kind.setdefault(_kind(message), []).append(message)
        assert sorted((kind, len(found)) for kind, found in by_kind.items()) == [
            ("alert", 2), ("finance", 1), ("invoice", 2), ("list", 2)]
        alert = next(m for m in by_kind["alert"] if "validate" in m["Subject"]).get_body(("plain",)).get_content()
        assert f"s3://dms_billing_store@{store.bucket}/{broken}/data_docs/index.html" in alert
        for code in GOOD:
            [listed] = [m for m in by_kind["list"] if f"({code})" in m["Subject"]]
            part = f"billing_month={MAY}/client_code={code}"
            assert _attachment(listed, ".csv") == store.read(f"billing/billable/{part}/billable_users.csv")
            number = invoices[code].invoice_number
            [billed] = [m for m in by_kind["invoice"] if number in m["Subject"]]
            assert _attachment(billed, ".pdf") == store.read(f"billing/invoices/{part}/invoice_{number}.pdf")
        assert not list(workdir.iterdir()) and not data_root.exists()  # nothing written on the local disk

        sent = len(outbox.messages)
        run_dag({"billing_month": str(MAY), "deliver": True})
        assert {_kind(m) for m in outbox.messages[sent:]} <= {"alert"}
        assert {i.invoice_number for i in month_invoices(sa.create_engine(ledger_url), str(MAY))} == {
            i.invoice_number for i in invoices.values()}
