"""The objection DAG: its trigger form, refusals that write nothing, and the credit on June's bill."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.dms_billing.core.invoice import ADJUSTMENT
from include.dms_billing.ledger.db import default_ledger_url, ledger_engine
from include.dms_billing.ledger.invoices import month_invoices
from include.dms_billing.ledger.schema import adjustments, objection_users, objections
from include.dms_billing.outputs.paths import client_month_paths
from tests.conftest import PROJECT
from tests.integration.conftest import run_dag
from tests.support.scenarios import Source

pytestmark = pytest.mark.airflow
FORM = ("client_code", "billing_month", "user_ids", "reason", "decided_by", "direction", "csv_path")


def test_the_trigger_form_has_a_titled_typed_field_for_each_param(airflow_db) -> None:
    """What the UI renders: the serialized DAG's params, as the API server reads them."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_record_objection"]
    serialized = dict(json.loads(json.dumps(DagSerialization.to_dict(dag)))["dag"]["params"])  # as stored
    fields = {name: param["schema"]["__var"] for name, param in serialized.items()}
    assert tuple(fields) == FORM
    for name, schema in fields.items():
        assert schema["title"] and schema["type"] and serialized[name]["description"], name
    assert fields["user_ids"]["type"] == ["string", "array", "null"]  # lines or a JSON list, in a textarea
    assert fields["direction"]["enum"] == ["credit", "debit"]


def _objection(user_ids: list[int] = (), **overrides) -> dict:
    """The form as staff fill it in: the user ids one per line, with a blank line and spaces."""
    lines = "\n".join(f" {uid} " for uid in user_ids) + "\n\n"
    return {"client_code": "DHAKA1", "billing_month": "2023-05", "user_ids": lines, "reason": "duplicate login",
            "decided_by": "finance@sokrio.example", "direction": "credit", "csv_path": "", **overrides}


def _objection_count() -> int:
    with ledger_engine(default_ledger_url()).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(objections)).scalar()


def test_an_accepted_objection_is_credited_on_the_next_invoice_only(airflow_db, source: Source, data_root: Path) -> None:
    billed = [uid for uid, reason in source.expected.items() if reason and source.users[uid - 1]["client_id"] == 1]
    not_billed = next(uid for uid, reason in source.expected.items()
                      if not reason and source.users[uid - 1]["client_id"] == 1)

    early = run_dag({**_objection(user_ids=billed[:2])}, "dms_record_objection")  # May not invoiced yet
    assert early.state == "failed" and _objection_count() == 0
    assert run_dag({"billing_month": "2023-05", "clients": ["DHAKA1"]}).state == "success"
    refused = run_dag(_objection(user_ids=[billed[0], not_billed]), "dms_record_objection")
    assert refused.state == "failed" and _objection_count() == 0

    accepted = run_dag(_objection(user_ids=billed[:2]), "dms_record_objection")
    repeated = run_dag(_objection(user_ids=billed[1:3]), "dms_record_objection")
    assert accepted.state == "success" and repeated.state == "failed" and _objection_count() == 1

    for _ in range(2):  # June, then June again: the credit is applied once
        assert run_dag({"billing_month": "2023-06", "clients": ["DHAKA1"]}).state == "success"
    engine = ledger_engine(default_ledger_url())
    [may] = month_invoices(engine, "2023-05")
    [june] = month_invoices(engine, "2023-06")
    [credit] = [line for line in june.lines if line.kind == ADJUSTMENT]
    assert "May 2023" in credit.description and "2 users" in credit.description
    assert credit.amount == -2 * may.unit_price
    assert [line for line in may.lines if line.kind == ADJUSTMENT] == []


def _recorded() -> list[dict]:
    """Every recorded objection as the ledger keeps it (its id and time aside): its users and its
    credit waiting for the next invoice."""
    with ledger_engine(default_ledger_url()).connect() as conn:
        rows = conn.execute(sa.select(objections).order_by(objections.c.id)).mappings().all()
        users = conn.execute(sa.select(objection_users)).mappings().all()
        pending = conn.execute(sa.select(adjustments)).mappings().all()
    return [{
        **{k: v for k, v in row.items() if k not in ("id", "recorded_at", "recorded_by_run")},
        "user_ids": sorted(user["user_id"] for user in users if user["objection_id"] == row["id"]),
        "pending": [(adj["description"], adj["quantity"], adj["amount"])
                    for adj in pending if adj["objection_id"] == row["id"]],
    } for row in rows]


def test_user_ids_as_a_json_list_or_as_lines_record_the_same_objection(
    airflow_db, source: Source, data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
) -> None:
    """The form's text and a script's list (a number and a digit string), each in a ledger of its
    own with May billed: the same objection. A list with an item that is not an id refuses the
    run, naming the item, and writes nothing."""
    billed = [uid for uid, reason in source.expected.items()
              if reason and source.users[uid - 1]["client_id"] == 1]
    recorded = {}
    for shape, user_ids in (("lines", _objection(user_ids=billed[:2])["user_ids"]),
                            ("list", [billed[0], str(billed[1])])):
        monkeypatch.setenv("DMS_BILLING_DATA", str(tmp_path / shape))
        assert run_dag({"billing_month": "2023-05", "clients": ["DHAKA1"]}).state == "success"
        if shape == "list":
            capfd.readouterr()
            refused = run_dag(_objection() | {"user_ids": [billed[0], "12a"]}, "dms_record_objection")
            assert refused.state == "failed" and _objection_count() == 0
            assert "item 2: '12a' is not a DMS user id" in capfd.readouterr().out  # the task's log
        assert run_dag(_objection() | {"user_ids": user_ids}, "dms_record_objection").state == "success"
        recorded[shape] = _recorded()
    assert recorded["list"] == recorded["lines"]
    [objection] = recorded["list"]
    assert (objection["client_code"], objection["billing_month"]) == ("DHAKA1", "2023-05")
    assert objection["direction"] == "credit" and objection["reason"] == "duplicate login"
    assert objection["user_ids"] == sorted(billed[:2]) and objection["user_count"] == 2
    [(_, quantity, amount)] = objection["pending"]
    assert quantity == 2 and amount == Decimal("-300.00")  # two users at May's 150.00


def _lines(invoice) -> list[tuple[str, Decimal]]:
    return [(line.description, line.amount) for line in invoice.lines if line.kind == ADJUSTMENT]


def test_a_credit_and_a_debit_on_june_land_on_julys_invoice_once_and_not_on_augusts(
    airflow_db, source: Source, data_root: Path, tmp_path: Path
) -> None:
    """Contract section 5: a valid objection becomes a credit (or debit) on the client's next
    invoice, exactly once. June billed, objected to (two users credited, one debited, one bulk
    CSV), then July and August billed by whole runs."""
    month = {"clients": ["DHAKA1"]}
    assert run_dag({**month, "billing_month": "2023-06"}).state == "success"
    june_list = client_month_paths("2023-06", "DHAKA1", data_root).billable_csv
    with june_list.open(encoding="utf-8-sig", newline="") as handle:
        billed = [int(row["user_id"]) for row in csv.DictReader(handle)]
    rows = [(billed[0], "credit"), (billed[1], "credit"), (billed[2], "debit")]
    bulk = tmp_path / "objections.csv"
    bulk.write_text("client_code,billing_month,user_id,reason,decided_by,direction\n" + "".join(
        f"DHAKA1,2023-06,{uid},found on review,finance@sokrio.example,{direction}\n" for uid, direction in rows),
        encoding="utf-8")
    assert run_dag({"csv_path": str(bulk)}, "dms_record_objection").state == "success"

    for billing_month in ("2023-07", "2023-08"):
        assert run_dag({**month, "billing_month": billing_month}).state == "success"

    engine = ledger_engine(default_ledger_url())
    [june], [july], [august] = (month_invoices(engine, m) for m in ("2023-06", "2023-07", "2023-08"))
    price = Decimal("150.00")  # the fixture's plan, every month
    lines = _lines(july)
    assert sorted(amount for _, amount in lines) == [-2 * price, price]  # each objection once, own line
    text = {amount: description for description, amount in lines}
    assert "June 2023" in text[-2 * price] and "2 users" in text[-2 * price]
    assert "June 2023" in text[price] and "1 user" in text[price]
    assert july.adjustments_amount == -price
    assert july.subtotal == july.subscriptions_amount - price
    assert _lines(june) == [] and _lines(august) == []
    assert august.adjustments_amount == 0 and august.subtotal == august.subscriptions_amount
