"""What an intervention costs: pure Decimal arithmetic, no Flask, no database, no settings.

Callers pass plain values (rates from the contract or from settings, the lines of a report, the
contract hours still available) and get back a `Bill` that says what is charged and why. Every
rule is a named constant or a small function here, and each has a row in tests/test_billing.py.

Rules (issue 6, seeds 000/001/004):
- Labour (work, on site with the client, research) is billed by the hour. The billable minutes of
  one intervention are summed, rounded UP to the rounding unit, then raised to the minimum charge.
- Contract-included hours pay for that rounded labour first, until they run out, even in the middle
  of an intervention: the rest is charged at the hourly rate.
- Assistance by the day or half day is charged at the contract's day rate (half = day / 2).
- Travel time is recorded (time sheet, cost price) but paid through the travel policy: per km,
  a flat amount per trip, or included (nothing charged).
- Parts and hardware: quantity x unit price, per line.
- Under warranty nothing is charged and no contract hour is consumed.
- A line marked not billable, or a whole family (labour / travel / parts) unticked on the report,
  is recorded but not charged.
- VAT is computed once on the total excl. VAT and rounded to the cent, half up.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Iterable

CENT = Decimal("0.01")
# Money is rounded to the cent, half up (the commercial rule in France).
MONEY_ROUNDING = ROUND_HALF_UP
# Billable labour is rounded up to the next rounding unit: a started quarter hour is a quarter hour.
LABOUR_ROUNDING = ROUND_CEILING
MINUTES_PER_HOUR = 60
# A half day is charged half the day rate.
HALF_DAY_FRACTION = Decimal("0.5")
# Default day rate of technical assistance (seed 004: "le prix du jour/homme ... est de 300 €").
DEFAULT_DAY_RATE = Decimal("300.00")
ZERO = Decimal("0")


class LineKind(str, enum.Enum):
    """The kinds of line on a report (seed 000: what time counts)."""

    WORK = "work"  # effective work, at the workshop or remotely
    ON_SITE = "on_site"  # time spent at the client's with the client
    TRAVEL = "travel"  # a trip: its time and its kilometres
    RESEARCH = "research"  # looking for information or a product
    PART = "part"  # hardware or part supplied, at unit price
    DAY = "day"  # assistance by the day
    HALF_DAY = "half_day"  # assistance by the half day


LABOUR_KINDS = frozenset({LineKind.WORK, LineKind.ON_SITE, LineKind.RESEARCH})
TIME_KINDS = LABOUR_KINDS | {LineKind.TRAVEL}
DAY_KINDS = frozenset({LineKind.DAY, LineKind.HALF_DAY})


class TravelPolicy(str, enum.Enum):
    PER_KM = "per_km"
    FLAT = "flat"  # one flat amount per trip (per travel line)
    INCLUDED = "included"  # travel is part of the contract: nothing charged


class Family(str, enum.Enum):
    """The report's "billable" boxes: DEPL (travel), MO (labour), PIECES (parts)."""

    LABOUR = "labour"
    TRAVEL = "travel"
    PARTS = "parts"


def family_of(kind: LineKind) -> Family:
    """Which billable box governs a line kind (days are labour)."""
    if kind == LineKind.TRAVEL:
        return Family.TRAVEL
    if kind == LineKind.PART:
        return Family.PARTS
    return Family.LABOUR


class BillingError(ValueError):
    """Input that cannot be billed (negative quantity, missing duration...)."""


@dataclass(frozen=True)
class Rates:
    """Prices for one client: the contract's, or the defaults from settings."""

    hourly_rate: Decimal
    day_rate: Decimal = DEFAULT_DAY_RATE
    travel_policy: TravelPolicy = TravelPolicy.PER_KM
    km_rate: Decimal = ZERO
    travel_flat: Decimal = ZERO
    rounding_minutes: int = 15
    minimum_minutes: int = 0

    def __post_init__(self):
        for name in ("hourly_rate", "day_rate", "km_rate", "travel_flat"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or value < 0:
                raise BillingError(f"{name} must be a Decimal >= 0, got {value!r}")
        if self.rounding_minutes < 1:
            raise BillingError("rounding_minutes must be at least 1")
        if self.minimum_minutes < 0:
            raise BillingError("minimum_minutes must be >= 0")


@dataclass(frozen=True)
class Line:
    """One line of a report as billing sees it. `minutes` None means "to be estimated"."""

    kind: LineKind
    minutes: int | None = 0
    km: Decimal = ZERO
    quantity: Decimal = Decimal("1")
    unit_price: Decimal = ZERO
    billable: bool = True
    label: str = ""


@dataclass(frozen=True)
class Charge:
    """One priced row of a bill."""

    family: Family
    label: str
    quantity: Decimal
    unit: str  # "h", "km", "trip", "day", "half_day", "unit"
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Bill:
    charges: tuple[Charge, ...]
    labour_minutes: int  # billable labour minutes as recorded
    labour_minutes_rounded: int  # after rounding unit and minimum charge
    contract_minutes_consumed: int  # taken from the contract's included hours
    charged_minutes: int  # labour minutes actually charged at the hourly rate
    total_ht: Decimal
    vat: Decimal
    total_ttc: Decimal
    vat_rate: Decimal
    under_warranty: bool = False
    subtotals: dict = field(default_factory=dict)  # Family -> Decimal


def money(value: Decimal) -> Decimal:
    """Round an amount to the cent, half up."""
    return value.quantize(CENT, rounding=MONEY_ROUNDING)


def round_labour(minutes: int, rounding_minutes: int, minimum_minutes: int) -> int:
    """Billable labour minutes: rounded up to the unit, then at least the minimum (0 stays 0)."""
    if minutes < 0:
        raise BillingError("minutes must be >= 0")
    if minutes == 0:
        return 0
    units = (Decimal(minutes) / Decimal(rounding_minutes)).to_integral_value(rounding=LABOUR_ROUNDING)
    rounded = int(units) * rounding_minutes
    return max(rounded, minimum_minutes)


def labour_amount(minutes: int, hourly_rate: Decimal) -> Decimal:
    """Price of `minutes` at `hourly_rate`, to the cent."""
    return money(Decimal(minutes) * hourly_rate / MINUTES_PER_HOUR)


def vat_of(total_ht: Decimal, vat_rate_percent: Decimal) -> Decimal:
    """VAT on a total excl. VAT, rate in percent (20 means 20 %)."""
    return money(total_ht * vat_rate_percent / 100)


def _check_line(line: Line) -> None:
    if line.minutes is not None and line.minutes < 0:
        raise BillingError(f"negative duration on line {line.label!r}")
    if line.km < 0 or line.quantity < 0 or line.unit_price < 0:
        raise BillingError(f"negative quantity or price on line {line.label!r}")


def compute_bill(
    lines: Iterable[Line],
    rates: Rates,
    *,
    vat_rate: Decimal,
    under_warranty: bool = False,
    included_minutes_left: int = 0,
    billable: Iterable[Family] = (Family.LABOUR, Family.TRAVEL, Family.PARTS),
    allow_estimates: bool = False,
) -> Bill:
    """Price one intervention.

    :param included_minutes_left: contract hours still available in the period, in minutes.
    :param billable: the families ticked billable on the report.
    :param allow_estimates: price "to be estimated" lines as zero instead of refusing (previews).
    """
    lines = list(lines)
    billable = frozenset(billable)
    if vat_rate < 0:
        raise BillingError("vat_rate must be >= 0")
    for line in lines:
        _check_line(line)
        if line.minutes is None and line.kind in TIME_KINDS and not allow_estimates:
            raise BillingError(f"line {line.label or line.kind.value!r} is still to be estimated")

    def charged(line: Line) -> bool:
        return line.billable and family_of(line.kind) in billable and not under_warranty

    charges: list[Charge] = []
    labour_minutes = sum(line.minutes or 0 for line in lines if line.kind in LABOUR_KINDS and charged(line))
    rounded = round_labour(labour_minutes, rates.rounding_minutes, rates.minimum_minutes)
    consumed = min(max(included_minutes_left, 0), rounded)
    charged_minutes = rounded - consumed
    if consumed:
        charges.append(Charge(Family.LABOUR, "contract", Decimal(consumed) / MINUTES_PER_HOUR, "h", ZERO, ZERO))
    if charged_minutes:
        charges.append(Charge(Family.LABOUR, "labour", Decimal(charged_minutes) / MINUTES_PER_HOUR, "h",
                              rates.hourly_rate, labour_amount(charged_minutes, rates.hourly_rate)))

    for line in lines:
        if not charged(line):
            continue
        if line.kind in DAY_KINDS:
            unit_price = rates.day_rate if line.kind == LineKind.DAY else money(rates.day_rate * HALF_DAY_FRACTION)
            charges.append(Charge(Family.LABOUR, line.label or line.kind.value, line.quantity, line.kind.value,
                                  unit_price, money(line.quantity * unit_price)))
        elif line.kind == LineKind.TRAVEL:
            charges.extend(_travel_charges(line, rates))
        elif line.kind == LineKind.PART:
            charges.append(Charge(Family.PARTS, line.label or "part", line.quantity, "unit", line.unit_price,
                                  money(line.quantity * line.unit_price)))

    subtotals = {family: sum((c.amount for c in charges if c.family == family), ZERO) for family in Family}
    total_ht = money(sum(subtotals.values(), ZERO))
    vat = vat_of(total_ht, vat_rate)
    return Bill(
        charges=tuple(charges), labour_minutes=labour_minutes, labour_minutes_rounded=rounded,
        contract_minutes_consumed=consumed, charged_minutes=charged_minutes, total_ht=total_ht, vat=vat,
        total_ttc=total_ht + vat, vat_rate=vat_rate, under_warranty=under_warranty, subtotals=subtotals,
    )


def _travel_charges(line: Line, rates: Rates) -> list[Charge]:
    if rates.travel_policy == TravelPolicy.INCLUDED:
        return []
    if rates.travel_policy == TravelPolicy.FLAT:
        return [Charge(Family.TRAVEL, line.label or "trip", Decimal(1), "trip", rates.travel_flat,
                       money(rates.travel_flat))]
    if not line.km:
        return []
    return [Charge(Family.TRAVEL, line.label or "km", line.km, "km", rates.km_rate, money(line.km * rates.km_rate))]


@dataclass(frozen=True)
class Totals:
    total_ht: Decimal
    vat: Decimal
    total_ttc: Decimal


def sum_totals(bills: Iterable[Totals | Bill]) -> Totals:
    """A statement's totals: the sums of its reports' totals (VAT per report, never recomputed)."""
    bills = list(bills)
    return Totals(
        total_ht=sum((b.total_ht for b in bills), ZERO),
        vat=sum((b.vat for b in bills), ZERO),
        total_ttc=sum((b.total_ttc for b in bills), ZERO),
    )


def response_met(requested_at: datetime | None, responded_at: datetime | None,
                 promised_hours: int | None) -> bool | None:
    """Whether the promised response time was kept (wall-clock hours); None when nothing was promised
    or the request has no response yet."""
    if promised_hours is None or requested_at is None or responded_at is None:
        return None
    return responded_at - requested_at <= timedelta(hours=promised_hours)
