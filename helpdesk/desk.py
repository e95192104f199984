"""The referent desk (blueprint `desk`): the queue, a ticket's page and every action on it."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from . import access, conversation, files, ingestion, menus, outbox, queue, triage, workflow
from .auth import safe_next, staff_required
from .extensions import db
from .forms import (BULK_NOTE_MAX, ActionForm, AssignForm, BulkForm, DeskReplyForm, EditTicketForm, MergeForm,
                    StatusForm, options, upload_error, uploads)
from .models import InboundMail, InboundOutcome, OutboundMail, OutboundStatus, Priority, Status, Ticket, User

bp = Blueprint("desk", __name__, url_prefix="/desk")

PRIORITY_LABELS = {Priority.LOW: _l("basse"), Priority.NORMAL: _l("normale"), Priority.HIGH: _l("haute"),
                   Priority.URGENT: _l("urgente")}


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 12 else None


def _menus() -> menus.Menus:
    """The menu lists of this process, at most menu_cache_seconds old (see helpdesk.menus)."""
    return menus.current_menus(current_app.config["HELPDESK"]["menu_cache_seconds"])


def _filters_from_args() -> tuple[queue.QueueFilters, str]:
    status_arg = request.args.get("status", "open")
    if status_arg == "all":
        statuses = tuple(Status)
    elif status_arg in {s.value for s in Status}:
        statuses = (Status(status_arg),)
    else:
        status_arg, statuses = "open", queue.OPEN_STATUSES
    assignee = request.args.get("assignee", "")
    assignee_id = queue.NO_ASSIGNEE if assignee == "none" else (
        current_user.id if assignee == "me" else _int_arg("assignee"))
    filters = queue.QueueFilters(
        statuses=statuses, assignee_id=assignee_id, category_id=_int_arg("category"),
        location_id=_int_arg("location"), organisation_id=_int_arg("organisation"),
        text=request.args.get("q", "")[:queue.SEARCH_MAX],
    )
    return filters, status_arg


def _status_choices():
    return [(s.value, workflow.status_label(s)) for s in Status]


def _staff_choices(blank, staff: menus.Pairs):
    return [(0, blank)] + list(staff)


@bp.get("/", endpoint="queue")
@staff_required
def queue_page():
    filters, status_arg = _filters_from_args()
    page = queue.desk_queue(filters, current_app.config["HELPDESK"]["page_size"],
                            before=_int_arg("before"), after=_int_arg("after"))
    args = {k: v for k, v in request.args.items() if k not in ("before", "after") and v}
    return render_template("desk/queue.html", page=page, filters=filters, status_arg=status_arg, args=args,
                           menus=_menus(), status_options=_status_choices(),
                           bulk_note_max=BULK_NOTE_MAX)


def _back(ticket: Ticket):
    return redirect(url_for("desk.ticket", ticket_id=ticket.id))


def _ticket_forms(ticket: Ticket) -> dict:
    lists = _menus()
    status = StatusForm(formdata=None)
    status.status.choices = options([(s.value, workflow.status_label(s)) for s in Status
                                     if workflow.can_move(ticket.status, s)])
    assign = AssignForm(formdata=None, assignee_id=ticket.assignee_id or 0)
    assign.assignee_id.choices = options(_staff_choices(_("personne"), lists.staff))
    edit = EditTicketForm(formdata=None, category_id=ticket.category_id or 0, priority=ticket.priority.value,
                          location_id=ticket.location_id or 0, asset_id=ticket.asset_id or 0)
    _edit_choices(edit, lists)
    return {"failed_mails": outbox.problems_for_ticket(ticket.id), "status_form": status, "assign_form": assign,
            "edit_form": edit, "reply_form": DeskReplyForm(), "merge_form": MergeForm(formdata=None),
            "action_form": ActionForm()}


def _edit_choices(form: EditTicketForm, lists: menus.Menus) -> None:
    form.category_id.choices = options([(0, "—")] + list(lists.categories))
    form.priority.choices = options([(p.value, PRIORITY_LABELS[p]) for p in Priority])
    form.location_id.choices = options([(0, "—")] + list(lists.locations))
    form.asset_id.choices = options([(0, "—")] + list(lists.assets))


@bp.get("/tickets/<int:ticket_id>")
@staff_required
def ticket(ticket_id):
    ticket = access.ticket_for_staff_or_404(ticket_id)
    return render_template("desk/ticket.html", ticket=ticket, **_ticket_forms(ticket))


@bp.post("/tickets/<int:ticket_id>/take")
@staff_required
def take(ticket_id):
    ticket = access.ticket_for_staff_or_404(ticket_id)
    if ActionForm().validate_on_submit():
        triage.take(ticket, current_user)
        db.session.commit()
        flash(_("Ticket pris en charge."))
    return _back(ticket)


@bp.post("/tickets/<int:ticket_id>/status")
@staff_required
def change_status(ticket_id):
    ticket = access.ticket_for_staff_or_404(ticket_id)
    form = StatusForm()
    form.status.choices = options(_status_choices())
    if form.validate_on_submit():
        try:
            workflow.transition(ticket, form.status.data, actor=current_user, note=form.note.data or "",
                                note_public=not form.internal.data)
        except workflow.TransitionRefused:
            db.session.rollback()
            flash(_("Ce changement de statut n'est pas possible."), "error")
            return _back(ticket)
        db.session.commit()
        flash(_("Statut mis à jour."))
    return _back(ticket)


@bp.post("/tickets/<int:ticket_id>/messages")
@staff_required
def add_message(ticket_id):
    ticket = access.ticket_for_staff_or_404(ticket_id)
    form = DeskReplyForm()
    if form.validate_on_submit():
        try:
            conversation.add_staff_message(ticket, current_user, form.body.data, public=not form.internal.data,
                                           uploads=uploads(form.attachments))
        except (files.AttachmentTooLarge, conversation.TooManyFiles) as exc:
            db.session.rollback()
            flash(upload_error(exc), "error")
            return _back(ticket)
        db.session.commit()
        flash(_("Note interne ajoutée.") if form.internal.data else _("Réponse envoyée."))
    else:
        flash(_("Le message est vide ou trop long."), "error")
    return _back(ticket)


@bp.post("/tickets/<int:ticket_id>/assign")
@staff_required
def assign(ticket_id):
    ticket = access.ticket_for_staff_or_404(ticket_id)
    form = AssignForm()
    form.assignee_id.choices = options(_staff_choices("", menus.read_staff()))
    if form.validate_on_submit():
        assignee = db.session.get(User, form.assignee_id.data) if form.assignee_id.data else None
        triage.assign(ticket, assignee, current_user, form.note.data or "")
        db.session.commit()
        flash(_("Ticket confié."))
    else:
        flash(_("Référent inconnu."), "error")
    return _back(ticket)


@bp.post("/tickets/<int:ticket_id>/edit")
@staff_required
def edit(ticket_id):
    ticket = access.ticket_for_staff_or_404(ticket_id)
    form = EditTicketForm()
    _edit_choices(form, menus.read_menus())
    if form.validate_on_submit():
        triage.update_fields(ticket, category_id=form.category_id.data or None, priority=Priority(form.priority.data),
                             location_id=form.location_id.data or None, asset_id=form.asset_id.data or None)
        db.session.commit()
        flash(_("Ticket modifié."))
    else:
        flash(_("Valeur inconnue."), "error")
    return _back(ticket)


@bp.post("/tickets/<int:ticket_id>/merge")
@staff_required
def merge(ticket_id):
    ticket = access.ticket_for_staff_or_404(ticket_id)
    form = MergeForm()
    if form.validate_on_submit():
        number = form.target.data.strip().lstrip("#")
        target = db.session.get(Ticket, int(number)) if number.isdigit() and len(number) < 12 else None
        if target is None:
            flash(_("Ticket cible introuvable."), "error")
            return _back(ticket)
        try:
            triage.merge(ticket, target, current_user)
        except (triage.TriageRefused, workflow.TransitionRefused) as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return _back(ticket)
        db.session.commit()
        flash(_("Ticket fusionné dans le n°%(number)d.", number=target.number))
        return _back(target)
    return _back(ticket)


@bp.post("/bulk")
@staff_required
def bulk():
    form = BulkForm()
    form.status.choices = options([("", "—")] + _status_choices())
    form.assignee_id.choices = options(_staff_choices("—", menus.read_staff()) + [(-1, "")])
    ids = [int(v) for v in request.form.getlist("ticket") if v.isdigit() and len(v) < 12][:500]
    if not form.validate_on_submit() or not ids:
        flash(_("Sélectionnez au moins un ticket."), "error")
        return redirect(url_for("desk.queue"))
    tickets = db.session.execute(db.select(Ticket).where(Ticket.id.in_(ids))).scalars().all()
    assignee = db.session.get(User, form.assignee_id.data) if form.assignee_id.data and form.assignee_id.data > 0 \
        else None
    try:
        result = triage.bulk_apply(tickets, current_user, status=Status(form.status.data) if form.status.data else None,
                                   assignee=assignee, unassign=form.assignee_id.data == -1, note=form.note.data or "")
    except triage.TriageRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("desk.queue"))
    db.session.commit()
    flash(_("%(count)d ticket(s) modifié(s).", count=len(result.changed)))
    if result.refused:
        flash(_("Refusé pour : %(numbers)s.", numbers=", ".join(f"#{n}" for n, _reason in result.refused)), "error")
    return redirect(safe_next(request.form.get("back")) or url_for("desk.queue"))


MAIL_PROBLEMS_SHOWN = 200




@bp.get("/mail")
@staff_required
def mail_problems():
    """Outgoing mails that gave up and incoming mails in quarantine, with their reasons."""
    quarantined = db.session.execute(
        db.select(InboundMail).where(InboundMail.outcome == InboundOutcome.QUARANTINED)
        .order_by(InboundMail.id.desc()).limit(MAIL_PROBLEMS_SHOWN)).scalars().all()
    failed = outbox.list_mails(status=OutboundStatus.FAILED, limit=MAIL_PROBLEMS_SHOWN)
    return render_template("desk/mail.html", failed=failed, quarantined=quarantined,
                           action_form=ActionForm())


@bp.post("/mail/in/<int:inbound_id>/replay")
@staff_required
def replay_inbound(inbound_id):
    row = db.session.get(InboundMail, inbound_id)
    if row is None:
        abort(404)
    if ActionForm().validate_on_submit():
        try:
            result = ingestion.replay(row.id, ingestion.IngestConfig.from_settings(current_app.config["HELPDESK"]))
        except (LookupError, ValueError) as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("desk.mail_problems"))
        db.session.commit()
        if result.outcome == InboundOutcome.QUARANTINED:
            flash(_("Toujours en quarantaine : %(reason)s", reason=result.reason), "error")
        else:
            flash(_("Message rejoué : %(outcome)s.", outcome=result.outcome.value))
    return redirect(url_for("desk.mail_problems"))


@bp.post("/mail/out/<int:outbound_id>/retry")
@staff_required
def retry_outbound(outbound_id):
    """Queue a failed mail again (same bytes, same Message-ID); the worker sends it on its next pass."""
    row = db.session.get(OutboundMail, outbound_id)
    if row is None:
        abort(404)
    if ActionForm().validate_on_submit():
        try:
            outbox.retry(row.id)
        except outbox.OutboxError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("desk.mail_problems"))
        db.session.commit()
        flash(_("Message remis en file d'envoi."))
    return redirect(url_for("desk.mail_problems"))
