"""Working days: Monday to Friday, less the bank holidays of a UK calendar.

Bank holidays come from the ``holidays`` package (the UK calendar with subdivision ENG for
England and Wales, SCT for Scotland, NIR for Northern Ireland), one-off days such as a state
funeral included. A council's own closure days (between Christmas and New Year, say) can be
added with ``extra_closures``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

REGIONS = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}


class Calendar:
    """Working-day arithmetic for one region.

    >>> cal = Calendar("england-and-wales")
    >>> cal.add(dt.date(2025, 4, 17), 1)  # the Thursday before Good Friday and Easter Monday
    datetime.date(2025, 4, 22)
    """

    def __init__(self, region: str = "england-and-wales", extra_closures: Iterable[dt.date] = ()) -> None:
        import holidays

        if region not in REGIONS:
            raise ValueError(f"unknown bank holiday calendar {region!r} (known: {', '.join(REGIONS)})")
        self.region = region
        # holidays.UK with the subdivision; years are filled in as they are asked for
        self._holidays = holidays.country_holidays("GB", subdiv=REGIONS[region])
        self._closures = frozenset(extra_closures)

    def holiday(self, day: dt.date) -> str | None:
        """The name of the bank holiday or closure on ``day``, if any."""
        if day in self._closures:
            return "council closure day"
        name = self._holidays.get(day)
        return str(name) if name else None

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and self.holiday(day) is None

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day after ``day``."""
        day += dt.timedelta(days=1)
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def add(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``day`` (``day`` itself when ``n`` is 0)."""
        if n < 0:
            raise ValueError("n must not be negative")
        for _ in range(n):
            day = self.next_working_day(day)
        return day

    def between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when ``end`` is not later)."""
        count = 0
        day = start + dt.timedelta(days=1)
        while day <= end:
            count += self.is_working_day(day)
            day += dt.timedelta(days=1)
        return count

    def day_of_receipt(self, received: dt.datetime, day_ends: dt.time) -> dt.date:
        """The working day a message counts as received on (``received`` in local time).

        A message that arrives on a working day before ``day_ends`` is received that day;
        one that arrives later, or on a weekend or bank holiday, on the next working day.
        """
        day = received.date()
        if self.is_working_day(day) and received.time() < day_ends:
            return day
        return self.next_working_day(day)
