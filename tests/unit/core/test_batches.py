"""Clients grouped into batches: by the moments they share, balanced by users, bounded in number."""

from __future__ import annotations

import json

import pytest

from include.dms_billing.core.batches import BatchKey, ClientBatch, plan_batches
from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.core.jobs import ClientJob, RunIntent

DHAKA = BatchKey("2023-05-31T18:00:00+00:00", "2023-06-01T00:00:00+06:00", "2023-04-30T18:00:00+00:00")
KOLKATA = BatchKey("2023-05-31T18:30:00+00:00", "2023-06-01T00:00:00+05:30", "2023-04-30T18:30:00+00:00")
REFUSED = BatchKey(None, None)


def _job(n: int, tz: str = "Asia/Dhaka") -> ClientJob:
    return ClientJob(n, f"C{n:03d}", f"Client {n}", tz, BillingMonth(2023, 5), f"c{n}@example.com", None, RunIntent(deliver=True))


def _plan(n: int, max_batches: int, users: dict[str, int] | None = None, keys=None) -> list[ClientBatch]:
    jobs = [_job(i) for i in range(1, n + 1)]
    keys = keys or {}
    return plan_batches(jobs, {j.client_code: keys.get(j.client_code, DHAKA) for j in jobs}, users or {}, max_batches)


def test_few_clients_are_a_batch_each_labelled_with_its_code():
    batches = _plan(3, 32)
    assert [b.label for b in batches] == ["C001", "C002", "C003"]
    assert all(len(b.jobs) == 1 for b in batches)


def test_many_clients_stay_within_the_limit_and_each_is_in_exactly_one_batch():
    batches = _plan(1_100, 8)
    assert len(batches) == 8
    codes = [j.client_code for b in batches for j in b.jobs]
    assert sorted(codes) == sorted(f"C{n:03d}" for n in range(1, 1_101)) and len(set(codes)) == 1_100
    assert {len(b.jobs) for b in batches} <= {137, 138}  # balanced: every client weighs the same here
    first = min(batches, key=lambda b: b.jobs[0].client_code)
    assert first.label == f"{first.jobs[0].client_code}..{first.jobs[-1].client_code} ({len(first.jobs)})"


def test_the_big_client_stands_alone_and_big_clients_do_not_stack():
    users = {f"C{n:03d}": 100 for n in range(1, 41)} | {"C007": 50_000, "C013": 30_000}
    batches = _plan(40, 4, users)
    by_code = {j.client_code: b for b in batches for j in b.jobs}
    assert len(by_code["C007"].jobs) == 1 and by_code["C007"].users == 50_000
    assert len(by_code["C013"].jobs) == 1
    assert sum(b.users for b in batches) == 50_000 + 30_000 + 38 * 100


def test_a_batch_waits_once_clients_with_other_moments_never_share_it():
    keys = {f"C{n:03d}": KOLKATA for n in range(1, 11)}
    batches = _plan(20, 2, keys=keys)
    assert len(batches) == 2
    for batch in batches:
        assert len({keys.get(j.client_code, DHAKA) for j in batch.jobs}) == 1


def test_a_client_whose_moments_were_refused_is_a_batch_of_its_own():
    batches = _plan(5, 1, keys={"C003": REFUSED})
    assert sorted(b.label for b in batches) == ["C001..C005 (4)", "C003"]


def test_a_batch_travels_between_tasks_as_plain_values():
    [batch] = _plan(3, 1)
    travelled = json.loads(json.dumps(batch.to_dict()))
    assert all("billing_month" not in job and "intent" not in job for job in travelled["jobs"])  # the run's, once
    again = ClientBatch.from_dict(travelled, batch.jobs[0].run)
    assert again == batch and again.label == "C001..C003 (3)" and again.jobs[0].intent.deliver


def test_at_least_one_batch_is_needed():
    with pytest.raises(ValueError, match="max_batches"):
        _plan(3, 0)


def test_refused_clients_share_one_batch_apart_however_many():
    refused = {f"C{n:03d}": REFUSED for n in range(1, 101)}
    batches = _plan(110, 4, keys=refused)
    assert len(batches) == 5
    [apart] = [b for b in batches if b.key == REFUSED]
    assert [j.client_code for j in apart.jobs] == sorted(refused) and apart.label == "C001..C100 (100)"
