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
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy import func, select

from .extensions import db
from .interventions import period_start
from .models import Contract, ContractConsumption, Organisation, Ticket
from .stats import Period, int_columns, name_key


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


# More seconds than any epoch we store: (organisation, instant) becomes one sortable number, so every
# ticket's contract is found by one array search (numpy.searchsorted) instead of a Python loop.
_ORG_STRIDE = 10 ** 10


def _schedule(period: Period, contracts: dict[int, list[Contract]]) -> tuple[list[int], list[Contract | None]]:
    """Keys `organisation * _ORG_STRIDE + instant` where a client's running contract changes, and the
    contract from each key on (None before the first and after the last client, and between contracts).

    The running contract only changes on a start day or the day after an end, at local midnight.
    """
    keys, running = [-1], [None]
    for org_id, found in sorted(contracts.items()):
        days = sorted({c.starts_on for c in found} | {c.ends_on + timedelta(days=1) for c in found if c.ends_on})
        keys.append(org_id * _ORG_STRIDE)
        running.append(None)
        for day in days:
            keys.append(org_id * _ORG_STRIDE + int(period.local_midnight(day).timestamp()))
            running.append(_running(found, day))
        keys.append((org_id + 1) * _ORG_STRIDE)
        running.append(None)
    return keys, running


def _opened_tickets(period: Period, organisation_ids: list[int]) -> tuple:
    """(organisation ids, created, taken or 0) of the tickets created in the period by these clients."""
    return tuple(int_columns(db.session.connection(), select(
        Ticket.organisation_id, Ticket.created_epoch, func.coalesce(Ticket.taken_epoch, 0)
    ).where(Ticket.created_at >= period.start_utc, Ticket.created_at < period.end_utc,
            Ticket.organisation_id.in_(organisation_ids)), 3))


def response_compliance(period: Period, now: datetime, organisation_id: int | None = None,
                        opened: tuple | None = None) -> list[ResponseRow]:
    """Per client with a promised response time: tickets opened in the period that were taken in time.

    :param opened: the (organisation ids or 0, created, taken or 0) arrays of the tickets created in
        the period (for `organisation_id` when given), as the stats scan has them: spares a second
        read of 50,000 tickets through the organisation index (~300 ms on SQLite). Read here when None.
    """
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
    keys, running = _schedule(period, contracts)
    # searchsorted(side="right") gives i >= 1 (keys[0] is below every ticket): the segment from keys[i - 1] on.
    by_segment = [None] + running
    limits = np.array([-1 if c is None else c.response_hours * 3600 for c in by_segment], dtype=np.int64)
    orgs, created, taken = opened if opened is not None else _opened_tickets(period, list(contracts))
    # Segment of each ticket (its client and contract), and whether it was late: taken after the
    # promised time, or not taken and the promised time has passed (the delay then runs to now).
    segments = np.searchsorted(np.array(keys, dtype=np.int64), orgs * _ORG_STRIDE + created, side="right")
    was_taken = taken != 0
    late = np.where(was_taken, taken, now.timestamp()) - created > limits[segments]
    # One number per (segment, late, taken), counted at once.
    groups, counts = np.unique(segments * 4 + late * 2 + was_taken, return_counts=True)
    rows: dict[tuple[int, int], ResponseRow] = {}
    for group, count in zip(groups.tolist(), counts.tolist()):
        contract = by_segment[group // 4]
        if contract is None:
            continue
        key = (contract.organisation_id, contract.response_hours)
        row = rows.get(key)
        if row is None:
            row = rows[key] = ResponseRow(key[0], names.get(key[0], ""), contract.response_hours)
        row.tickets += count
        if group & 2:
            row.missed += count
        elif group & 1:
            row.met += count
        else:
            row.pending += count
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
