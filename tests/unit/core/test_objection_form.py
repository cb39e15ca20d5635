"""The objection's user ids: one per line, as staff paste them, or a JSON list, as scripts send them;
a bad line or item is refused by name."""

from __future__ import annotations

import pytest

from include.dms_billing.core.objection_form import UserIdsRejected, read_user_ids


def test_one_id_per_line_with_blank_lines_spaces_and_commas_ignored() -> None:
    assert read_user_ids("12\n40\n") == (12, 40)
    assert read_user_ids("\n  12  \r\n\n40,\n 7, 8 \n\n") == (12, 40, 7, 8)
    assert read_user_ids("9007199254740993") == (9007199254740993,)  # bigint ids stay exact


def test_nothing_given_is_no_ids_for_the_objection_to_refuse() -> None:
    assert read_user_ids("") == read_user_ids("  \n\n") == read_user_ids(None) == read_user_ids([]) == ()


def test_a_list_is_read_item_by_item() -> None:
    assert read_user_ids([12, "40", " 7 "]) == (12, 40, 7)


def test_a_scripts_list_reads_as_the_forms_lines() -> None:
    """``"user_ids": [12, 40]`` or ``["12", "40"]`` from the REST API is the form's ``"12\n40"``."""
    assert read_user_ids([12, 40]) == read_user_ids(["12", "40"]) == read_user_ids("12\n40") == (12, 40)
    assert read_user_ids([9007199254740993]) == (9007199254740993,)
    assert read_user_ids(["12", "", 40]) == (12, 40)  # a blank item, as a blank line


def test_a_repeated_id_is_kept_for_the_objection_check_to_name() -> None:
    assert read_user_ids("12\n12") == (12, 12)


@pytest.mark.parametrize(
    ("field", "named"),
    [
        ("12\nabc\n40", "line 2: 'abc'"),
        ("12\n\n40.5", "line 3: '40.5'"),
        ("-3", "line 1: '-3'"),
        ("12 rahim", "line 1: '12 rahim'"),
        ("১২", "line 1: '১২'"),  # Bengali digits: not an id the DMS would show
    ],
)
def test_a_line_that_is_not_a_whole_number_is_refused_naming_it(field: str, named: str) -> None:
    with pytest.raises(UserIdsRejected, match=named):
        read_user_ids(field)


@pytest.mark.parametrize(
    ("items", "named"),
    [
        ([1, "x"], "item 2: 'x'"),
        ([12, 40.5], "item 2: 40.5"),
        ([12.0], "item 1: 12.0"),  # a JSON number with a fraction part is not how a DMS id is written
        ([-3], "item 1: -3"),
        ([True], "item 1: True"),  # JSON true, not the id 1
        ([12, None], "item 2: None"),
        ([[12]], r"item 1: \[12\]"),
        (["12 40"], "item 1: '12 40'"),  # one id per item: two in one is a mistake to show
    ],
)
def test_a_list_item_that_is_not_an_id_is_refused_naming_it(items: list, named: str) -> None:
    with pytest.raises(UserIdsRejected, match=named):
        read_user_ids(items)
