"""The extraction SQL, kept as files in ``include/sql`` so a DBA can read and adapt it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


@cache
def load_sql(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def dialect_sql(name: str, dialect: str) -> str:
    """``name`` for ``dialect``: its variant ``<stem>.<dialect>.sql`` when there is one (SQLite's,
    which compares timestamps by instant rather than as text), else the portable file."""
    variant = f"{Path(name).stem}.{dialect}.sql"
    return load_sql(variant if (SQL_DIR / variant).exists() else name)
