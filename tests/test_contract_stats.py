"""Response times promised by contracts and included hours used, on the fixed history of tests/stats_dataset.py."""
from datetime import date

import pytest

from helpdesk.contract_stats import contract_hours, response_compliance
from helpdesk.extensions import db
from helpdesk.models import Contract, ContractConsumption, IncludedPeriod, Intervention, Status
from helpdesk.stats import Period, compute_indicators
from tests.stats_dataset import Dataset, opened_at, utc, walk

PERIOD = Period(date(2026, 1, 1), date(2026, 4, 30), "Europe/Paris")


@pytest.fixture
def data(app, monkeypatch):
    d = Dataset(monkeypatch)
    # École A: 4 h promised until 31 March, then 2 h. Société B: 8 h from 1 March (T3, in February, is not covered).
    d.c4 = Contract(organisation=d.o1, reference="MAINT-A", starts_on=date(2026, 1, 1), ends_on=date(2026, 3, 31),
                    response_hours=4, included_minutes=120)
    d.c2 = Contract(organisation=d.o1, reference="MAINT-A2", starts_on=date(2026, 4, 1), response_hours=2)
    d.c8 = Contract(organisation=d.o2, reference="ASSIST-B", starts_on=date(2026, 3, 1), response_hours=8,
                    included_minutes=600, included_period=IncludedPeriod.YEAR)
    db.session.add_all([d.c4, d.c2, d.c8])
    # T8: taken after 5 h, late. T9: opened on 30 April at 10:00 UTC, not taken (under the 2 h contract).
    d.t8 = walk(monkeypatch, opened_at(d.r1, utc(2026, 3, 10, 8), "T8", organisation_id=d.o1.id), d.f1,
                (Status.TAKEN, utc(2026, 3, 10, 13)))
    d.t9 = opened_at(d.r1, utc(2026, 4, 30, 10), "T9", organisation_id=d.o1.id)
    db.session.commit()
    return d


def test_response_times_per_contract(data):
    rows = response_compliance(PERIOD, now=utc(2026, 4, 30, 11), organisation_id=None)
    got = [(r.organisation, r.promised_hours, r.tickets, r.met, r.missed, r.pending) for r in rows]
    # 4 h: T1 (1 h 30), T2 (1 h), T4 (1 h) in time, T8 (5 h) late. 2 h: T9 waiting for 1 h.
    # 8 h: T5 opened 22:30 UTC on 31 March (1 April in Paris), taken exactly 8 h later: in time.
    assert got == [("École A", 2, 1, 0, 0, 1), ("École A", 4, 4, 3, 1, 0), ("Société B", 8, 1, 1, 0, 0)]
    assert rows[1].rate == pytest.approx(0.75) and rows[0].rate is None


def test_a_ticket_not_taken_after_the_promise_is_missed(data):
    rows = response_compliance(PERIOD, now=utc(2026, 4, 30, 12, 0, 1), organisation_id=data.o1.id)
    assert [(r.promised_hours, r.met, r.missed, r.pending) for r in rows] == [(2, 0, 1, 0), (4, 3, 1, 0)]


def test_contract_hours_used_against_included(data):
    for n, (contract, start, minutes) in enumerate([(data.c4, date(2026, 1, 1), 90), (data.c4, date(2026, 1, 1), 45),
                                                     (data.c4, date(2026, 3, 1), 30), (data.c8, date(2026, 3, 1), 240)]):
        report = Intervention(number=f"2026-{n:04d}", organisation_id=contract.organisation_id, contract=contract)
        db.session.add(report)
        db.session.flush()
        # Written here directly: signing a report (helpdesk.interventions) is what writes these rows.
        db.session.add(ContractConsumption(contract_id=contract.id, intervention_id=report.id, period_start=start,
                                           minutes=minutes))
    db.session.commit()
    rows = [(r.organisation, r.contract, r.period_start, r.included_minutes, r.used_minutes)
            for r in contract_hours(PERIOD)]
    # MAINT-A: 2 h a month from January to March (its end); ASSIST-B: 10 h a year from its start on 1 March.
    assert rows == [
        ("École A", "MAINT-A", date(2026, 1, 1), 120, 135), ("École A", "MAINT-A", date(2026, 2, 1), 120, 0),
        ("École A", "MAINT-A", date(2026, 3, 1), 120, 30), ("Société B", "ASSIST-B", date(2026, 3, 1), 600, 240),
    ]
    assert contract_hours(PERIOD)[0].share == pytest.approx(135 / 120)
    assert [r.contract for r in contract_hours(PERIOD, organisation_id=data.o2.id)] == ["ASSIST-B"]


def test_no_contract_no_rows(app):
    assert response_compliance(PERIOD, now=utc(2026, 5, 1)) == [] and contract_hours(PERIOD) == []


def test_the_stats_scan_feeds_the_same_figures(data):
    # A ticket of no client at all: the scan has it (organisation 0), no contract counts it.
    opened_at(data.r1, utc(2026, 3, 11, 8), "T10", organisation_id=None)
    db.session.commit()
    now = utc(2026, 4, 30, 11)
    opened = compute_indicators(PERIOD).opened_tickets
    assert len(opened[0]) == 8 and 0 in opened[0]  # T1, T2, T3, T4, T5, T8, T9, T10
    got = [(r.organisation, r.promised_hours, r.tickets, r.met, r.missed, r.pending)
           for r in response_compliance(PERIOD, now=now, opened=opened)]
    # As test_response_times_per_contract: T3 (Société B, February) is before its contract, T10 has none.
    assert got == [("École A", 2, 1, 0, 0, 1), ("École A", 4, 4, 3, 1, 0), ("Société B", 8, 1, 1, 0, 0)]
    for org, expected in ((data.o1.id, [(2, 0, 0, 1), (4, 3, 1, 0)]), (data.o2.id, [(8, 1, 0, 0)])):
        opened = compute_indicators(PERIOD, organisation_id=org).opened_tickets
        rows = response_compliance(PERIOD, now=now, organisation_id=org, opened=opened)
        assert [(r.promised_hours, r.met, r.missed, r.pending) for r in rows] == expected
