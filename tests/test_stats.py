"""helpdesk.stats on a fixed history: every expected figure is worked out by hand from tests/stats_dataset.py.

Period: 1 January to 30 April 2026 in Europe/Paris, so four monthly buckets. In UTC, February
starts on 31 January at 23:00 and April on 31 March at 22:00 (summer time since 29 March).
"""
from datetime import date

import pytest

from helpdesk.business_hours import BusinessHours
from helpdesk.stats import Period, PeriodError, compute_indicators, default_period
from tests.stats_dataset import Dataset, utc

H = 3600
PARIS = "Europe/Paris"


@pytest.fixture
def data(app, monkeypatch):
    return Dataset(monkeypatch)


@pytest.fixture
def period():
    return Period(date(2026, 1, 1), date(2026, 4, 30), PARIS)


def test_period_bounds_follow_the_time_zone(period):
    assert period.start_utc == utc(2025, 12, 31, 23)
    assert period.end_utc == utc(2026, 4, 30, 22)  # 1 May 00:00 summer time
    assert [period.bucket_label(d) for d in period.bucket_starts()] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    short = Period(date(2026, 3, 28), date(2026, 3, 30), PARIS)
    assert short.daily and [short.local_midnight(d) for d in short.bucket_starts()] == [
        utc(2026, 3, 27, 23), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)]


def test_bad_periods_are_refused():
    with pytest.raises(PeriodError, match="before it starts"):
        Period(date(2026, 2, 1), date(2026, 1, 1), PARIS)
    with pytest.raises(PeriodError, match="too long"):
        Period(date(2000, 1, 1), date(2026, 1, 1), PARIS)


def test_default_period_is_the_last_twelve_months():
    assert default_period(PARIS, today=date(2026, 3, 15)) == Period(date(2025, 4, 1), date(2026, 3, 15), PARIS)
    assert default_period(PARIS, today=date(2026, 12, 31)) == Period(date(2026, 1, 1), date(2026, 12, 31), PARIS)


def test_overview(data, period):
    o = compute_indicators(period).overview
    # Opened in the period: T1 (Jan), T2, T3, T4 (Feb), T5 (Apr). T6, T7 before it.
    assert o.opened == 5
    # Closed in the period and still closed: T7 (5 Jan), T1 (12 Jan), T2 (2 Feb), T4 (1 Mar). T3 no action.
    assert (o.closed, o.no_action, o.ended) == (4, 1, 5)
    # T4 was reopened once before its last closing: 1 of 5 ended tickets.
    assert o.reopened_ended == 1 and o.reopen_rate == pytest.approx(0.2)
    assert o.reopen_events == 1
    # Time to take, for tickets taken in the period: T1 1h30, T2 1h, T4 1h, T5 8h (T7 was taken in December).
    assert o.take.count == 4
    assert o.take.mean == pytest.approx((5400 + 3600 + 3600 + 28800) / 4)
    assert o.take.median == 4500 and o.take.p90 == 8 * H
    # Time to resolve, creation to last closing: T7 8 days, T1 48 h, T2 48 h, T4 14 days (reopened included).
    assert o.resolve.count == 4
    assert o.resolve.mean == pytest.approx((192 + 48 + 48 + 336) * H / 4)  # 156 h
    assert o.resolve.median == (48 + 192) * H / 2 and o.resolve.p90 == 336 * H
    # First-time fixes only (T4 apart): 8 days, 48 h, 48 h.
    assert o.resolve_first_time.count == 3 and o.resolve_first_time.median == 48 * H
    # Backlog: T6 and T7 open on 1 January; T6 and T5 open on 30 April.
    assert (o.backlog_start, o.backlog_end) == (2, 2)


def test_monthly_buckets_cut_in_local_time(data, period):
    rows = {b.label: b for b in compute_indicators(period).buckets}
    assert [rows[m].opened for m in rows] == [1, 3, 0, 1]
    assert [rows[m].closed for m in rows] == [2, 1, 1, 0]
    assert [rows[m].no_action for m in rows] == [0, 1, 0, 0]
    assert [rows[m].reopened for m in rows] == [0, 1, 0, 0]
    # End of January: T6 (T7 and T1 closed). End of February: T6, T4 (reopened). March: T6. April: T6, T5.
    assert [rows[m].backlog for m in rows] == [1, 2, 1, 2]
    assert rows["2026-01"].take.median == 1.5 * H
    assert rows["2026-02"].take.count == 2 and rows["2026-02"].take.mean == H  # T2 taken 01:30 on 1 Feb, Paris
    assert rows["2026-04"].take.median == 8 * H  # T5 taken at 08:30 on 1 April, Paris
    assert rows["2026-01"].resolve.median == (192 + 48) * H / 2
    assert rows["2026-03"].resolve.median == 336 * H


def test_breakdowns_of_opened_tickets(data, period):
    b = compute_indicators(period).breakdowns
    assert b["category"] == [(data.cat_a.id, "Matériel", 3), (data.cat_b.id, "Réseau", 2)]
    assert b["asset"] == [(data.x.id, "2024-09-02", 3), (None, "", 2)]
    assert b["location"] == [(None, "", 3), (data.l1.id, "Salle 101", 2)]
    assert b["organisation"] == [(data.o1.id, "École A", 3), (data.o2.id, "Société B", 2)]
    assert b["requester"] == [(data.r1.id, "Claire Martin", 3), (data.r2.id, "Paul Bernard", 2)]
    # The referent is the assignee: the one who took it; T3 ended "no action" without one.
    assert b["referent"] == [(data.f1.id, "Romain", 3), (data.f2.id, "Rachel", 1), (None, "", 1)]


def test_organisation_filter(data, period):
    ind = compute_indicators(period, organisation_id=data.o2.id)
    o = ind.overview
    assert (o.opened, o.closed, o.no_action, o.take.count, o.take.median) == (2, 0, 1, 1, 8 * H)
    assert (o.backlog_start, o.backlog_end) == (0, 1)  # T5 only
    assert [b.backlog for b in ind.buckets] == [0, 0, 0, 1]


def test_organisation_filter_keeps_a_reopened_ticket_s_gap(data, period):
    ind = compute_indicators(period, organisation_id=data.o1.id)
    o = ind.overview
    # École A: T6 and T7 open on 1 January; T4 was closed from 16 to 20 February, then closed on 1 March.
    assert (o.backlog_start, o.backlog_end) == (2, 1)
    # End of January: T6 (T2 opens at 00:30 on 1 February, Paris). February: T6, T4. March, April: T6.
    assert [b.backlog for b in ind.buckets] == [1, 2, 1, 1]
    assert [b.reopened for b in ind.buckets] == [0, 1, 0, 0]
    # Ended in the period: T7, T1, T2, T4, of which T4 had been reopened.
    assert (o.closed, o.no_action, o.reopened_ended, o.reopen_events) == (4, 0, 1, 1)


def test_an_other_time_zone_moves_tickets_between_months(data, period):
    utc_period = Period(date(2026, 1, 1), date(2026, 4, 30), "UTC")
    rows = [b.opened for b in compute_indicators(utc_period).buckets]
    assert rows == [2, 2, 1, 0]  # T2 stays in January and T5 in March when months are cut in UTC


def test_daily_buckets_for_short_periods(data):
    ind = compute_indicators(Period(date(2026, 2, 14), date(2026, 2, 21), PARIS))
    days = {b.label: b for b in ind.buckets}
    assert len(days) == 8 and days["2026-02-15"].opened == 1 and days["2026-02-16"].closed == 0
    # T4 closed on the 16th then reopened on the 20th: it is not closed any more, only the backlog moved.
    assert [days[d].backlog for d in sorted(days)] == [1, 2, 1, 1, 1, 1, 2, 2]
    assert days["2026-02-20"].reopened == 1


def test_empty_database_gives_zeros(app, period):
    ind = compute_indicators(period)
    assert ind.overview.opened == 0 and ind.overview.take.count == 0 and ind.overview.take.median is None
    assert ind.overview.reopen_rate is None and [b.backlog for b in ind.buckets] == [0, 0, 0, 0]


# Business hours: Monday to Friday, 08:00-18:00 Paris, 1 January a holiday. Weekdays: 1 January 2026
# is a Thursday, so 10 January is a Saturday, 1 and 15 February and 1 March are Sundays, 1 April a Wednesday.
OFFICE = BusinessHours.parse(PARIS, [1, 2, 3, 4, 5], "08:00", "18:00", ["2026-01-01"])


def test_durations_in_business_hours(data, period):
    ind = compute_indicators(period, business_hours=OFFICE)
    o = ind.overview
    # Counts do not depend on it.
    assert (o.opened, o.closed, o.no_action, o.backlog_start, o.backlog_end) == (5, 4, 1, 2, 2)
    # Taken (Paris times): T1 Sat 10:00 -> Sat 11:30: 0. T2 Sun 00:30 -> 01:30: 0. T4 Sun 09:00 -> 10:00: 0.
    # T5 Wed 1 April 00:30 -> 08:30 (06:30 UTC, summer time): 08:00 -> 08:30, 30 min.
    assert o.take.count == 4 and o.take.mean == 1800 / 4 and o.take.median == 0 and o.take.p90 == 1800
    # Resolved: T7 Sun 28 Dec 11:00 -> Mon 5 Jan 11:00: 29, 30, 31 Dec and Fri 2 Jan (1 Jan off) 4 x 10 h,
    # plus Mon 08:00 -> 11:00: 43 h. T1 Sat 10:00 -> Mon 12 Jan 10:00: 2 h. T2 Sun 1 Feb 00:30 ->
    # Tue 3 Feb 00:30: Monday, 10 h. T4 Sun 15 Feb 09:00 -> Sun 1 Mar 09:00: two weeks of 50 h, 100 h.
    assert o.resolve.count == 4 and o.resolve.mean == (43 + 2 + 10 + 100) * H / 4  # 38.75 h
    assert o.resolve.median == (10 + 43) * H / 2 and o.resolve.p90 == 100 * H
    assert o.resolve_first_time.count == 3 and o.resolve_first_time.median == 10 * H  # 43, 2, 10 h
    rows = {b.label: b for b in ind.buckets}
    assert rows["2026-01"].resolve.median == (2 + 43) * H / 2 and rows["2026-02"].resolve.mean == 10 * H
    assert rows["2026-03"].resolve.mean == 100 * H and rows["2026-04"].take.median == 1800
    assert ind.business_hours == OFFICE and compute_indicators(period).business_hours is None
