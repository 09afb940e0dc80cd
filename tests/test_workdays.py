"""Working days: weekends and the bank holidays of each UK calendar."""

from __future__ import annotations

import datetime as dt

import pytest

from correspondence_guard.workdays import Calendar

D = dt.date
FIVE_PM = dt.time(17, 0)


@pytest.fixture(scope="module")
def eng() -> Calendar:
    return Calendar("england-and-wales")


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        pytest.param(
            D(2025, 4, 17), 1, D(2025, 4, 22), id="thursday-before-easter-skips-good-friday-to-easter-monday"
        ),
        pytest.param(D(2025, 4, 17), 5, D(2025, 4, 28), id="cam-5-days-across-easter"),
        pytest.param(D(2025, 4, 17), 10, D(2025, 5, 6), id="col-10-days-across-easter-and-may-day"),
        pytest.param(D(2025, 8, 21), 2, D(2025, 8, 26), id="across-weekend-and-august-bank-holiday"),
        pytest.param(D(2025, 12, 23), 2, D(2025, 12, 29), id="christmas-and-boxing-day"),
        pytest.param(D(2025, 6, 2), 4, D(2025, 6, 6), id="ordinary-week"),
        pytest.param(D(2025, 6, 6), 0, D(2025, 6, 6), id="zero-days"),
    ],
)
def test_add(eng: Calendar, start: dt.date, n: int, expected: dt.date) -> None:
    assert eng.add(start, n) == expected


def test_working_day(eng: Calendar) -> None:
    assert eng.is_working_day(D(2025, 4, 17))
    assert not eng.is_working_day(D(2025, 4, 18)) and eng.holiday(D(2025, 4, 18)) == "Good Friday"
    assert not eng.is_working_day(D(2025, 4, 19))  # Saturday
    assert not eng.is_working_day(D(2022, 9, 19))  # a one-off bank holiday (a state funeral)


def test_between_counts_working_days_after_start(eng: Calendar) -> None:
    assert eng.between(D(2025, 4, 17), D(2025, 4, 22)) == 1
    assert eng.between(D(2025, 5, 2), D(2025, 5, 4)) == 0  # a weekend only
    assert eng.between(D(2025, 5, 2), D(2025, 5, 6)) == 1  # and May Day
    assert eng.between(D(2025, 5, 6), D(2025, 5, 2)) == 0


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        pytest.param(dt.datetime(2025, 4, 17, 10, 0), D(2025, 4, 17), id="working-day-before-close"),
        pytest.param(
            dt.datetime(2025, 4, 17, 17, 0), D(2025, 4, 22), id="at-close-counts-from-next-working-day"
        ),
        pytest.param(dt.datetime(2025, 4, 19, 11, 0), D(2025, 4, 22), id="saturday-of-easter-weekend"),
        pytest.param(dt.datetime(2025, 4, 21, 9, 0), D(2025, 4, 22), id="bank-holiday"),
        pytest.param(
            dt.datetime(2025, 8, 22, 23, 0), D(2025, 8, 26), id="friday-night-before-august-bank-holiday"
        ),
    ],
)
def test_day_of_receipt(eng: Calendar, received: dt.datetime, expected: dt.date) -> None:
    assert eng.day_of_receipt(received, FIVE_PM) == expected


def test_regions_differ() -> None:
    sct, nir, eng = Calendar("scotland"), Calendar("northern-ireland"), Calendar("england-and-wales")
    assert not sct.is_working_day(D(2025, 1, 2)) and eng.is_working_day(D(2025, 1, 2))
    assert not sct.is_working_day(D(2025, 8, 4)) and eng.is_working_day(D(2025, 8, 4))
    assert sct.is_working_day(D(2025, 8, 25)) and not eng.is_working_day(D(2025, 8, 25))
    assert sct.is_working_day(D(2025, 4, 21))  # no Easter Monday holiday in Scotland
    assert not nir.is_working_day(D(2025, 3, 17)) and eng.is_working_day(D(2025, 3, 17))  # St Patrick's Day
    assert not nir.is_working_day(D(2025, 7, 14))  # Battle of the Boyne (12th a Saturday)


def test_extra_closures_and_bad_region() -> None:
    cal = Calendar("england-and-wales", extra_closures=[D(2025, 12, 29)])
    assert cal.add(D(2025, 12, 24), 1) == D(2025, 12, 30)
    with pytest.raises(ValueError, match="unknown bank holiday calendar"):
        Calendar("wales")
    with pytest.raises(ValueError):
        cal.add(D(2025, 1, 6), -1)
