"""Contracts, intervention reports (with versions, lines, signatures), workshop intakes, statements."""
from __future__ import annotations

import enum

from sqlalchemy import (
    Boolean, Date, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text, UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..billing import TIME_KINDS, LineKind, TravelPolicy
from ..extensions import db
from .base import UTCDateTime, str_enum, utcnow

MONEY = Numeric(12, 2)
QUANTITY = Numeric(12, 3)


class ContractKind(str, enum.Enum):
    MAINTENANCE = "maintenance"
    ASSISTANCE = "assistance"


class IncludedPeriod(str, enum.Enum):
    MONTH = "month"
    YEAR = "year"


class ReportStatus(str, enum.Enum):
    DRAFT = "draft"  # being written; anyone on the desk can complete it
    SIGNED = "signed"  # signed by the client: frozen, PDF and hash stored
    SUPERSEDED = "superseded"  # replaced by a later version; kept as it was signed


class SignatureRole(str, enum.Enum):
    CLIENT = "client"
    TECHNICIAN = "technician"


class Contract(db.Model):
    """What a client bought: rates, travel policy, included hours, promised response time."""

    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[ContractKind] = mapped_column(str_enum(ContractKind), default=ContractKind.MAINTENANCE)
    reference: Mapped[str] = mapped_column(String(100), default="")
    starts_on = mapped_column(Date, nullable=False)
    ends_on = mapped_column(Date, nullable=True)
    # None means the default from settings.
    hourly_rate = mapped_column(MONEY, nullable=True)
    day_rate = mapped_column(MONEY, nullable=True)
    travel_policy: Mapped[TravelPolicy] = mapped_column(str_enum(TravelPolicy), default=TravelPolicy.PER_KM)
    km_rate = mapped_column(MONEY, nullable=True)
    travel_flat = mapped_column(MONEY, nullable=True)
    included_minutes: Mapped[int] = mapped_column(Integer, default=0)
    included_period: Mapped[IncludedPeriod] = mapped_column(str_enum(IncludedPeriod), default=IncludedPeriod.MONTH)
    response_hours: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    organisation = relationship("Organisation")


class ReportCounter(db.Model):
    """The last report number given in a year; incremented under a row lock (see interventions.py)."""

    __tablename__ = "report_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Intervention(db.Model):
    """An intervention report (fiche d'intervention). A new version is a new row that replaces one."""

    __tablename__ = "interventions"
    __table_args__ = (
        UniqueConstraint("number", "version", name="uq_interventions_number_version"),
        Index("ix_interventions_organisation_status", "organisation_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), index=True)  # "2026-0042", sequential per year
    version: Mapped[int] = mapped_column(Integer, default=1)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("interventions.id"))
    replacement_reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ReportStatus] = mapped_column(str_enum(ReportStatus), default=ReportStatus.DRAFT)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"), index=True)
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The client block as it stood when the report was written (a report is a document).
    client_number: Mapped[str] = mapped_column(String(50), default="")
    client_name: Mapped[str] = mapped_column(String(200), default="")
    client_address: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    hardware: Mapped[str] = mapped_column(Text, default="")
    under_contract: Mapped[bool] = mapped_column(Boolean, default=False)
    under_warranty: Mapped[bool] = mapped_column(Boolean, default=False)
    billable_travel: Mapped[bool] = mapped_column(Boolean, default=True)
    billable_labour: Mapped[bool] = mapped_column(Boolean, default=True)
    billable_parts: Mapped[bool] = mapped_column(Boolean, default=True)
    diagnosis: Mapped[str] = mapped_column(Text, default="")
    work_done: Mapped[str] = mapped_column(Text, default="")
    remarks: Mapped[str] = mapped_column(Text, default="")
    planned: Mapped[bool] = mapped_column(Boolean, default=False)  # planned maintenance, no ticket
    language: Mapped[str] = mapped_column(String(5), default="fr")
    requested_at = mapped_column(UTCDateTime, nullable=True)
    intervention_at = mapped_column(UTCDateTime, nullable=True)
    resolved_at = mapped_column(UTCDateTime, nullable=True)
    # Frozen on the client's signature.
    signed_at = mapped_column(UTCDateTime, nullable=True)
    total_ht = mapped_column(MONEY, nullable=True)
    vat = mapped_column(MONEY, nullable=True)
    total_ttc = mapped_column(MONEY, nullable=True)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    organisation = relationship("Organisation")
    ticket = relationship("Ticket")
    asset = relationship("Asset")
    contract = relationship("Contract")
    technician = relationship("User", foreign_keys=[technician_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    replaces = relationship("Intervention", remote_side=[id])
    lines = relationship("InterventionLine", back_populates="intervention", order_by="InterventionLine.id",
                         cascade="all, delete-orphan")
    signatures = relationship("Signature", back_populates="intervention", order_by="Signature.id",
                              cascade="all, delete-orphan")
    handovers = relationship("Handover", back_populates="intervention", order_by="Handover.id",
                             cascade="all, delete-orphan")
    intakes = relationship("WorkshopIntake", back_populates="intervention", order_by="WorkshopIntake.id")

    @property
    def frozen(self) -> bool:
        return self.status != ReportStatus.DRAFT

    @property
    def to_estimate(self) -> bool:
        """A line still carries "to be estimated" (seed 000: the ">999" duration)."""
        return any(line.minutes is None and line.kind_is_time for line in self.lines)

    def signature(self, role: SignatureRole):
        found = [s for s in self.signatures if s.role == role]
        return found[-1] if found else None

    def __repr__(self) -> str:
        return f"<Intervention {self.number} v{self.version} {self.status.value}>"


class InterventionLine(db.Model):
    """Time, a trip, a part supplied, or days of assistance. `minutes` NULL = to be estimated."""

    __tablename__ = "intervention_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("interventions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[LineKind] = mapped_column(str_enum(LineKind))
    label: Mapped[str] = mapped_column(String(300), default="")
    minutes: Mapped[int | None] = mapped_column(Integer)
    km = mapped_column(QUANTITY, nullable=False, default=0)
    quantity = mapped_column(QUANTITY, nullable=False, default=1)
    unit_price = mapped_column(MONEY, nullable=False, default=0)
    billable: Mapped[bool] = mapped_column(Boolean, default=True)
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    performed_at = mapped_column(UTCDateTime, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    intervention = relationship("Intervention", back_populates="lines")
    technician = relationship("User")

    @property
    def kind_is_time(self) -> bool:
        return self.kind in TIME_KINDS


class Signature(db.Model):
    """A hand-drawn signature (PNG from the canvas) with the signatory's typed name."""

    __tablename__ = "intervention_signatures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("interventions.id", ondelete="CASCADE"), index=True)
    role: Mapped[SignatureRole] = mapped_column(str_enum(SignatureRole))
    signatory_name: Mapped[str] = mapped_column(String(200))
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    intervention = relationship("Intervention", back_populates="signatures")


class Handover(db.Model):
    """A report passed from one technician to another, with what the next one must know."""

    __tablename__ = "intervention_handovers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("interventions.id", ondelete="CASCADE"), index=True)
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    to_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    intervention = relationship("Intervention", back_populates="handovers")
    from_user = relationship("User", foreign_keys=[from_user_id])
    to_user = relationship("User", foreign_keys=[to_user_id])


class WorkshopIntake(db.Model):
    """A client's machine brought to the workshop: why, when, by whom; disk backup; its return."""

    __tablename__ = "workshop_intakes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("interventions.id"), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    received_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    backup_confirmed_at = mapped_column(UTCDateTime, nullable=True)
    backup_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    returned_at = mapped_column(UTCDateTime, nullable=True)
    returned_to: Mapped[str] = mapped_column(String(200), default="")
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    intervention = relationship("Intervention", back_populates="intakes")
    asset = relationship("Asset")
    received_by = relationship("User", foreign_keys=[received_by_id])
    backup_confirmed_by = relationship("User", foreign_keys=[backup_confirmed_by_id])
    returned_by = relationship("User", foreign_keys=[returned_by_id])

    @property
    def is_open(self) -> bool:
        return self.returned_at is None


class ContractConsumption(db.Model):
    """Contract-included minutes used by one signed report, in the period they count against."""

    __tablename__ = "contract_consumptions"
    __table_args__ = (UniqueConstraint("intervention_id", name="uq_contract_consumptions_intervention_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("interventions.id"))
    period_start = mapped_column(Date, nullable=False)
    minutes: Mapped[int] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Statement(db.Model):
    """A client's monthly statement: every signed report of the month, PDF and CSV."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("organisation_id", "period", name="uq_statements_organisation_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))  # "YYYY-MM"
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    total_ht = mapped_column(MONEY, nullable=False)
    vat = mapped_column(MONEY, nullable=False)
    total_ttc = mapped_column(MONEY, nullable=False)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    csv: Mapped[bytes] = mapped_column(LargeBinary)
    built_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    mailed_at = mapped_column(UTCDateTime, nullable=True)

    organisation = relationship("Organisation")
