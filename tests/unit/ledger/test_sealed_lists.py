"""Sealed lists and their revisions (contract section 8): the pure difference, revisions written
once, last month's list read only as sealed, extraction leaving a sealed list alone, and an
invoice issued before lists were sealed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from include.dms_billing.core.config import StatusMap
from include.dms_billing.core.invoice import Invoice
from include.dms_billing.core.rule import decide
from include.dms_billing.flows.list_steps import _remove_list
from include.dms_billing.ledger.invoices import issue_invoice
from include.dms_billing.ledger.seals import LEGACY, recorded_seal, seal_list
from include.dms_billing.outputs.billable_list import write_billable_list
from include.dms_billing.outputs.fingerprints import SealBroken
from include.dms_billing.outputs.list_changes import compare_with_previous, read_previous_list
from include.dms_billing.outputs.paths import ClientMonthPaths, client_month_paths
from include.dms_billing.outputs.revisions import (
    list_difference,
    read_last_check,
    recheck,
    revision_id,
    write_recheck,
)
from tests.unit.outputs.test_list_changes import JUNE, SNAPSHOT


def _users(*rows: tuple[int, str]) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [u for u, _ in rows], "username": [f"u{u}" for u, _ in rows],
                         "full_name": None, "billable_reason": [r for _, r in rows], "logins_in_month": 0})


def _billed() -> pd.DataFrame:
    return compare_with_previous(decide(SNAPSHOT, JUNE, StatusMap(), "TEESTA"), SNAPSHOT, JUNE, StatusMap(), None)[0]


def _write_june(root: Path) -> ClientMonthPaths:
    paths = client_month_paths("2023-06", "TEESTA", root)
    billed, changes = compare_with_previous(decide(SNAPSHOT, JUNE, StatusMap(), "TEESTA"), SNAPSHOT, JUNE,
                                            StatusMap(), None)
    write_billable_list(billed, SNAPSHOT.num_rows, 0, paths, Path("report"), changes)
    return paths


def test_the_difference_names_users_added_removed_and_whose_reason_changed() -> None:
    sealed = _users((1, "active"), (2, "active"), (3, "inactive_recent_login"))
    recomputed = _users((2, "inactive_recent_login"), (3, "inactive_recent_login"), (4, "active"))

    diff = list_difference(sealed, recomputed)

    assert [(u.user_id, u.sealed_reason, u.billable_reason) for u in diff.added] == [(4, None, "active")]
    assert [(u.user_id, u.sealed_reason, u.billable_reason, u.username) for u in diff.removed] == [
        (1, "active", None, "u1")]
    assert [(u.user_id, u.sealed_reason, u.billable_reason) for u in diff.reason_changed] == [
        (2, "active", "inactive_recent_login")]
    assert list_difference(sealed, sealed.assign(logins_in_month=5)).empty  # details are not the bill


def test_a_retry_with_the_same_data_writes_no_second_revision(tmp_path: Path) -> None:
    paths = client_month_paths("2023-06", "TEESTA", tmp_path)
    recomputed = _billed()
    sealed = recomputed.iloc[:-1]
    for again in (recomputed, recomputed, recomputed.assign(logins_in_month=3)):
        write_recheck(paths, again, recheck(paths, sealed, again))

    [folder] = [p for p in paths.revision_dir("x").parent.iterdir() if p.is_dir()]
    assert folder.name == revision_id(recomputed) and read_last_check(paths).revision == folder.name
    assert read_last_check(paths).difference.counts() == {"added": 1, "removed": 0, "reason_changed": 0}
    write_recheck(paths, sealed, recheck(paths, sealed, sealed))
    assert read_last_check(paths).revision is None  # the same bill: no revision


def test_last_months_list_is_read_only_as_sealed(tmp_path: Path, ledger_engine: sa.Engine) -> None:
    june = _write_june(tmp_path)
    july = client_month_paths("2023-07", "TEESTA", tmp_path)
    seal = seal_list(ledger_engine, june, "run-1")
    billed = set(pd.read_parquet(june.billable_parquet)["user_id"])
    assert set(read_previous_list(july, seal.fingerprint)["user_id"]) == billed

    june.billable_parquet.write_bytes(june.billable_parquet.read_bytes() + b"\0")
    with pytest.raises(SealBroken, match="not the sealed list"):
        read_previous_list(july, seal.fingerprint)
    with pytest.raises(SealBroken, match="not the sealed list"):
        read_previous_list(july)  # the marker beside the files says the same without the ledger


def test_extraction_leaves_a_sealed_list_and_removes_an_unsealed_one(tmp_path: Path, ledger_engine) -> None:
    june = _write_june(tmp_path)
    _remove_list(june)
    assert not june.billable_csv.exists() and not june.summary.exists()

    june = _write_june(tmp_path)
    seal_list(ledger_engine, june, "run-1")
    before = {p: p.read_bytes() for p in (june.billable_csv, june.billable_parquet, june.summary, june.changes)}
    june.last_check.parent.mkdir(parents=True)
    june.last_check.write_text("{}")
    _remove_list(june)
    assert {p: p.read_bytes() for p in before} == before and not june.last_check.exists()
    with pytest.raises(ValueError, match="sealed"):
        _write_june(tmp_path)


def _issue_old_style(engine: sa.Engine, count: int) -> None:
    """An invoice issued by a release before lists were sealed: no seal with it."""
    from tests.unit.ledger.test_ledger import _builder, _render

    def build(number: str, lines) -> Invoice:
        return dataclasses.replace(_builder("TEESTA", count=count)(number, lines), billing_month="2023-06")

    issue_invoice(engine, client_code="TEESTA", billing_month="2023-06", prefix="SKR", build=build,
                  render=_render, run_id="old")


def test_an_invoice_from_before_seals_seals_the_list_on_disk_if_it_has_the_invoices_count(
    tmp_path: Path, ledger_engine: sa.Engine
) -> None:
    june = _write_june(tmp_path)
    rows = len(pd.read_parquet(june.billable_parquet))
    _issue_old_style(ledger_engine, rows + 1)
    with pytest.raises(SealBroken, match=f"counts {rows + 1} users but the list on disk has {rows}"):
        recorded_seal(ledger_engine, june, "run-2")

    with ledger_engine.begin() as conn:
        conn.exec_driver_sql("UPDATE invoices SET billable_count = ?", (rows,))
    seal = recorded_seal(ledger_engine, june, "run-2")
    assert seal.sealed_because == LEGACY and seal.invoice_number == "SKR-000001" and june.seal_marker.exists()
