"""The ``validate`` task's step stops a client whose snapshot fails: it raises, whatever calls it,
and leaves no list behind, not even the one decided from the same snapshot when it passed."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingMonth, billing_window
from include.dms_billing.core.config import parse_config
from include.dms_billing.core.jobs import plan_clients
from include.dms_billing.flows import list_steps
from include.dms_billing.flows.list_steps import ValidationFailed
from include.dms_billing.outputs.paths import ClientMonthPaths
from include.dms_billing.source.clients import fetch_clients
from tests.support.scenarios import Source, section2_cases

MAY = BillingMonth(2023, 5)


def test_a_snapshot_that_fails_stops_the_client_and_leaves_no_list(tmp_path: Path) -> None:
    src = Source()
    src.client(1, "ACME", "Asia/Dhaka")
    section2_cases(src, 1, billing_window(MAY, "Asia/Dhaka"))
    dms = sa.create_engine(f"sqlite:///{tmp_path / 'dms.sqlite'}")
    src.load(dms)
    config = parse_config({})
    [job] = plan_clients(fetch_clients(dms), [], MAY, config)
    paths = ClientMonthPaths(tmp_path / "data", str(MAY), "ACME")
    list_steps.extract_step(dms, job, paths)
    passed = list_steps.validate_or_stop(job, paths, config)
    list_steps.decide_step(job, paths, config, passed.report_path)
    assert passed.success and paths.billable_csv.exists()

    # The validate task run again after the configuration changed: "inactive" is no longer mapped
    # (no guessing on money). The snapshot is the same; the list decided from it goes.
    remapped = parse_config({"defaults": {"status_map": {"active": ["active"], "inactive": ["disabled"]}}})
    with pytest.raises(ValidationFailed, match="expect_column_values_to_be_in_set on current_status") as failed:
        list_steps.validate_or_stop(job, paths, remapped)

    assert not failed.value.outcome.success
    for path in (paths.billable_csv, paths.billable_parquet, paths.summary):
        assert not path.exists(), path
