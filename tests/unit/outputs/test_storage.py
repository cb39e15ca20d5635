"""Outputs on an object store (moto's S3 server on loopback): whole objects or none, and paths that
survive an XCom (a string) with their Airflow connection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import include.dms_billing.airflow  # noqa: F401 - registers Airflow's ObjectStoragePath for URLs
from include.dms_billing.ledger.db import default_ledger_url
from include.dms_billing.outputs.atomic import atomic_path, replace_tree, write_bytes, write_text
from include.dms_billing.outputs.paths import client_month_paths, data_root
from include.dms_billing.outputs.storage import is_local, read_frame, storage_path
from tests.support.object_store import ObjectStore, object_store


def _key(path) -> str:
    """The object key of a path in the bucket (its path without the bucket)."""
    return path.path.split("/", 1)[1]


@pytest.fixture(scope="module")
def store() -> ObjectStore:
    with object_store() as running:
        yield running


@pytest.fixture
def root(store: ObjectStore, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    monkeypatch.setenv("AIRFLOW_CONN_DMS_BILLING_STORE", store.connection())
    monkeypatch.setenv("DMS_BILLING_DATA", store.url(request.node.name))
    return data_root()


def test_a_url_root_is_an_object_store_path_that_survives_a_string(root, store: ObjectStore) -> None:
    paths = client_month_paths("2023-05", "DHAKA1")
    assert not is_local(root) and root.conn_id == "dms_billing_store"
    again = storage_path(str(paths.billable_csv))  # as a task hands it to the next one in an XCom
    assert again.conn_id == "dms_billing_store" and str(again) == str(paths.billable_csv)
    write_text(again, "user_id\n1\n")
    assert store.read(_key(paths.billable_csv)) == b"user_id\n1\n"


def test_a_failed_write_leaves_the_old_object_whole(root, store: ObjectStore) -> None:
    target = root / "billable" / "summary.json"
    write_text(target, '{"billable": 1}')
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"billable": 2', encoding="utf-8")  # half written when the writer fails
        raise RuntimeError("the writer died")
    assert json.loads(target.read_text()) == {"billable": 1}
    assert [key.rsplit("/", 1)[1] for key in store.keys(_key(target.parent))] == ["summary.json"]


def test_a_library_writes_to_a_local_file_and_the_object_appears_whole(root) -> None:
    import pandas as pd

    target = root / "snapshots" / "user_facts.parquet"
    with atomic_path(target) as tmp:
        assert is_local(tmp)
        pd.DataFrame({"user_id": [1, 2, 3]}).to_parquet(tmp)
    assert read_frame(target)["user_id"].tolist() == [1, 2, 3]


def test_a_replaced_tree_holds_only_the_new_files(root, store: ObjectStore, tmp_path: Path) -> None:
    docs = root / "reports" / "data_docs"
    write_bytes(docs / "old" / "page.html", b"old")
    built = tmp_path / "built"
    (built / "static").mkdir(parents=True)
    (built / "index.html").write_text("new", encoding="utf-8")
    (built / "static" / "style.css").write_text("css", encoding="utf-8")
    replace_tree(built, docs)
    prefix = _key(docs) + "/"
    assert [key.removeprefix(prefix) for key in store.keys(prefix)] == ["index.html", "static/style.css"]


def test_the_ledger_is_never_a_sqlite_file_on_an_object_store(root) -> None:
    with pytest.raises(ValueError, match="billing_db"):
        default_ledger_url()


def test_local_outputs_are_private_and_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "out" / "list.csv"
    write_text(target, "a\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("b", encoding="utf-8")
        raise RuntimeError("the writer died")
    assert target.read_text() == "a\n" and oct(target.stat().st_mode & 0o777) == "0o640"
    assert [p.name for p in target.parent.iterdir()] == ["list.csv"]
