"""The printed documents of an intervention: the report PDF and the workshop label.

Builds the template context (every field of the seed's form, the bill, the signatures) and hands it
to helpdesk.pdf. Needs an app context (templates, Flask-Babel).
"""
from __future__ import annotations

import base64
from decimal import Decimal

from flask_babel import format_currency, format_date, format_datetime, gettext as _, lazy_gettext as _l

from . import pdf
from .billing import LineKind
from .interventions import ReportSettings, compute_report_bill, response_compliance
from .models import Intervention, SignatureRole, WorkshopIntake

LINE_KIND_LABELS = {
    LineKind.WORK: _l("Travail"),
    LineKind.ON_SITE: _l("Sur site"),
    LineKind.TRAVEL: _l("Déplacement"),
    LineKind.RESEARCH: _l("Recherche"),
    LineKind.PART: _l("Pièce / matériel"),
    LineKind.DAY: _l("Journée"),
    LineKind.HALF_DAY: _l("Demi-journée"),
}
CHARGE_LABELS = {"contract": _l("Main d'œuvre sous contrat"), "labour": _l("Main d'œuvre")}


def kind_label(kind: LineKind) -> str:
    return str(LINE_KIND_LABELS[LineKind(kind)])


def fmt_minutes(minutes: int | None) -> str:
    """"1 h 05", "45 min", or "à estimer" for a duration still unknown (the seeds' ">999")."""
    if minutes is None:
        return _("à estimer")
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest:02d}" if rest else f"{hours} h"


def fmt_money(value) -> str:
    return format_currency(Decimal(value or 0), "EUR")


def fmt_quantity(value) -> str:
    value = Decimal(value or 0).normalize()
    return f"{value:f}".replace(".", ",")


def fmt_datetime(value, pattern: str = "dd/MM/yyyy HH:mm") -> str:
    return format_datetime(value, pattern) if value else "—"


def fmt_date(value) -> str:
    return format_date(value, "dd/MM/yyyy") if value else "—"


def data_url_png(data: bytes | None) -> str | None:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii") if data else None


def helpers() -> dict:
    return {"fmt_minutes": fmt_minutes, "fmt_money": fmt_money, "fmt_quantity": fmt_quantity,
            "fmt_datetime": fmt_datetime, "fmt_date": fmt_date, "kind_label": kind_label,
            "charge_label": lambda label: str(CHARGE_LABELS.get(label, label))}


def report_context(report: Intervention, settings: ReportSettings) -> dict:
    """Everything the report template shows."""
    bill = compute_report_bill(report, settings, preview=True)
    if report.total_ht is not None:  # frozen: the totals stored at signature are the truth
        totals = {"ht": report.total_ht, "vat": report.vat, "ttc": report.total_ttc}
    else:
        totals = {"ht": bill.total_ht, "vat": bill.vat, "ttc": bill.total_ttc}
    time_lines = [l for l in report.lines if l.kind_is_time]
    promised, met = response_compliance(report)
    signatures = {}
    for role in SignatureRole:
        sig = report.signature(role)
        signatures[role.value] = {"name": sig.signatory_name, "at": sig.signed_at,
                                  "image": data_url_png(sig.image_png)} if sig else None
    return {
        "report": report, "company": settings.company, "conditions_line": settings.conditions_line,
        "bill": bill, "totals": totals, "vat_rate": settings.vat_rate,
        "total_minutes": sum(l.minutes or 0 for l in time_lines),
        "total_km": sum((Decimal(l.km or 0) for l in report.lines if l.kind == LineKind.TRAVEL), Decimal(0)),
        "to_estimate": report.to_estimate, "promised_hours": promised, "response_met": met,
        "signatures": signatures, **helpers(),
    }


def render_report_pdf(report: Intervention, settings: ReportSettings) -> bytes:
    """The report as an A4 PDF, in the report's language."""
    return pdf.render_pdf("reports/intervention.html", report_context(report, settings), report.language)


def render_label_pdf(intake: WorkshopIntake, settings: ReportSettings) -> bytes:
    """A small label for a machine at the workshop: asset name, client, ticket, report, date in."""
    report = intake.intervention
    context = {"intake": intake, "report": report, "company": settings.company, **helpers()}
    return pdf.render_pdf("reports/label.html", context, report.language, stylesheets=("label.css",))
