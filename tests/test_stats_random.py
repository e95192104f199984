"""helpdesk.stats against a plain-Python recount, on random tickets.

The fixed history of tests/test_stats.py checks each rule by hand; here 600 random tickets (open,
taken, closed, reopened, no action, some created or ended outside the period, many with equal
durations, events on the very instant a bucket starts) are counted again ticket by ticket with bisect and the statistics module, and every
per-bucket and whole-period figure of the array scan must match, on a monthly and a daily period.
"""
import math
import random
import statistics
from bisect import bisect_right
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from helpdesk.business_hours import BusinessHours, WorkingClock
from helpdesk.extensions import db
from helpdesk.models import Status, Ticket
from helpdesk.models.tickets import epoch_columns
from helpdesk.stats import Period, compute_indicators
from tests.factories import make_organisation, make_user

S = Status
START = datetime(2026, 1, 20, tzinfo=timezone.utc)  # a few days before the periods, for tickets begun outside


MONTHLY = Period(date(2026, 2, 1), date(2026, 4, 30), "Europe/Paris")
DAILY = Period(date(2026, 3, 10), date(2026, 4, 9), "Europe/Paris")
# Bucket starts and period ends, where an event belongs to the bucket it opens.
EDGES = sorted({datetime.fromtimestamp(epoch, timezone.utc) for period in (MONTHLY, DAILY)
                for epoch in period.bucket_bounds() + [int(period.end_utc.timestamp())]})


def random_tickets(rng: random.Random, requester_id: int, organisation_ids: list[int]) -> list[dict]:
    rows = []
    for number in range(600):
        created = START + timedelta(minutes=rng.randrange(0, 110 * 24 * 60))
        if rng.random() < 0.1:
            created = rng.choice(EDGES)
        # Few distinct delays, so that buckets hold equal durations and even counts.
        taken = created + timedelta(minutes=rng.choice((0, 5, 30, 30, 90, 600, 3000, 20000)))
        ended = taken + timedelta(minutes=rng.choice((1, 60, 60, 1440, 10000, 40000)))
        if rng.random() < 0.1:
            taken = max(created, rng.choice(EDGES))
        if rng.random() < 0.1:
            ended = max(taken, rng.choice(EDGES))
        status = rng.choice((S.NEW, S.TAKEN, S.IN_PROGRESS, S.CLOSED, S.CLOSED, S.CLOSED, S.NO_ACTION))
        reopens = rng.choice((0, 0, 0, 1, 2))
        taken_at = None if status in (S.NEW, S.NO_ACTION) and rng.random() < 0.7 else taken
        closed_at = ended if status in (S.CLOSED, S.NO_ACTION) else None
        if status == S.NEW:
            reopens, taken_at = 0, None
        rows.append({
            "subject": f"Panne {number}", "requester_id": requester_id, "status": status, "priority": "normal",
            "source": "mail", "organisation_id": rng.choice(organisation_ids + [None]), "reopen_count": reopens,
            "created_at": created, "updated_at": closed_at or taken_at or created, "taken_at": taken_at,
            "closed_at": closed_at, "resolved_at": closed_at if status == S.CLOSED else None,
        })
        rows[-1].update(epoch_columns(rows[-1]))
    return rows


def summary(values: list[int]):
    """(count, mean, median, nearest-rank 90th percentile), as the page defines them."""
    if not values:
        return 0, None, None, None
    ordered = sorted(values)
    return len(values), statistics.fmean(values), statistics.median(values), ordered[math.ceil(0.9 * len(values)) - 1]


def of(durations) -> tuple:
    return durations.count, durations.mean, durations.median, durations.p90


def recount(rows: list[dict], period: Period, seconds=lambda start, end: end - start) -> dict:
    """Every figure the scan gives, counted one ticket at a time."""
    bounds = period.bucket_bounds()
    end = int(period.end_utc.timestamp())
    n = len(bounds)

    def slot(epoch):  # 1..n inside the period, None outside
        return bisect_right(bounds, epoch) if epoch is not None and bounds[0] <= epoch < end else None

    got = {key: [[] for _ in range(n + 1)] for key in ("take", "resolve", "first_time")}
    counts = {key: [0] * (n + 1) for key in ("opened", "closed", "no_action")}
    reopened_ended, opened_tickets = 0, []
    for row in rows:
        created, taken, closed = row["created_epoch"], row["taken_epoch"], row["closed_epoch"]
        if (index := slot(created)) is not None:
            counts["opened"][index] += 1
            opened_tickets.append((row["organisation_id"] or 0, created, taken or 0))
        if (index := slot(taken)) is not None:
            got["take"][index].append(seconds(created, taken))
        if (index := slot(closed)) is not None and row["status"] in (S.CLOSED, S.NO_ACTION):
            counts["closed" if row["status"] == S.CLOSED else "no_action"][index] += 1
            reopened_ended += row["reopen_count"] > 0
            if row["status"] == S.CLOSED:
                got["resolve"][index].append(seconds(created, closed))
                if row["reopen_count"] == 0:
                    got["first_time"][index].append(seconds(created, closed))
    return {
        "buckets": [(counts["opened"][i], counts["closed"][i], counts["no_action"][i], summary(got["take"][i]),
                     summary(got["resolve"][i])) for i in range(1, n + 1)],
        "whole": tuple(summary([v for bucket in got[key] for v in bucket]) for key in got),
        "reopened_ended": reopened_ended, "opened_tickets": sorted(opened_tickets),
    }


@pytest.fixture
def rows(app):
    requester = make_user()
    organisations = [make_organisation(f"Client {i}").id for i in range(3)]
    db.session.flush()
    rows = random_tickets(random.Random(2026), requester.id, organisations)
    db.session.execute(insert(Ticket.__table__), rows)
    db.session.commit()
    return rows


@pytest.mark.parametrize("period", [MONTHLY, DAILY], ids=["monthly", "daily"])
@pytest.mark.parametrize("business_hours", [None, BusinessHours.parse("Europe/Paris", [1, 2, 3, 4, 5], "08:00",
                                                                      "18:00", ["2026-04-06"])],
                         ids=["clock", "business"])
def test_the_array_scan_matches_a_ticket_by_ticket_recount(rows, period, business_hours):
    seconds = WorkingClock(business_hours).seconds if business_hours else (lambda start, end: end - start)
    expected = recount(rows, period, seconds)
    ind = compute_indicators(period, business_hours=business_hours)
    assert [(b.opened, b.closed, b.no_action, of(b.take), of(b.resolve)) for b in ind.buckets] == expected["buckets"]
    o = ind.overview
    assert (of(o.take), of(o.resolve), of(o.resolve_first_time)) == expected["whole"]
    assert o.reopened_ended == expected["reopened_ended"] and o.opened == sum(b[0] for b in expected["buckets"])
    assert sorted(zip(*(column.tolist() for column in ind.opened_tickets))) == expected["opened_tickets"]
    assert sum(b[1] > 0 for b in expected["buckets"]) > 1 and expected["whole"][0][0] > 50  # the data is not empty
