"""Signing a report on site, freezing it, and versions that replace a signed report.

The client's signature freezes the report: the bill is computed for good (contract hours consumed),
the totals, the PDF and two SHA-256 (of the PDF and of the report's content) are stored. A frozen
report never changes again; a correction is a new version that names the one it replaces.
"""
from __future__ import annotations

import hashlib
import json
import logging
from typing import Callable

from . import billing
from .extensions import db
from .interventions import (
    PNG_MAGIC, SIGNATURE_MAX_BYTES, ReportError, ReportFrozen, ReportSettings, compute_report_bill,
    ensure_editable, period_start, report_day,
)
from .models import (
    ContractConsumption, Intervention, InterventionLine, ReportStatus, Signature, SignatureRole, User, utcnow,
)

log = logging.getLogger(__name__)
NAME_MAX = 200
# Fields copied into a new version (everything the report says, not its state).
COPIED_FIELDS = (
    "number", "organisation_id", "ticket_id", "asset_id", "contract_id", "technician_id", "client_number",
    "client_name", "client_address", "subject", "hardware", "under_contract", "under_warranty",
    "billable_travel", "billable_labour", "billable_parts", "diagnosis", "work_done", "remarks", "planned",
    "language", "requested_at", "intervention_at", "resolved_at",
)
LINE_FIELDS = ("kind", "label", "minutes", "km", "quantity", "unit_price", "billable", "technician_id",
               "performed_at")


def check_png(image: bytes) -> bytes:
    """A signature image must be a PNG of reasonable size (it comes from a browser)."""
    if not image:
        raise ReportError("La signature est vide.")
    if len(image) > SIGNATURE_MAX_BYTES:
        raise ReportError("Image de signature trop lourde.")
    if not image.startswith(PNG_MAGIC):
        raise ReportError("La signature doit être une image PNG.")
    return image


def content_digest(report: Intervention) -> str:
    """SHA-256 of the report's content in a canonical JSON form (what was signed, independent of the PDF)."""
    def plain(value):
        return value.isoformat() if hasattr(value, "isoformat") else str(value) if value is not None else None

    content = {field: plain(getattr(report, field)) for field in COPIED_FIELDS}
    content["version"] = report.version
    content["lines"] = [{f: plain(getattr(line, f)) for f in LINE_FIELDS} for line in report.lines]
    content["signatures"] = [
        {"role": s.role.value, "name": s.signatory_name, "png_sha256": hashlib.sha256(s.image_png).hexdigest(),
         "at": plain(s.signed_at)} for s in report.signatures
    ]
    content["totals"] = [plain(report.total_ht), plain(report.vat), plain(report.total_ttc)]
    encoded = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def sign(report: Intervention, role: SignatureRole, signatory_name: str, image_png: bytes, actor: User,
         settings: ReportSettings, render_pdf: Callable[[Intervention, ReportSettings], bytes]) -> Signature:
    """Record a signature; the client's freezes the report (PDF rendered by `render_pdf`)."""
    ensure_editable(report)
    role = SignatureRole(role)
    name = " ".join((signatory_name or "").split())[:NAME_MAX]
    if not name:
        raise ReportError("Indiquez le nom du signataire.")
    check_png(image_png)
    if role == SignatureRole.CLIENT:
        if report.to_estimate:
            raise ReportError("Une durée est encore « à estimer » : complétez-la avant la signature du client.")
        if not report.lines:
            raise ReportError("Le rapport n'a aucune ligne : rien à faire signer.")
    signature = Signature(intervention=report, role=role, signatory_name=name, image_png=image_png,
                          user_id=actor.id if role == SignatureRole.TECHNICIAN else None)
    db.session.add(signature)
    db.session.flush()
    if role == SignatureRole.CLIENT:
        freeze(report, settings, render_pdf)
    return signature


def freeze(report: Intervention, settings: ReportSettings,
           render_pdf: Callable[[Intervention, ReportSettings], bytes]) -> Intervention:
    """Compute the final bill, record contract consumption, store totals, PDF and hashes."""
    try:
        bill = compute_report_bill(report, settings, preview=False)
    except billing.BillingError as exc:
        raise ReportError(str(exc)) from exc
    now = utcnow()
    if report.intervention_at is None:
        report.intervention_at = now
    report.signed_at = now
    report.total_ht, report.vat, report.total_ttc = bill.total_ht, bill.vat, bill.total_ttc
    previous = report.replaces
    if previous is not None:
        previous.status = ReportStatus.SUPERSEDED
        db.session.execute(db.delete(ContractConsumption).where(ContractConsumption.intervention_id == previous.id))
    if bill.contract_minutes_consumed and report.contract is not None:
        db.session.add(ContractConsumption(
            contract_id=report.contract.id, intervention_id=report.id, minutes=bill.contract_minutes_consumed,
            period_start=period_start(report.contract, report_day(report, settings.timezone)),
        ))
    report.status = ReportStatus.SIGNED
    db.session.flush()
    report.content_sha256 = content_digest(report)
    report.pdf = render_pdf(report, settings)
    report.pdf_sha256 = hashlib.sha256(report.pdf).hexdigest()
    db.session.flush()
    log.info("report %s v%s signed and frozen (%s HT)", report.number, report.version, report.total_ht)
    return report


def create_revision(report: Intervention, actor: User, reason: str) -> Intervention:
    """A new draft version of a signed report, saying what it replaces and why."""
    if report.status != ReportStatus.SIGNED:
        raise ReportError("Seul un rapport signé (et non remplacé) reçoit une nouvelle version.")
    reason = (reason or "").strip()
    if not reason:
        raise ReportError("Indiquez pourquoi le rapport signé doit être modifié.")
    pending = db.session.execute(
        db.select(Intervention.id).where(Intervention.replaces_id == report.id)
    ).first()
    if pending is not None:
        raise ReportError("Une nouvelle version de ce rapport existe déjà.")
    revision = Intervention(version=report.version + 1, replaces=report, replacement_reason=reason,
                            status=ReportStatus.DRAFT, created_by=actor,
                            **{f: getattr(report, f) for f in COPIED_FIELDS})
    for line in report.lines:
        revision.lines.append(InterventionLine(**{f: getattr(line, f) for f in LINE_FIELDS}))
    db.session.add(revision)
    db.session.flush()
    return revision


__all__ = ["ReportFrozen", "check_png", "content_digest", "create_revision", "freeze", "sign"]
