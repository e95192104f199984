"""Intervention reports: from a ticket (or planned maintenance) to a signed, frozen report.

Services take model objects and plain values, flush, and never commit: the view, CLI command or
worker job that calls them commits once. Prices come from helpdesk.billing; the PDF from
helpdesk.pdf; settings arrive as a `ReportSettings` built by the caller from its config dict.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from . import billing
from .billing import Family, LineKind, Rates, TravelPolicy
from .extensions import db
from .models import (
    Asset, Contract, ContractConsumption, Handover, IncludedPeriod, Intervention, InterventionLine,
    Organisation, ReportCounter, ReportStatus, Ticket, User, WorkshopIntake, utcnow,
)

log = logging.getLogger(__name__)

# A signature is a small PNG drawn on a phone; anything bigger is not a signature.
SIGNATURE_MAX_BYTES = 300_000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Line kinds that a workshop intake blocks until the disk backup is confirmed (seed 000: "une
# sauvegarde du DD AVANT toute intervention"); a trip to fetch the machine is allowed.
GATED_KINDS = frozenset(LineKind) - {LineKind.TRAVEL}
EDITABLE_FIELDS = (
    "subject", "hardware", "diagnosis", "work_done", "remarks", "under_contract", "under_warranty",
    "billable_travel", "billable_labour", "billable_parts", "client_number", "client_name", "client_address",
    "requested_at", "intervention_at", "resolved_at", "language",
)
LABEL_MAX = 300
MINUTES_MAX = 100_000


class ReportError(ValueError):
    """A change the rules refuse; the message is shown to the user as is."""


class ReportFrozen(ReportError):
    """The report is signed by the client: any change needs a new version."""


@dataclass(frozen=True)
class ReportSettings:
    """What reports need from settings, as plain values (built by the caller)."""

    vat_rate: Decimal
    hourly_rate: Decimal
    day_rate: Decimal
    km_rate: Decimal
    travel_flat: Decimal
    travel_policy: TravelPolicy
    rounding_minutes: int
    minimum_minutes: int
    conditions_line: str
    company: dict
    timezone: str


def _decimal(settings: dict, key: str) -> Decimal:
    try:
        value = Decimal(str(settings[key]))
    except InvalidOperation:
        raise ValueError(f"setting {key!r} is not a number: {settings[key]!r}") from None
    if value < 0:
        raise ValueError(f"setting {key!r} must be >= 0")
    return value


def report_settings(settings: dict) -> ReportSettings:
    """Read the billing and report keys out of the HELPDESK settings dict."""
    return ReportSettings(
        vat_rate=_decimal(settings, "vat_rate"),
        hourly_rate=_decimal(settings, "hourly_rate"),
        day_rate=_decimal(settings, "day_rate"),
        km_rate=_decimal(settings, "km_rate"),
        travel_flat=_decimal(settings, "travel_flat"),
        travel_policy=TravelPolicy(settings["travel_policy"]),
        rounding_minutes=int(settings["labour_rounding_minutes"]),
        minimum_minutes=int(settings["labour_minimum_minutes"]),
        conditions_line=settings["report_conditions_line"],
        company={
            "name": settings["company_name"] or settings["site_name"],
            "address": settings["company_address"],
            "contact": settings["company_contact"],
            "legal": settings["company_legal"],
        },
        timezone=settings["timezone"],
    )


# --- numbers -------------------------------------------------------------------------------------

def next_report_number(year: int) -> str:
    """The next report number of `year` ("2026-0042").

    The counter row is incremented with UPDATE ... RETURNING, which holds its row lock until the
    caller commits: concurrent transactions on PostgreSQL wait for each other, and a rolled-back
    transaction gives its number back, so numbers have neither duplicates nor gaps.
    """
    bump = (update(ReportCounter).where(ReportCounter.year == year)
            .values(last=ReportCounter.last + 1).returning(ReportCounter.last)
            .execution_options(synchronize_session=False))
    seq = db.session.execute(bump).scalar_one_or_none()
    if seq is None:
        try:
            with db.session.begin_nested():
                db.session.add(ReportCounter(year=year, last=1))
            seq = 1
        except IntegrityError:  # another transaction created the year's row first
            seq = db.session.execute(bump).scalar_one()
    return f"{year}-{seq:04d}"


def local_now(tz: str) -> datetime:
    return utcnow().astimezone(ZoneInfo(tz))


# --- creation ------------------------------------------------------------------------------------

def active_contract(organisation: Organisation | None, on: date) -> Contract | None:
    """The client's contract running on `on` (the most recent one when several overlap)."""
    if organisation is None:
        return None
    query = (db.select(Contract).where(Contract.organisation_id == organisation.id, Contract.starts_on <= on,
                                       (Contract.ends_on.is_(None)) | (Contract.ends_on >= on))
             .order_by(Contract.starts_on.desc(), Contract.id.desc()))
    return db.session.execute(query).scalars().first()


def describe_asset(asset: Asset | None) -> str:
    if asset is None:
        return ""
    parts = [asset.name, asset.kind, f"S/N {asset.serial}" if asset.serial else ""]
    return " · ".join(p for p in parts if p)


def _new_report(organisation: Organisation, actor: User, settings: ReportSettings, **fields) -> Intervention:
    today = local_now(settings.timezone).date()
    asset = fields.get("asset")
    contract = active_contract(organisation, today)
    report = Intervention(
        number=next_report_number(today.year), version=1, status=ReportStatus.DRAFT,
        organisation=organisation, contract=contract, technician=fields.pop("technician", None) or actor,
        created_by=actor, client_number=organisation.client_number or "", client_name=organisation.name,
        client_address=organisation.address or "", hardware=describe_asset(asset),
        under_contract=contract is not None,
        under_warranty=bool(asset and asset.warranty_end and asset.warranty_end >= today),
        **{"language": "fr", **fields},
    )
    db.session.add(report)
    db.session.flush()
    log.info("report %s opened by %s", report.number, actor.email)
    return report


def open_from_ticket(ticket: Ticket, actor: User, settings: ReportSettings) -> Intervention:
    """The ticket's report, pre-filled (client, object, asset, request date); its open draft if it has one."""
    existing = db.session.execute(
        db.select(Intervention).where(Intervention.ticket_id == ticket.id, Intervention.status == ReportStatus.DRAFT)
        .order_by(Intervention.id)
    ).scalars().first()
    if existing is not None:
        return existing
    organisation = ticket.organisation or ticket.requester.organisation
    if organisation is None:
        raise ReportError("Ce ticket n'est rattaché à aucun client : choisissez d'abord son organisation.")
    return _new_report(organisation, actor, settings, ticket=ticket, asset=ticket.asset, subject=ticket.subject,
                       requested_at=ticket.created_at, technician=ticket.assignee,
                       language=ticket.requester.language if ticket.requester.language in ("fr", "en") else "fr")


def open_planned(organisation: Organisation, actor: User, settings: ReportSettings, subject: str,
                 asset: Asset | None = None, planned_at: datetime | None = None) -> Intervention:
    """A report prepared in advance for planned maintenance (no ticket)."""
    subject = " ".join((subject or "").split())[:500]
    if not subject:
        raise ReportError("Indiquez l'objet de l'intervention.")
    return _new_report(organisation, actor, settings, asset=asset, subject=subject, planned=True,
                       requested_at=utcnow(), intervention_at=planned_at)


# --- editing -------------------------------------------------------------------------------------

def ensure_editable(report: Intervention) -> None:
    if report.frozen:
        raise ReportFrozen(
            f"Le rapport {report.number} est signé : toute modification passe par une nouvelle version."
        )


def update_report(report: Intervention, **fields) -> Intervention:
    """Change the report's own fields (not its lines)."""
    ensure_editable(report)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ReportError(f"champ inconnu : {sorted(unknown)[0]}")
    for key, value in fields.items():
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ReportError(f"{key} : date sans fuseau")
        if key == "language" and value not in ("fr", "en"):
            raise ReportError("langue inconnue")
        setattr(report, key, value)
    db.session.flush()
    return report


def open_intake(report: Intervention) -> WorkshopIntake | None:
    return next((i for i in report.intakes if i.is_open), None)


def add_line(report: Intervention, actor: User, kind: LineKind, *, label: str = "", minutes: int | None = 0,
             km: Decimal = Decimal(0), quantity: Decimal = Decimal(1), unit_price: Decimal = Decimal(0),
             billable: bool = True, performed_at: datetime | None = None) -> InterventionLine:
    """Add a line; minutes=None on a time line means "to be estimated"."""
    ensure_editable(report)
    kind = LineKind(kind)
    intake = open_intake(report)
    if intake is not None and intake.backup_confirmed_at is None and kind in GATED_KINDS:
        raise ReportError("Machine en atelier : confirmez d'abord la sauvegarde du disque.")
    label = " ".join((label or "").split())[:LABEL_MAX]
    if kind == LineKind.PART and not label:
        raise ReportError("Indiquez la pièce ou le matériel fourni.")
    if minutes is not None and not 0 <= minutes <= MINUTES_MAX:
        raise ReportError("Durée invalide.")
    if minutes is None and kind not in billing.TIME_KINDS:
        raise ReportError("Seul un temps peut rester « à estimer ».")
    if km < 0 or quantity < 0 or unit_price < 0:
        raise ReportError("Les quantités et les prix ne peuvent pas être négatifs.")
    line = InterventionLine(intervention=report, kind=kind, label=label, minutes=minutes, km=km, quantity=quantity,
                            unit_price=unit_price, billable=billable, technician=actor,
                            performed_at=performed_at or utcnow())
    db.session.add(line)
    db.session.flush()
    return line


def complete_line(line: InterventionLine, actor: User, minutes: int) -> InterventionLine:
    """Give a "to be estimated" line its real duration: the same report is completed, never a new one."""
    ensure_editable(line.intervention)
    if not 0 <= minutes <= MINUTES_MAX:
        raise ReportError("Durée invalide.")
    line.minutes = minutes
    line.technician = actor
    db.session.flush()
    return line


def remove_line(line: InterventionLine) -> None:
    ensure_editable(line.intervention)
    line.intervention.lines.remove(line)
    db.session.flush()


def hand_over(report: Intervention, actor: User, to_user: User, note: str = "") -> Handover:
    """Pass the report to another technician, who sees every line done so far and this note."""
    ensure_editable(report)
    if not to_user.is_staff or not to_user.is_active:
        raise ReportError("Le rapport ne peut être transmis qu'à un technicien actif.")
    if report.technician_id == to_user.id:
        raise ReportError("Ce technicien a déjà le rapport.")
    handover = Handover(intervention=report, from_user=report.technician, to_user=to_user, note=(note or "").strip())
    report.technician = to_user
    db.session.add(handover)
    db.session.flush()
    log.info("report %s handed over to %s by %s", report.number, to_user.email, actor.email)
    return handover


# --- workshop ------------------------------------------------------------------------------------

def record_intake(report: Intervention, actor: User, reason: str) -> WorkshopIntake:
    """A machine arrives at the workshop: why, when, by whom. Work waits for the disk backup."""
    ensure_editable(report)
    reason = (reason or "").strip()
    if not reason:
        raise ReportError("Indiquez pourquoi la machine est enlevée de son poste.")
    if open_intake(report) is not None:
        raise ReportError("Cette machine est déjà à l'atelier.")
    intake = WorkshopIntake(intervention=report, asset=report.asset, reason=reason, received_by=actor)
    db.session.add(intake)
    db.session.flush()
    return intake


def confirm_backup(intake: WorkshopIntake, actor: User) -> WorkshopIntake:
    if not intake.is_open:
        raise ReportError("La machine a déjà été rendue.")
    if intake.backup_confirmed_at is None:
        intake.backup_confirmed_at = utcnow()
        intake.backup_confirmed_by = actor
        db.session.flush()
    return intake


def record_return(intake: WorkshopIntake, actor: User, returned_to: str) -> WorkshopIntake:
    """The machine goes back to its place (when, to whom): closes the intake."""
    returned_to = " ".join((returned_to or "").split())[:200]
    if not returned_to:
        raise ReportError("Indiquez à qui la machine a été rendue.")
    if not intake.is_open:
        raise ReportError("La machine a déjà été rendue.")
    intake.returned_at = utcnow()
    intake.returned_to = returned_to
    intake.returned_by = actor
    db.session.flush()
    return intake


# --- prices --------------------------------------------------------------------------------------

def rates_for(report: Intervention, settings: ReportSettings) -> Rates:
    """The contract's prices, each falling back to the default from settings."""
    c = report.contract

    def pick(value, default):
        return Decimal(value) if value is not None else default

    return Rates(
        hourly_rate=pick(c and c.hourly_rate, settings.hourly_rate),
        day_rate=pick(c and c.day_rate, settings.day_rate),
        travel_policy=c.travel_policy if c else settings.travel_policy,
        km_rate=pick(c and c.km_rate, settings.km_rate),
        travel_flat=pick(c and c.travel_flat, settings.travel_flat),
        rounding_minutes=settings.rounding_minutes,
        minimum_minutes=settings.minimum_minutes,
    )


def period_start(contract: Contract, on: date) -> date:
    """First day of the included-hours period that `on` falls in."""
    if contract.included_period == IncludedPeriod.YEAR:
        anniversary = contract.starts_on.replace(year=on.year)
        return anniversary if anniversary <= on else contract.starts_on.replace(year=on.year - 1)
    return on.replace(day=1)


def included_minutes_left(report: Intervention, on: date) -> int:
    """Contract minutes not yet consumed in the period, other versions of this report excepted."""
    contract = report.contract
    if contract is None or not report.under_contract or not contract.included_minutes:
        return 0
    start = period_start(contract, on)
    chain = {r.id for r in report_chain(report)}
    used = db.session.execute(
        db.select(db.func.coalesce(db.func.sum(ContractConsumption.minutes), 0)).where(
            ContractConsumption.contract_id == contract.id, ContractConsumption.period_start == start,
            ContractConsumption.intervention_id.not_in(chain),
        )
    ).scalar_one()
    return max(contract.included_minutes - int(used), 0)


def report_day(report: Intervention, tz: str) -> date:
    """The day a report counts for (statements, contract periods): intervention date, else today."""
    moment = report.intervention_at or report.signed_at or utcnow()
    return moment.astimezone(ZoneInfo(tz)).date()


def billing_lines(report: Intervention) -> list[billing.Line]:
    return [billing.Line(kind=l.kind, minutes=l.minutes, km=Decimal(l.km or 0), quantity=Decimal(l.quantity or 0),
                         unit_price=Decimal(l.unit_price or 0), billable=l.billable, label=l.label)
            for l in report.lines]


def compute_report_bill(report: Intervention, settings: ReportSettings, *, preview: bool = True) -> billing.Bill:
    """Price the report as it stands (a preview accepts lines still to be estimated)."""
    families = [f for f, on in ((Family.LABOUR, report.billable_labour), (Family.TRAVEL, report.billable_travel),
                                (Family.PARTS, report.billable_parts)) if on]
    return billing.compute_bill(
        billing_lines(report), rates_for(report, settings), vat_rate=settings.vat_rate,
        under_warranty=report.under_warranty, billable=families, allow_estimates=preview,
        included_minutes_left=included_minutes_left(report, report_day(report, settings.timezone)),
    )


def response_compliance(report: Intervention) -> tuple[int | None, bool | None]:
    """(promised hours, kept?) from the ticket's timestamps: created -> taken (or the intervention)."""
    promised = report.contract.response_hours if report.contract else None
    requested = report.ticket.created_at if report.ticket else report.requested_at
    responded = (report.ticket.taken_at if report.ticket and report.ticket.taken_at else None) or report.intervention_at
    return promised, billing.response_met(requested, responded, promised)


def report_chain(report: Intervention) -> list[Intervention]:
    """This report and every version it replaces, newest first."""
    chain, seen = [], set()
    while report is not None and report.id not in seen:
        chain.append(report)
        seen.add(report.id)
        report = report.replaces
    return chain
