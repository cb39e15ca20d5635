"""The user ids of an objection, in either shape they come: the form's text, one id per line, or
a JSON list from a script or the REST API (``[12, 40]`` or ``["12", "40"]``).

Pure, so the DAG stays thin and the parsing is tested without Airflow. In text, blank lines,
spaces around an id and commas between ids are ignored (ids pasted from a spreadsheet column or
from a sentence both work); in a list (a script's, or the bulk CSV's column) each item is one id,
a blank item ignored. Anything else refuses the whole field, naming the line or item. Whether
the ids were on the month's sealed list is the ledger's check, not this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SEPARATORS = re.compile(r"[,\s]+")
_NOT_AN_ID = "is not a DMS user id (a whole number)"


class UserIdsRejected(ValueError):
    """The user ids field cannot be read; the message names the offending line or item."""


def _is_id(token: str) -> bool:
    return token.isascii() and token.isdigit()


def _line_ids(n: int, line: str) -> list[int]:
    tokens = [token for token in _SEPARATORS.split(line.strip()) if token]
    if not all(_is_id(token) for token in tokens):
        raise UserIdsRejected(f"user ids, line {n}: {line.strip()!r} {_NOT_AN_ID}; give one id per line")
    return [int(token) for token in tokens]


def _item_ids(n: int, item: object) -> list[int]:
    if isinstance(item, str):
        item = item.strip()
        if item == "":
            return []
        if _is_id(item):
            return [int(item)]
    elif isinstance(item, int) and not isinstance(item, bool) and item >= 0:
        return [item]
    raise UserIdsRejected(f"user ids, item {n}: {item!r} {_NOT_AN_ID}; give one id per item")


def read_user_ids(value: str | Iterable[object] | None) -> tuple[int, ...]:
    """The ids in ``value``, in the order given: one per line of a string (commas also separate),
    or one per item of a list; duplicates are kept for the objection's own check to name."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(uid for n, line in enumerate(value.splitlines(), start=1) for uid in _line_ids(n, line))
    return tuple(uid for n, item in enumerate(value, start=1) for uid in _item_ids(n, item))
