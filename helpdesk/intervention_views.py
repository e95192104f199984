"""Referents' pages for intervention reports and statements (staff only, under /desk/reports).

Each view loads through a loader that answers 404 for what does not exist or does not belong to
the report in the URL, validates a form, calls one service, commits and redirects.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields import SelectChoice

from . import interventions as iv
from . import signatures, statements
from .auth import staff_required
from .documents import fmt_minutes, fmt_money, fmt_quantity, kind_label, render_label_pdf, render_report_pdf
from .extensions import db
from .intervention_forms import (
    CompleteLineForm, EmptyForm, HandoverForm, IntakeForm, LineForm, PlannedForm, ReportForm, ReturnForm,
    RevisionForm, SignatureForm, StatementForm,
)
from .models import (
    Asset, Intervention, InterventionLine, Organisation, ReportStatus, Role, SignatureRole, Statement, Ticket, User,
    WorkshopIntake,
)
from .report_mail import mail_signed_report

bp = Blueprint("interventions", __name__, url_prefix="/desk/reports")
LIST_LIMIT = 200


def _settings() -> iv.ReportSettings:
    return iv.report_settings(current_app.config["HELPDESK"])


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["HELPDESK"]["timezone"])


def _to_utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=_zone()).astimezone(ZoneInfo("UTC")) if value else None


def _to_local(value: datetime | None) -> datetime | None:
    return value.astimezone(_zone()).replace(tzinfo=None) if value else None


def get_report_or_404(report_id: int) -> Intervention:
    report = db.session.get(Intervention, report_id)
    if report is None:
        abort(404)
    return report


def get_line_or_404(report: Intervention, line_id: int) -> InterventionLine:
    line = db.session.get(InterventionLine, line_id)
    if line is None or line.intervention_id != report.id:
        abort(404)
    return line


def get_intake_or_404(report: Intervention, intake_id: int) -> WorkshopIntake:
    intake = db.session.get(WorkshopIntake, intake_id)
    if intake is None or intake.intervention_id != report.id:
        abort(404)
    return intake


def _technicians() -> list[tuple[int, str]]:
    users = db.session.execute(db.select(User).where(User.role.in_([Role.REFERENT, Role.ADMIN]), User.active)
                               .order_by(User.display_name, User.email)).scalars()
    return [SelectChoice(u.id, u.name) for u in users]


def _organisations() -> list[tuple[int, str]]:
    return [SelectChoice(o.id, f"{o.name} ({o.client_number})" if o.client_number else o.name)
            for o in db.session.execute(db.select(Organisation).order_by(Organisation.name)).scalars()]


def _refused(exc: iv.ReportError):
    db.session.rollback()
    flash(str(exc), "error")


def _back(report: Intervention, anchor: str = ""):
    return redirect(url_for("interventions.show", report_id=report.id) + (f"#{anchor}" if anchor else ""))


def _flash_form_errors(form) -> None:
    for field in form:
        for error in field.errors:
            flash(f"{field.label.text} : {error}", "error")


def _apply(report: Intervention, action, form=None, anchor: str = "", done: str | None = None,
           refusals: tuple[type[Exception], ...] = (iv.ReportError,)):
    """What every post on a report does: check the form (a bare button only carries its CSRF token,
    and a bad one is a 400), run one service call with it, commit, flash `done`; a refusal is rolled
    back and flashed. Back to the report (or to the one the call returns) at `anchor` either way."""
    if form is None:
        if not EmptyForm().validate_on_submit():
            abort(400)
    elif not form.validate_on_submit():
        _flash_form_errors(form)
        return _back(report, anchor)
    try:
        result = action(form)
    except refusals as exc:
        _refused(iv.ReportError(str(exc)))
        return _back(report, anchor)
    db.session.commit()
    if done:
        flash(done)
    return _back(result if isinstance(result, Intervention) else report, anchor)


@bp.get("/")
@staff_required
def index():
    status = request.args.get("status", "")
    query = db.select(Intervention).order_by(Intervention.id.desc()).limit(LIST_LIMIT)
    if status in {s.value for s in ReportStatus}:
        query = query.where(Intervention.status == ReportStatus(status))
    reports = db.session.execute(query).scalars().all()
    form = PlannedForm()
    form.organisation.choices = _organisations()
    return render_template("reports/index.html", reports=reports, status=status, planned_form=form)


@bp.post("/from-ticket/<int:ticket_id>")
@staff_required
def from_ticket(ticket_id):
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        report = iv.open_from_ticket(ticket, current_user, _settings())
    except iv.ReportError as exc:
        _refused(exc)
        return redirect(url_for("interventions.index"))
    db.session.commit()
    return _back(report)


@bp.post("/planned")
@staff_required
def planned():
    form = PlannedForm()
    form.organisation.choices = _organisations()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return redirect(url_for("interventions.index"))
    org = db.session.get(Organisation, form.organisation.data)
    try:
        report = iv.open_planned(org, current_user, _settings(), form.subject.data, planned_at=_to_utc(form.planned_at.data))
    except iv.ReportError as exc:
        _refused(exc)
        return redirect(url_for("interventions.index"))
    db.session.commit()
    return _back(report)


@bp.get("/<int:report_id>")
@staff_required
def show(report_id):
    report = get_report_or_404(report_id)
    form = ReportForm(obj=report, formdata=None)
    form.intervention_at.data = _to_local(report.intervention_at)
    form.resolved_at.data = _to_local(report.resolved_at)
    handover = HandoverForm()
    handover.to_user.choices = [c for c in _technicians() if c.value != report.technician_id]
    settings = _settings()
    return render_template(
        "reports/show.html", report=report, form=form, line_form=LineForm(), complete_form=CompleteLineForm(),
        handover_form=handover, intake_form=IntakeForm(), return_form=ReturnForm(), button=EmptyForm(),
        revision_form=RevisionForm(), bill=iv.compute_report_bill(report, settings, preview=True),
        response=iv.response_compliance(report), open_intake=iv.open_intake(report),
        fmt_minutes=fmt_minutes, fmt_money=fmt_money, fmt_quantity=fmt_quantity, kind_label=kind_label,
        versions=signatures_chain(report),
    )


def signatures_chain(report: Intervention) -> list[Intervention]:
    newer = db.session.execute(db.select(Intervention).where(Intervention.number == report.number)
                               .order_by(Intervention.version)).scalars().all()
    return newer


@bp.post("/<int:report_id>")
@staff_required
def update(report_id):
    report = get_report_or_404(report_id)

    def save(form):
        fields = {name: getattr(form, name).data for name in iv.EDITABLE_FIELDS if hasattr(form, name)}
        fields["intervention_at"] = _to_utc(form.intervention_at.data)
        fields["resolved_at"] = _to_utc(form.resolved_at.data)
        fields.pop("requested_at", None)
        iv.update_report(report, **fields)

    return _apply(report, save, ReportForm(), done=_("Rapport enregistré."))


@bp.post("/<int:report_id>/lines")
@staff_required
def add_line(report_id):
    report = get_report_or_404(report_id)

    def add(form):
        iv.add_line(report, current_user, form.kind.data, label=form.label.data,
                    minutes=None if form.to_estimate.data else (form.minutes.data or 0),
                    km=form.km.data or Decimal(0),
                    quantity=form.quantity.data if form.quantity.data is not None else Decimal(1),
                    unit_price=form.unit_price.data or Decimal(0), billable=form.billable.data)

    # ValueError: a quantity or price that billing refuses (BillingError), shown like any refusal.
    return _apply(report, add, LineForm(), "lines", refusals=(iv.ReportError, ValueError))


@bp.post("/<int:report_id>/lines/<int:line_id>/complete")
@staff_required
def complete_line(report_id, line_id):
    report = get_report_or_404(report_id)
    line = get_line_or_404(report, line_id)
    return _apply(report, lambda form: iv.complete_line(line, current_user, form.minutes.data), CompleteLineForm(),
                  "lines")


@bp.post("/<int:report_id>/lines/<int:line_id>/delete")
@staff_required
def delete_line(report_id, line_id):
    report = get_report_or_404(report_id)
    line = get_line_or_404(report, line_id)
    return _apply(report, lambda _form: iv.remove_line(line), anchor="lines")


@bp.post("/<int:report_id>/handover")
@staff_required
def handover(report_id):
    report = get_report_or_404(report_id)
    form = HandoverForm()
    form.to_user.choices = _technicians()
    return _apply(report, lambda form: iv.hand_over(report, current_user, db.session.get(User, form.to_user.data),
                                                    form.note.data), form, done=_("Rapport transmis."))


@bp.post("/<int:report_id>/intake")
@staff_required
def intake(report_id):
    report = get_report_or_404(report_id)
    return _apply(report, lambda form: iv.record_intake(report, current_user, form.reason.data), IntakeForm(),
                  "workshop")


@bp.post("/<int:report_id>/intake/<int:intake_id>/backup")
@staff_required
def confirm_backup(report_id, intake_id):
    report = get_report_or_404(report_id)
    found = get_intake_or_404(report, intake_id)
    return _apply(report, lambda _form: iv.confirm_backup(found, current_user), anchor="workshop")


@bp.post("/<int:report_id>/intake/<int:intake_id>/return")
@staff_required
def record_return(report_id, intake_id):
    report = get_report_or_404(report_id)
    found = get_intake_or_404(report, intake_id)
    return _apply(report, lambda form: iv.record_return(found, current_user, form.returned_to.data), ReturnForm(),
                  "workshop")


@bp.get("/<int:report_id>/intake/<int:intake_id>/label.pdf")
@staff_required
def label(report_id, intake_id):
    report = get_report_or_404(report_id)
    found = get_intake_or_404(report, intake_id)
    return _pdf_response(render_label_pdf(found, _settings()), f"etiquette-{report.number}.pdf")


@bp.route("/<int:report_id>/sign/<role>", methods=["GET", "POST"])
@staff_required
def sign(report_id, role):
    report = get_report_or_404(report_id)
    if role not in {r.value for r in SignatureRole}:
        abort(404)
    form = SignatureForm()
    if role == SignatureRole.TECHNICIAN.value and request.method == "GET":
        form.signatory_name.data = current_user.name
    if form.validate_on_submit():
        try:
            signatures.sign(report, SignatureRole(role), form.signatory_name.data, form.signature.png, current_user,
                            _settings(), render_report_pdf)
            if report.status == ReportStatus.SIGNED:
                mail_signed_report(report)
        except iv.ReportError as exc:
            _refused(exc)
            return redirect(url_for("interventions.sign", report_id=report.id, role=role))
        db.session.commit()
        flash(_("Rapport signé et verrouillé.") if report.frozen else _("Signature enregistrée."))
        return _back(report)
    if request.method == "POST":
        _flash_form_errors(form)
    return render_template("reports/sign.html", report=report, role=role, form=form,
                           bill=iv.compute_report_bill(report, _settings(), preview=True),
                           fmt_minutes=fmt_minutes, fmt_money=fmt_money, kind_label=kind_label)


@bp.post("/<int:report_id>/revision")
@staff_required
def revision(report_id):
    report = get_report_or_404(report_id)
    return _apply(report, lambda form: signatures.create_revision(report, current_user, form.reason.data),
                  RevisionForm(), done=_("Nouvelle version ouverte : elle remplacera la version signée une fois "
                                         "signée à son tour."))


@bp.get("/<int:report_id>/report.pdf")
@staff_required
def report_pdf(report_id):
    report = get_report_or_404(report_id)
    data = report.pdf if report.pdf is not None else render_report_pdf(report, _settings())
    suffix = "" if report.pdf is not None else "-brouillon"
    return _pdf_response(data, f"rapport-{report.number}-v{report.version}{suffix}.pdf")


def _pdf_response(data: bytes, filename: str, mimetype: str = "application/pdf") -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/assets/<int:asset_id>")
@staff_required
def asset_history(asset_id):
    asset = db.session.get(Asset, asset_id)
    if asset is None:
        abort(404)
    tickets = db.session.execute(db.select(Ticket).where(Ticket.asset_id == asset.id)
                                 .order_by(Ticket.created_at.desc())).scalars().all()
    reports = db.session.execute(db.select(Intervention).where(Intervention.asset_id == asset.id)
                                 .order_by(Intervention.id.desc())).scalars().all()
    return render_template("reports/asset.html", asset=asset, tickets=tickets, reports=reports)


@bp.route("/statements", methods=["GET", "POST"])
@staff_required
def statement_index():
    form = StatementForm()
    form.organisation.choices = _organisations()
    if form.validate_on_submit():
        org = db.session.get(Organisation, form.organisation.data)
        try:
            year, month = statements.parse_period(form.period.data)
        except statements.StatementError as exc:
            flash(str(exc), "error")
        else:
            built = statements.build_statement(org, year, month, _settings())
            db.session.commit()
            flash(_("Relevé %(period)s établi : %(n)s rapport(s).", period=built.period, n=built.report_count))
            return redirect(url_for("interventions.statement_index"))
    elif request.method == "POST":
        _flash_form_errors(form)
    rows = db.session.execute(db.select(Statement).order_by(Statement.period.desc(), Statement.id.desc())
                              .limit(LIST_LIMIT)).scalars().all()
    return render_template("reports/statements.html", form=form, statements=rows, fmt_money=fmt_money,
                           button=EmptyForm())


def _statement_or_404(statement_id: int) -> Statement:
    found = db.session.get(Statement, statement_id)
    if found is None:
        abort(404)
    return found


def _statement_name(found: Statement, ext: str) -> str:
    return f"releve-{found.organisation.client_number or found.organisation_id}-{found.period}.{ext}"


@bp.get("/statements/<int:statement_id>.pdf")
@staff_required
def statement_pdf(statement_id):
    found = _statement_or_404(statement_id)
    return _pdf_response(found.pdf, _statement_name(found, "pdf"))


@bp.get("/statements/<int:statement_id>.csv")
@staff_required
def statement_csv(statement_id):
    found = _statement_or_404(statement_id)
    return _pdf_response(found.csv, _statement_name(found, "csv"), "text/csv; charset=utf-8")
