"""The user ids of an objection, as Sokrio staff type them in the trigger form: one per line.

Pure, so the DAG stays thin and the parsing is tested without Airflow. Blank lines, spaces
around an id and commas between ids are ignored (ids pasted from a spreadsheet column or from
a sentence both work); anything else on a line refuses the whole field, naming the line. A list
(the CSV's column, or an old-style JSON list from a script) is read the same way, item by item.
Whether the ids were on the month's sealed list is the ledger's check, not this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SEPARATORS = re.compile(r"[,\s]+")


class UserIdsRejected(ValueError):
    """The user ids field cannot be read; the message names the offending line."""


def _line_ids(where: str, line: str) -> list[int]:
    ids = []
    for token in _SEPARATORS.split(line.strip()):
        if not token:
            continue
        if not token.isascii() or not token.isdigit():
            raise UserIdsRejected(f"user ids, {where}: {line.strip()!r} is not a DMS user id "
                                  "(a whole number); give one id per line")
        ids.append(int(token))
    return ids


def read_user_ids(value: str | Iterable[object] | None) -> tuple[int, ...]:
    """The ids in ``value``, in the order given: one per line of a string (commas also separate),
    or one per item of a list; duplicates are kept for the objection's own check to name."""
    if value is None:
        return ()
    if isinstance(value, str):
        unit, lines = "line", value.splitlines()
    else:
        unit, lines = "item", [str(item) for item in value]
    return tuple(uid for n, line in enumerate(lines, start=1) for uid in _line_ids(f"{unit} {n}", line))
