"""The files the billing page serves: named by a checked month and code only, and nothing
outside the client's own folders, whatever the request says."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.dms_billing.outputs.paths import VALIDATION_DOCS
from include.dms_billing.views.downloads import NotFound, client_paths, list_csv, report_file


@pytest.fixture
def root(tmp_path: Path) -> Path:
    paths = client_paths(tmp_path / "data", "2023-05", "MEGHNA")
    paths.billable_csv.parent.mkdir(parents=True)
    paths.billable_csv.write_bytes(b"user_id,name\r\n1,=cmd\r\n")
    docs = paths.report_dir / VALIDATION_DOCS
    (docs / "validations").mkdir(parents=True)
    (docs / "index.html").write_text("<html>report</html>")
    (docs / "validations" / "run.html").write_text("<html>run</html>")
    (paths.report_dir / "validation.json").write_text("{}")
    (tmp_path / "secret.html").write_text("not yours")
    return tmp_path / "data"


@pytest.mark.parametrize(("month", "code"), [
    ("2023-13", "MEGHNA"), ("2023-05/..", "MEGHNA"), ("..", "MEGHNA"), ("2023-05", "../MEGHNA"),
    ("2023-05", "MEGHNA/.."), ("2023-05", ""), ("2023-05", "MEGHNA\n"), ("2023-05", "client_code=X"),
])
def test_a_month_or_code_that_is_not_one_is_refused_before_any_path(root: Path, month: str, code: str) -> None:
    with pytest.raises(NotFound):
        client_paths(root, month, code)


def test_the_list_is_served_byte_for_byte_as_stored(root: Path) -> None:
    paths = client_paths(root, "2023-05", "MEGHNA")
    served = list_csv(paths)
    assert served.content == paths.billable_csv.read_bytes() and served.filename == "billable_users_MEGHNA_2023-05.csv"
    with pytest.raises(NotFound):
        list_csv(client_paths(root, "2023-04", "MEGHNA"))


@pytest.mark.parametrize("inner", [
    "../validation.json", "../../../../secret.html", "/etc/passwd", "validations/../../validation.json",
    "index.py", "", "validations/", ".hidden.html", "a\\..\\b.html", "index.html%00.png",
])
def test_a_report_path_outside_the_report_or_of_another_kind_is_refused(root: Path, inner: str) -> None:
    with pytest.raises(NotFound):
        report_file(client_paths(root, "2023-05", "MEGHNA"), inner)


def test_the_report_and_its_pages_are_served(root: Path) -> None:
    paths = client_paths(root, "2023-05", "MEGHNA")
    assert report_file(paths).content == b"<html>report</html>"
    page = report_file(paths, "validations/run.html")
    assert page.content == b"<html>run</html>" and page.media_type.startswith("text/html") and page.filename is None
