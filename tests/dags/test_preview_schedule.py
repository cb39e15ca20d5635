"""The preview DAG's schedule: every day at 18:00 UTC (00:00 in Dhaka), each run's data interval
ending at its own run time, which is the moment the plan projects at."""

from __future__ import annotations

from datetime import timedelta, timezone

from tests.conftest import PROJECT


def test_preview_runs_daily_at_18_utc_and_takes_the_documented_params() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    dag = DagBag(dag_folder=str(PROJECT / "dags")).dags["dms_billing_preview"]
    timetable = coerce_to_core_timetable(dag.timetable)
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
    last, ends = None, []
    for _ in range(3):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        assert info.run_after == info.data_interval.end
        assert info.data_interval.end - info.data_interval.start == timedelta(days=1)
        ends.append(info.data_interval.end.astimezone(timezone.utc))
        last = info.data_interval
    assert all((end.hour, end.minute) == (18, 0) for end in ends)
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert set(dag.params) == {"as_of", "clients", "deliver", "resend"}
