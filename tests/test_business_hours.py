"""helpdesk.business_hours: working seconds between two instants, every case worked out by hand.

Europe/Paris is UTC+1 in winter and UTC+2 from the last Sunday of March (29 March 2026, 02:00 ->
03:00) to the last Sunday of October (25 October 2026, 03:00 -> 02:00). 1 January 2026 is a Thursday.
"""
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from helpdesk.business_hours import BusinessHours, WorkingClock, hours_from_settings, working_seconds

H = 3600
PARIS = ZoneInfo("Europe/Paris")
OFFICE = BusinessHours.parse("Europe/Paris", [1, 2, 3, 4, 5], "08:00", "18:00", [])


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def office(start, end, hours=OFFICE):
    return working_seconds(hours, start, end)


def test_friday_evening_to_monday_morning_is_two_hours():
    # Fri 9 Jan 17:00 -> 18:00 (1 h), weekend, Mon 12 Jan 08:00 -> 09:00 (1 h).
    assert office(paris(2026, 1, 9, 17), paris(2026, 1, 12, 9)) == 2 * H


def test_overnight():
    # Tue 13 Jan 17:00 -> 18:00, then Wed 08:00 -> 09:30: 1 h + 1 h 30.
    assert office(paris(2026, 1, 13, 17), paris(2026, 1, 14, 9, 30)) == 2.5 * H


def test_same_day_and_outside_opening_hours():
    assert office(paris(2026, 1, 13, 9, 15), paris(2026, 1, 13, 11, 45)) == 2.5 * H
    assert office(paris(2026, 1, 13, 7), paris(2026, 1, 13, 8, 30)) == 0.5 * H  # before opening counts nothing
    assert office(paris(2026, 1, 13, 18, 30), paris(2026, 1, 13, 23)) == 0  # both after closing
    assert office(paris(2026, 1, 10, 9), paris(2026, 1, 10, 17)) == 0  # a Saturday


def test_start_after_the_end_of_the_day():
    # Tue 19:00 counts from Wed 08:00: Wed 08:00 -> 10:00.
    assert office(paris(2026, 1, 13, 19), paris(2026, 1, 14, 10)) == 2 * H


def test_public_holiday():
    hours = BusinessHours.parse("Europe/Paris", [1, 2, 3, 4, 5], "08:00", "18:00", ["2026-12-25"])
    # Wed 23 Dec 17:00 -> 18:00 (1 h), Thu 24 (10 h), Fri 25 off, weekend, Mon 28 08:00 -> 09:00 (1 h).
    assert office(paris(2026, 12, 23, 17), paris(2026, 12, 28, 9), hours) == 12 * H
    assert office(paris(2026, 12, 23, 17), paris(2026, 12, 28, 9)) == 22 * H  # without it: + 10 h


def test_dst_weeks_keep_ten_hour_days():
    # Mon 23 March 08:00 CET (07:00 UTC) -> Mon 30 March 08:00 CEST (06:00 UTC): 167 h of clock,
    # five days of 10 h; likewise the week of 25 October (169 h of clock).
    assert office(paris(2026, 3, 23, 8), paris(2026, 3, 30, 8)) == 50 * H
    assert office(paris(2026, 10, 19, 8), paris(2026, 10, 26, 8)) == 50 * H
    # Friday 27 March 17:00 (16:00 UTC) -> Monday 30 March 09:00 (07:00 UTC): still 2 h.
    spring = [datetime(2026, 3, 27, 16, tzinfo=timezone.utc), datetime(2026, 3, 30, 7, tzinfo=timezone.utc)]
    assert office(*spring) == 2 * H


def test_dst_change_inside_opening_hours():
    # Open every day 01:00 -> 04:00: on Sunday 29 March the clocks jump from 02:00 to 03:00, so that
    # day has 2 h. Sat 28 00:00 -> Mon 30 00:00: 3 h + 2 h; in October the Sunday has 4 h: 3 + 4.
    night = BusinessHours.parse("Europe/Paris", [1, 2, 3, 4, 5, 6, 7], "01:00", "04:00", [])
    assert office(paris(2026, 3, 28), paris(2026, 3, 30), night) == 5 * H
    assert office(paris(2026, 10, 24), paris(2026, 10, 26), night) == 7 * H


def test_long_spans_count_whole_weeks():
    # Mon 5 Jan 2026 08:00 -> Mon 2 March 08:00: 8 weeks of 50 h.
    assert office(paris(2026, 1, 5, 8), paris(2026, 3, 2, 8)) == 400 * H
    # Mon 5 Jan 2026 -> Mon 4 Jan 2027: 52 weeks of 50 h, less three holidays on working days
    # (Fri 1 May, Tue 14 July, Fri 25 Dec); Sun 1 November is no working day anyway: 2600 - 30 h.
    hours = BusinessHours.parse("Europe/Paris", [1, 2, 3, 4, 5], "08:00", "18:00",
                                ["2026-05-01", "2026-07-14", "2026-11-01", "2026-12-25"])
    assert office(paris(2026, 1, 5, 8), paris(2027, 1, 4, 8), hours) == 2570 * H


def test_one_clock_answers_spans_in_any_order_and_year():
    clock = WorkingClock(OFFICE)
    friday, monday = int(paris(2026, 1, 9, 17).timestamp()), int(paris(2026, 1, 12, 9).timestamp())
    later = int(paris(2027, 6, 7, 9).timestamp())  # a Monday: the table grows to 2027
    earlier = int(paris(2024, 12, 31, 17).timestamp())  # a Tuesday: and back to 2024
    assert clock.seconds(friday, monday) == 2 * H
    assert clock.seconds(monday, later) == clock.seconds(monday, later - 7 * 86400) + 50 * H
    assert clock.seconds(earlier, friday) == clock.seconds(earlier, friday - 7 * 86400) + 50 * H
    assert clock.seconds(friday, monday) == 2 * H


def test_the_array_form_gives_what_each_pair_gives():
    # Spans over two years of Paris time (two DST changes a year, a holiday), ends before starts
    # and zeros (no such event) among them: seconds_of() must agree with seconds() pair by pair.
    hours = BusinessHours.parse("Europe/Paris", [1, 2, 3, 4, 5], "08:00", "18:00", ["2026-05-01"])
    rng = random.Random(7)
    first, last = int(paris(2025, 1, 1, 0).timestamp()), int(paris(2027, 1, 1, 0).timestamp())
    starts = [rng.randrange(first, last) for _ in range(2000)] + [0, 5, int(paris(2026, 5, 1, 9).timestamp())]
    ends = [start + rng.choice((-3600, 0, 1, 600, 86400, 3 * 86400, 40 * 86400, 400 * 86400))
            for start in starts[:-3]] + [0, 0, int(paris(2026, 5, 4, 9).timestamp())]
    got = WorkingClock(hours).seconds_of(np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64))
    one_by_one = WorkingClock(hours)
    assert got.tolist() == [one_by_one.seconds(start, end) for start, end in zip(starts, ends)]
    assert got[-1] == 1 * H  # Friday 1 May is a holiday: Monday 08:00-09:00 only
    assert WorkingClock(hours).seconds_of(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []


def test_an_end_before_the_start_counts_nothing():
    assert office(paris(2026, 1, 12, 9), paris(2026, 1, 9, 17)) == 0
    assert office(paris(2026, 1, 12, 9), paris(2026, 1, 12, 9)) == 0
    with pytest.raises(ValueError, match="aware"):
        working_seconds(OFFICE, datetime(2026, 1, 12, 9), paris(2026, 1, 13, 9))


def test_other_working_days():
    saturdays = BusinessHours.parse("Europe/Paris", [1, 2, 3, 4, 5, 6], "09:00", "12:00", [])
    # Fri 9 Jan 11:00 -> Mon 12 Jan 10:00: Fri 1 h, Sat 3 h, Mon 1 h.
    assert office(paris(2026, 1, 9, 11), paris(2026, 1, 12, 10), saturdays) == 5 * H
    assert office(paris(2026, 1, 9, 11), paris(2026, 1, 9, 11) + timedelta(days=7), saturdays) == 18 * H


@pytest.mark.parametrize("args, message", [
    (("Mars/Olympus", [1], "08:00", "18:00", []), "time zone"),
    (("Europe/Paris", [0, 1], "08:00", "18:00", []), "ISO weekday"),
    (("Europe/Paris", [], "08:00", "18:00", []), "ISO weekday"),
    (("Europe/Paris", [1], "8h", "18:00", []), "HH:MM"),
    (("Europe/Paris", [1], "08:00", "18:00", ["1 mai"]), "YYYY-MM-DD"),
    (("Europe/Paris", [1], "18:00", "08:00", []), "before closing"),
])
def test_bad_values_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        BusinessHours.parse(*args)


def test_from_settings_is_off_by_default():
    settings = {"stats_business_hours": False, "timezone": "Europe/Paris", "stats_working_days": [1, 2, 3, 4, 5],
                "stats_day_opens": "08:00", "stats_day_closes": "18:00", "stats_holidays": []}
    assert hours_from_settings(settings) is None
    assert hours_from_settings({**settings, "stats_business_hours": True}) == OFFICE
