"""Numbers per client contract: promised response time kept or not, included hours used.

Response time follows helpdesk.billing.response_met (wall-clock hours from the ticket's creation to
its first move to taken or in progress), so the stats page and the intervention report agree. The
contract that counts is the one running on the ticket's creation day (local), as
interventions.active_contract() picks it. Included hours come from ContractConsumption, written
when a report is signed.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from .extensions import db
from .interventions import period_start
from .models import Contract, ContractConsumption, Organisation, Ticket
from .sqltime import epoch_seconds
from .stats import Period, name_key


@dataclass
class ResponseRow:
    organisation_id: int
    organisation: str
    promised_hours: int
    tickets: int = 0
    met: int = 0
    missed: int = 0  # taken late, or still not taken after the promised time
    pending: int = 0  # not taken yet, still within the promised time

    @property
    def rate(self) -> float | None:
        decided = self.met + self.missed
        return self.met / decided if decided else None


@dataclass
class HoursRow:
    organisation: str
    contract: str
    period_start: date
    included_minutes: int
    used_minutes: int

    @property
    def share(self) -> float | None:
        return self.used_minutes / self.included_minutes if self.included_minutes else None


def _running(contracts: list[Contract], day: date) -> Contract | None:
    """The contract running on `day`, the most recent when several overlap (as interventions.active_contract)."""
    running = [c for c in contracts if c.starts_on <= day and (c.ends_on is None or c.ends_on >= day)]
    return max(running, key=lambda c: (c.starts_on, c.id), default=None)


def response_compliance(period: Period, now: datetime, organisation_id: int | None = None) -> list[ResponseRow]:
    """Per client with a promised response time: tickets opened in the period that were taken in time."""
    query = select(Contract).where(Contract.response_hours.is_not(None))
    if organisation_id is not None:
        query = query.where(Contract.organisation_id == organisation_id)
    contracts: dict[int, list[Contract]] = defaultdict(list)
    for contract in db.session.execute(query).scalars():
        contracts[contract.organisation_id].append(contract)
    if not contracts:
        return []
    names = dict(db.session.execute(select(Organisation.id, Organisation.name)
                                    .where(Organisation.id.in_(list(contracts)))).all())
    zone, now_s = period.zone, now.timestamp()
    rows: dict[tuple[int, int], ResponseRow] = {}
    for org_id, created, taken in db.session.connection().execute(
        select(Ticket.organisation_id, epoch_seconds(Ticket.created_at), epoch_seconds(Ticket.taken_at))
        .where(Ticket.created_at >= period.start_utc, Ticket.created_at < period.end_utc,
               Ticket.organisation_id.in_(list(contracts)))
    ):
        contract = _running(contracts[org_id], datetime.fromtimestamp(created, zone).date())
        if contract is None:
            continue
        key = (org_id, contract.response_hours)
        row = rows.setdefault(key, ResponseRow(org_id, names.get(org_id, ""), contract.response_hours))
        row.tickets += 1
        deadline = created + contract.response_hours * 3600
        if taken is not None:
            if taken <= deadline:
                row.met += 1
            else:
                row.missed += 1
        elif now_s > deadline:
            row.missed += 1
        else:
            row.pending += 1
    return sorted(rows.values(), key=lambda r: (name_key(r.organisation), r.organisation_id, r.promised_hours))


def contract_hours(period: Period, organisation_id: int | None = None) -> list[HoursRow]:
    """Included hours used per contract and included period (month or year) overlapping the stats period.

    A period with nothing used yet is listed too (0 used): unused hours are a number the client asks for.
    """
    query = (select(Contract, Organisation.name).join(Organisation, Organisation.id == Contract.organisation_id)
             .where(Contract.included_minutes > 0, Contract.starts_on <= period.end,
                    (Contract.ends_on.is_(None)) | (Contract.ends_on >= period.start)))
    if organisation_id is not None:
        query = query.where(Contract.organisation_id == organisation_id)
    contracts = db.session.execute(query).all()
    if not contracts:
        return []
    used = {(contract_id, start): int(minutes or 0) for contract_id, start, minutes in db.session.execute(
        select(ContractConsumption.contract_id, ContractConsumption.period_start, func.sum(ContractConsumption.minutes))
        .where(ContractConsumption.contract_id.in_([c.id for c, _ in contracts]))
        .group_by(ContractConsumption.contract_id, ContractConsumption.period_start)
    )}
    rows = []
    for contract, name in contracts:
        first = max(period.start, contract.starts_on)
        last = min(period.end, contract.ends_on or period.end)
        days = [first] + [d for d in _month_starts(first, last) if d != first]
        for start in sorted({period_start(contract, d) for d in days}):
            rows.append(HoursRow(name, contract.reference or f"#{contract.id}", start, contract.included_minutes,
                                 used.get((contract.id, start), 0)))
    return sorted(rows, key=lambda r: (name_key(r.organisation), r.contract, r.period_start))


def _month_starts(first: date, last: date) -> list[date]:
    days, day = [], first.replace(day=1)
    while day <= last:
        days.append(day)
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return days
