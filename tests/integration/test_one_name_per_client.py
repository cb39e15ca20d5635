"""One client, one name: a delivering month through ``dag.test()`` where the DMS calls the client
one thing and the billing configuration gives its legal name. Every email, attachment, sheet and
PDF the month produces, and finance's summary, names it by its legal name, and none by the other.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
import pypdf
import pytest
import sqlalchemy as sa
import yaml

from include.dms_billing.core.billing_month import billing_window
from tests.integration.conftest import MAY, run_dag
from tests.support.scenarios import Source, section2_cases

pytestmark = pytest.mark.airflow

DMS_NAME = "Meghna Trading Co (DMS)"
LEGAL_NAME = "মেঘনা ফুডস লিমিটেড (Meghna Foods Ltd)"  # the legal name is Bengali and English


@pytest.fixture
def two_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_root: Path) -> None:
    src = Source()
    src.client(1, "MEGHNA", "Asia/Dhaka")
    src.clients[0]["name"] = DMS_NAME
    section2_cases(src, 1, billing_window(MAY, "Asia/Dhaka"))
    db = tmp_path / "dms.sqlite"
    src.load(sa.create_engine(f"sqlite:///{db}"))
    config = {"clients": {"MEGHNA": {"legal_name": LEGAL_NAME,
                                     "plan": {"prices": [{"from": "2023-04", "unit_price": "150.00"}]}}}}
    (tmp_path / "billing.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("DMS_BILLING_CONFIG", str(tmp_path / "billing.yaml"))
    monkeypatch.setenv("AIRFLOW_CONN_DMS_SOURCE", f"sqlite:///{db}")


def _pdf_text(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages).split())


def _xlsx_text(xlsx: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    return " ".join(str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row
                    if cell is not None)


def _documents(message) -> dict[str, str]:
    """What a reader of ``message`` sees, by where: subject, bodies, each attachment as text."""
    kind = message["X-Sokrio-Billing"].split(";")[0]
    seen = {f"{kind} subject": str(message["Subject"])}
    for part in ("plain", "html"):
        body = message.get_body((part,))
        if body is not None:
            seen[f"{kind} {part} body"] = body.get_content()
    for attachment in message.iter_attachments():
        name, data = attachment.get_filename(), attachment.get_payload(decode=True)
        if name.endswith(".pdf"):
            seen[name] = _pdf_text(data)
        elif name.endswith(".xlsx"):
            seen[name] = _xlsx_text(data)
    return seen


def test_every_document_of_a_month_names_the_client_by_its_legal_name(airflow_db, two_named, outbox) -> None:
    run = run_dag({"billing_month": str(MAY), "deliver": True})
    assert run.state == "success"
    seen: dict[str, str] = {}
    for message in outbox.messages:
        seen.update(_documents(message))
    kinds = {where.split()[0] for where in seen if where.endswith("subject")}
    assert kinds == {"list", "invoice", "finance"}
    named = [where for where in seen if not where.endswith(".csv")]
    pdfs = sorted(where for where in seen if where.endswith(".pdf"))
    assert pdfs == ["Sokrio_billing_FAQ_MEGHNA_2023-05.pdf", "Sokrio_invoice_SKR-000001_MEGHNA_2023-05.pdf"]
    for where in named:
        text = seen[where]
        assert "Meghna Trading" not in text, where
        if where in ("finance subject", "finance plain body"):
            continue  # these name clients by code only (a count and a fixed-width table)
        if where.endswith(".pdf"):  # a PDF's Bengali text extracts with its vowel signs reordered
            assert "মেঘনা" in text and "(Meghna Foods Ltd)" in text, where
        else:
            assert LEGAL_NAME in re.sub(r"\s+", " ", text), where
