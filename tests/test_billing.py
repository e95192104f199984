"""Billing rules, by tables: every case written out by hand with its expected amounts."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from helpdesk.billing import (
    BillingError,
    Family,
    Line,
    LineKind,
    Rates,
    TravelPolicy,
    compute_bill,
    money,
    response_met,
    round_labour,
    sum_totals,
)

K = LineKind
VAT = D("20")
HOURLY = Rates(hourly_rate=D("60.00"), day_rate=D("300.00"), travel_policy=TravelPolicy.PER_KM,
               km_rate=D("0.50"), travel_flat=D("25.00"), rounding_minutes=15, minimum_minutes=30)
FLAT = Rates(hourly_rate=D("60.00"), travel_policy=TravelPolicy.FLAT, travel_flat=D("25.00"),
             rounding_minutes=15, minimum_minutes=30)
INCLUDED = Rates(hourly_rate=D("60.00"), travel_policy=TravelPolicy.INCLUDED, km_rate=D("0.50"),
                 rounding_minutes=15, minimum_minutes=30)
NO_MIN = Rates(hourly_rate=D("50.00"), rounding_minutes=30, minimum_minutes=0)
ODD = Rates(hourly_rate=D("55.55"), rounding_minutes=1, minimum_minutes=0)
ALL = (Family.LABOUR, Family.TRAVEL, Family.PARTS)


def work(minutes, **kw):
    return Line(K.WORK, minutes=minutes, **kw)


# (id, lines, rates, options, expected total_ht, expected charged minutes, expected consumed minutes)
CASES = [
    ("nothing", [], HOURLY, {}, "0.00", 0, 0),
    ("exact quarter", [work(60)], HOURLY, {}, "60.00", 60, 0),
    ("one minute over rounds up a quarter", [work(61)], HOURLY, {}, "75.00", 75, 0),
    ("fourteen minutes over still one quarter", [work(74)], HOURLY, {}, "75.00", 75, 0),
    ("minimum charge applies to short jobs", [work(5)], HOURLY, {}, "30.00", 30, 0),
    ("minimum exactly met", [work(30)], HOURLY, {}, "30.00", 30, 0),
    ("just above minimum rounds to unit", [work(31)], HOURLY, {}, "45.00", 45, 0),
    ("labour kinds are summed before rounding",
     [work(10), Line(K.ON_SITE, minutes=20), Line(K.RESEARCH, minutes=16)], HOURLY, {}, "60.00", 60, 0),
    ("non billable line is not charged", [work(60), work(60, billable=False)], HOURLY, {}, "60.00", 60, 0),
    ("half hour unit", [work(31)], NO_MIN, {}, "50.00", 60, 0),
    ("one minute unit, odd rate rounds half up to the cent", [work(7)], ODD, {}, "6.48", 7, 0),
    ("contract covers all", [work(90)], HOURLY, {"included_minutes_left": 600}, "0.00", 0, 90),
    ("contract runs out mid intervention", [work(90)], HOURLY, {"included_minutes_left": 30}, "60.00", 60, 30),
    ("contract already used up", [work(90)], HOURLY, {"included_minutes_left": 0}, "90.00", 90, 0),
    ("contract consumes rounded time", [work(61)], HOURLY, {"included_minutes_left": 60}, "15.00", 15, 60),
    ("contract consumes the minimum charge", [work(10)], HOURLY, {"included_minutes_left": 120}, "0.00", 0, 30),
    ("negative remaining counts as none", [work(60)], HOURLY, {"included_minutes_left": -15}, "60.00", 60, 0),
    ("warranty charges nothing", [work(120), Line(K.TRAVEL, minutes=30, km=D("40")),
                                  Line(K.PART, quantity=D("1"), unit_price=D("89.90"))],
     HOURLY, {"under_warranty": True, "included_minutes_left": 600}, "0.00", 0, 0),
    ("day rate", [Line(K.DAY, quantity=D("1"))], HOURLY, {}, "300.00", 0, 0),
    ("half day is half the day rate", [Line(K.HALF_DAY, quantity=D("1"))], HOURLY, {}, "150.00", 0, 0),
    ("days and a half", [Line(K.DAY, quantity=D("2")), Line(K.HALF_DAY, quantity=D("1"))], HOURLY, {},
     "750.00", 0, 0),
    ("days do not consume contract hours", [Line(K.DAY, quantity=D("1"))], HOURLY,
     {"included_minutes_left": 600}, "300.00", 0, 0),
    ("travel per km", [Line(K.TRAVEL, minutes=40, km=D("37"))], HOURLY, {}, "18.50", 0, 0),
    ("travel per km with decimals", [Line(K.TRAVEL, minutes=10, km=D("12.3"))], HOURLY, {}, "6.15", 0, 0),
    ("travel time is not labour", [work(60), Line(K.TRAVEL, minutes=45, km=D("10"))], HOURLY, {}, "65.00", 60, 0),
    ("travel flat per trip", [Line(K.TRAVEL, minutes=40, km=D("37")), Line(K.TRAVEL, minutes=40, km=D("37"))],
     FLAT, {}, "50.00", 0, 0),
    ("travel included", [Line(K.TRAVEL, minutes=40, km=D("37"))], INCLUDED, {}, "0.00", 0, 0),
    ("parts only", [Line(K.PART, quantity=D("2"), unit_price=D("12.49")),
                    Line(K.PART, quantity=D("1"), unit_price=D("79.00"))], HOURLY, {}, "103.98", 0, 0),
    ("fractional quantity of a part", [Line(K.PART, quantity=D("2.5"), unit_price=D("3.33"))], HOURLY, {},
     "8.33", 0, 0),
    ("labour box unticked", [work(60), Line(K.PART, quantity=D("1"), unit_price=D("10"))], HOURLY,
     {"billable": (Family.TRAVEL, Family.PARTS)}, "10.00", 0, 0),
    ("parts box unticked", [work(60), Line(K.PART, quantity=D("1"), unit_price=D("10"))], HOURLY,
     {"billable": (Family.LABOUR, Family.TRAVEL)}, "60.00", 60, 0),
    ("travel box unticked", [Line(K.TRAVEL, minutes=30, km=D("20"))], HOURLY,
     {"billable": (Family.LABOUR, Family.PARTS)}, "0.00", 0, 0),
    ("everything together", [work(50), Line(K.ON_SITE, minutes=25), Line(K.TRAVEL, minutes=30, km=D("18")),
                             Line(K.PART, quantity=D("1"), unit_price=D("45.00"))], HOURLY,
     {"included_minutes_left": 45}, "84.00", 30, 45),
    ("non billable part", [Line(K.PART, quantity=D("1"), unit_price=D("45.00"), billable=False)], HOURLY, {},
     "0.00", 0, 0),
    ("estimate allowed in preview counts zero", [Line(K.WORK, minutes=None), work(15)], HOURLY,
     {"allow_estimates": True}, "30.00", 30, 0),
]


@pytest.mark.parametrize("name, lines, rates, options, total_ht, charged, consumed", CASES,
                         ids=[c[0] for c in CASES])
def test_bill_table(name, lines, rates, options, total_ht, charged, consumed):
    bill = compute_bill(lines, rates, vat_rate=VAT, **options)
    assert bill.total_ht == D(total_ht)
    assert bill.charged_minutes == charged
    assert bill.contract_minutes_consumed == consumed
    assert bill.total_ht == sum((c.amount for c in bill.charges), D(0))
    assert bill.total_ttc == bill.total_ht + bill.vat


@pytest.mark.parametrize("total_ht, rate, vat", [
    ("100.00", "20", "20.00"),
    ("0.03", "20", "0.01"),  # 0.006 -> 0.01 half up
    ("0.02", "20", "0.00"),  # 0.004 -> 0.00
    ("0.025", "20", "0.01"),  # 0.005 -> 0.01: exactly half rounds up
    ("99.99", "5.5", "5.50"),  # 5.49945 -> 5.50
    ("123.45", "0", "0.00"),
    ("58.33", "10", "5.83"),
])
def test_vat_rounding(total_ht, rate, vat):
    bill = compute_bill([Line(K.PART, quantity=D(1), unit_price=D(total_ht))], HOURLY, vat_rate=D(rate))
    assert bill.vat == D(vat)
    assert bill.total_ttc == money(D(total_ht)) + D(vat)


@pytest.mark.parametrize("minutes, unit, minimum, expected", [
    (0, 15, 30, 0), (1, 15, 0, 15), (15, 15, 0, 15), (16, 15, 0, 30), (59, 60, 0, 60), (61, 60, 0, 120),
    (10, 15, 60, 60), (75, 15, 60, 75), (1, 1, 0, 1),
])
def test_round_labour(minutes, unit, minimum, expected):
    assert round_labour(minutes, unit, minimum) == expected


def test_contract_split_lines_show_both_parts():
    bill = compute_bill([work(90)], HOURLY, vat_rate=VAT, included_minutes_left=30)
    labels = [(c.label, c.quantity, c.amount) for c in bill.charges]
    assert labels == [("contract", D("0.5"), D("0")), ("labour", D("1"), D("60.00"))]
    assert bill.vat == D("12.00") and bill.total_ttc == D("72.00")


@pytest.mark.parametrize("line", [
    work(-1), Line(K.TRAVEL, minutes=10, km=D("-3")), Line(K.PART, quantity=D("-1"), unit_price=D("5")),
    Line(K.PART, quantity=D("1"), unit_price=D("-5")),
])
def test_negative_inputs_are_refused(line):
    with pytest.raises(BillingError):
        compute_bill([line], HOURLY, vat_rate=VAT)


def test_to_be_estimated_cannot_be_billed():
    with pytest.raises(BillingError, match="to be estimated"):
        compute_bill([Line(K.WORK, minutes=None, label="Réinstallation")], HOURLY, vat_rate=VAT)


@pytest.mark.parametrize("fields", [
    {"hourly_rate": D("-1")}, {"hourly_rate": 60}, {"hourly_rate": D("60"), "rounding_minutes": 0},
    {"hourly_rate": D("60"), "minimum_minutes": -5}, {"hourly_rate": D("60"), "km_rate": D("-0.1")},
])
def test_bad_rates_are_refused(fields):
    with pytest.raises(BillingError):
        Rates(**fields)


def test_negative_vat_is_refused():
    with pytest.raises(BillingError):
        compute_bill([work(60)], HOURLY, vat_rate=D("-1"))


def test_statement_totals_are_sums_of_report_totals():
    bills = [compute_bill([Line(K.PART, quantity=D(1), unit_price=D(p))], HOURLY, vat_rate=VAT)
             for p in ("0.03", "0.03", "0.03")]
    totals = sum_totals(bills)
    # VAT per report (0.01 each), not recomputed on the sum (0.09 -> 0.02).
    assert (totals.total_ht, totals.vat, totals.total_ttc) == (D("0.09"), D("0.03"), D("0.12"))


T0 = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("responded, promised, expected", [
    (T0 + timedelta(hours=3), 4, True),
    (T0 + timedelta(hours=4), 4, True),
    (T0 + timedelta(hours=4, seconds=1), 4, False),
    (T0 + timedelta(days=2), 24, False),
    (T0 + timedelta(hours=1), None, None),
    (None, 4, None),
])
def test_response_time(responded, promised, expected):
    assert response_met(T0, responded, promised) is expected
