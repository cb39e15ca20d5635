"""The demo DMS database: deterministic, seeded, and conforming to the contract's schema.

``python -m include.dms_billing.demo.demo_dms --url sqlite:///data/demo_dms.sqlite [--seed 42]``
(``--help`` for the scale options). The same seed and options give identical rows.

Five named distributors (MEGHNA, PADMA, JAMUNA, TEESTA in Asia/Kolkata, KARNAPHULI), then
C006 (Europe/London), C007 (Asia/Kathmandu) and further Asia/Dhaka clients. Users are created
from January 2022 to December 2023; some are deleted, some toggle between active and inactive
in 2023, some (migrated) have no status history. Logins run over the given months, in local
working hours, only while a user is active and not deleted.

Every client's first users are the planted cases of contract section 2 (``PLANTED_CASES``,
in that order; ``planted_user_id`` gives their ids), placed at the client's own local
midnights. Client ``n`` owns user ids ``(n - 1) * users_per_client + 1`` onwards (with
``client_sizes``, the ids after the previous client's).

Rows are generated client by client and streamed into the database, so memory depends on the
users of one client, never on the number of logins.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import accumulate, count
from pathlib import Path

import sqlalchemy as sa
from tqdm import tqdm

from include.dms_billing.core.billing_month import BillingMonth
from include.dms_billing.demo.lifecycles import PLANTED_CASES
from include.dms_billing.demo.people import (
    DEFAULT_USERS_PER_CLIENT,
    _fakers,
    client_users,
    demo_clients,
    status_change_rows,
    user_rows,
)
from include.dms_billing.demo.source_db import (
    SOURCE_COLUMNS,
    bulk_load,
    create_source_indexes,
    create_source_schema,
)
from include.dms_billing.demo.traffic import login_rows

DEFAULT_URL = "sqlite:///data/demo_dms.sqlite"
DEFAULT_MONTHS = tuple(BillingMonth(2023, month) for month in range(3, 13))


def _numbered(rows: Iterable[tuple], ids: Iterator[int]) -> Iterator[tuple]:
    """Prefix each row with the next id of a sequence shared across clients."""
    return ((next(ids), *row) for row in rows)


def _make_sqlite_dir(url: sa.URL) -> None:
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def generate(
    url: str | sa.URL,
    *,
    seed: int = 42,
    clients: int = 5,
    users_per_client: int = DEFAULT_USERS_PER_CLIENT,
    logins_per_user_month: float = 12,
    months: Sequence[BillingMonth] = DEFAULT_MONTHS,
    month_logins: Mapping[BillingMonth, float] | None = None,
    client_sizes: Sequence[int] | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """(Re)create the demo DMS at ``url``; returns the rows written per table.

    ``months`` are the months with generated login traffic (the planted cases' logins are
    always written). ``logins_per_user_month`` times the number of users is about the logins
    of a month: the users who can log in that month make up for those who cannot.
    ``month_logins`` (month -> logins per user) replaces both, for months of different traffic.
    ``client_sizes`` (users of each client, in order) replaces ``clients`` and
    ``users_per_client``: real clients differ in size. Indexes are built after the load.
    """
    sizes = list(client_sizes) if client_sizes is not None else [users_per_client] * clients
    if min(sizes) < len(PLANTED_CASES):
        raise ValueError(f"every client needs at least {len(PLANTED_CASES)} users (the planted cases)")
    engine_url = sa.make_url(url)
    _make_sqlite_dir(engine_url)
    engine = sa.create_engine(engine_url)
    try:
        means = dict(month_logins) if month_logins is not None else dict.fromkeys(months, logins_per_user_month)
        create_source_schema(engine, indexes=False)
        all_clients = demo_clients(seed, len(sizes))
        counts = dict.fromkeys(SOURCE_COLUMNS, 0)
        client_rows = [client.row() for client in all_clients]
        counts["clients"] = bulk_load(engine, "clients", SOURCE_COLUMNS["clients"], client_rows)
        change_ids, login_ids, fakers = count(1), count(1), _fakers()
        firsts = accumulate(sizes[:-1], initial=1)
        clients_and_ids = tqdm(zip(all_clients, sizes, firsts, strict=True), desc="clients", unit="client",
                               total=len(sizes), disable=not progress)
        for client, size, first in clients_and_ids:
            users = client_users(seed, client, size, first, fakers)
            logins_rng = random.Random(f"{seed}:{client.code}:logins")
            for table, rows in (
                ("users", user_rows(users)),
                ("user_status_changes", _numbered(status_change_rows(users), change_ids)),
                ("user_logins",
                 _numbered(login_rows(logins_rng, users, means), login_ids)),
            ):
                counts[table] += bulk_load(engine, table, SOURCE_COLUMNS[table], rows)
        create_source_indexes(engine)
        return counts
    finally:
        engine.dispose()


def parse_months(text: str) -> tuple[BillingMonth, ...]:
    """``YYYY-MM`` or ``YYYY-MM..YYYY-MM`` (inclusive)."""
    first, _, last = text.partition("..")
    month, stop = BillingMonth.parse(first), BillingMonth.parse(last or first)
    months = []
    while month <= stop:
        months.append(month)
        month = month.next()
    return tuple(months)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="SQLAlchemy URL (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--users-per-client", type=int, default=DEFAULT_USERS_PER_CLIENT)
    parser.add_argument("--logins-per-user-month", type=float, default=12,
                        help="a month's logins are about this times the number of users")
    parser.add_argument("--months", type=parse_months, default=DEFAULT_MONTHS,
                        help="months with login traffic: YYYY-MM or FROM..TO (default 2023-03..2023-12)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = generate(
        args.url, seed=args.seed, clients=args.clients, users_per_client=args.users_per_client,
        logins_per_user_month=args.logins_per_user_month, months=args.months, progress=True,
    )
    print(f"Demo DMS written to {sa.make_url(args.url).render_as_string(hide_password=True)} "
          f"in {time.perf_counter() - started:.1f}s")
    for table, rows in counts.items():
        print(f"  {table:<20} {rows:>12,}")


if __name__ == "__main__":
    main()
