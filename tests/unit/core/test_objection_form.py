"""The objection form's user ids: one per line, as staff paste them; a bad line is refused by name."""

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


def test_a_bad_list_item_is_named_as_an_item() -> None:
    with pytest.raises(UserIdsRejected, match="item 2: 'x'"):
        read_user_ids([1, "x"])
