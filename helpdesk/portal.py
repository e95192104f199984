"""The requester portal (blueprint `portal`): home, my tickets, a ticket's page, replies, new tickets.

Also the two routes shared with the desk that serve what came in by mail: a message's sanitised
HTML (shown in a sandboxed iframe, with its own strict CSP) and attachments (always downloads).
"""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, send_file,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from . import access, conversation, files, queue
from .extensions import db
from .forms import NewTicketForm, ReplyForm, options, upload_error, uploads
from .models import Location, Source
from .security import DOWNLOAD_CSP, MAIL_HTML_CSP
from .tickets import open_ticket

bp = Blueprint("portal", __name__)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 12 else None


@bp.get("/")
def home():
    """Requesters go to their tickets, staff to the queue, visitors to the sign-in page."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.is_staff:
        return redirect(url_for("desk.queue"))
    return redirect(url_for("portal.my_tickets"))


@bp.get("/my/tickets")
@login_required
def my_tickets():
    ended = request.args.get("show") == "closed"
    page = queue.requester_list(access.visible_to_requester(current_user), ended,
                                current_app.config["HELPDESK"]["page_size"],
                                before=_int_arg("before"), after=_int_arg("after"))
    return render_template("portal/list.html", page=page, ended=ended)


def _location_choices():
    locations = db.session.execute(
        db.select(Location).where(Location.active.is_(True),
                                  (Location.organisation_id == current_user.organisation_id)
                                  | Location.organisation_id.is_(None)).order_by(Location.name)
    ).scalars()
    return [(0, "—")] + [(loc.id, loc.name) for loc in locations]


@bp.route("/my/tickets/new", methods=["GET", "POST"])
@login_required
def new_ticket():
    form = NewTicketForm()
    form.location_id.choices = options(_location_choices())
    if form.validate_on_submit():
        ticket = open_ticket(current_user, form.subject.data, form.body.data, source=Source.WEB,
                             location_id=form.location_id.data or None)
        try:
            conversation.attach_uploads(ticket.messages[0], uploads(form.attachments))
        except (files.AttachmentTooLarge, conversation.TooManyFiles) as exc:
            db.session.rollback()
            form.attachments.errors = [upload_error(exc)]
            return render_template("portal/new.html", form=form), 400
        db.session.commit()
        flash(_("Votre demande n°%(number)d est enregistrée. Un accusé de réception vous est envoyé par e-mail.",
                number=ticket.number))
        return redirect(url_for("portal.ticket", ticket_id=ticket.id))
    return render_template("portal/new.html", form=form), (400 if form.errors else 200)


@bp.get("/my/tickets/<int:ticket_id>")
@login_required
def ticket(ticket_id):
    ticket = access.ticket_for_requester_or_404(current_user, ticket_id)
    return render_template("portal/ticket.html", ticket=ticket, form=ReplyForm(),
                           messages=conversation.public_messages(ticket))


@bp.post("/my/tickets/<int:ticket_id>/reply")
@login_required
def reply(ticket_id):
    ticket = access.ticket_for_requester_or_404(current_user, ticket_id)
    form = ReplyForm()
    if not form.validate_on_submit():
        flash(_("Le message est vide ou trop long."), "error")
        return render_template("portal/ticket.html", ticket=ticket, form=form,
                               messages=conversation.public_messages(ticket)), 400
    try:
        conversation.add_requester_reply(ticket, current_user, form.body.data, uploads(form.attachments))
    except (files.AttachmentTooLarge, conversation.TooManyFiles) as exc:
        db.session.rollback()
        flash(upload_error(exc), "error")
        return render_template("portal/ticket.html", ticket=ticket, form=form,
                               messages=conversation.public_messages(ticket)), 400
    db.session.commit()
    flash(_("Message envoyé."))
    return redirect(url_for("portal.ticket", ticket_id=ticket.id))


@bp.get("/messages/<int:message_id>/html")
@login_required
def message_html(message_id):
    """The sanitised HTML of a mail, for an <iframe sandbox>: no script, no network, no forms."""
    message = access.message_or_404(current_user, message_id)
    if not message.body_html:
        abort(404)
    response = make_response(render_template("portal/message_html.html", html=message.body_html))
    response.headers["Content-Security-Policy"] = MAIL_HTML_CSP
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id):
    """A stored file, always as a download: never rendered by the browser, whatever its type."""
    attachment = access.attachment_or_404(current_user, attachment_id)
    try:
        path = files.attachment_path(attachment)
    except FileNotFoundError:
        abort(404)
    response = send_file(path, mimetype="application/octet-stream", as_attachment=True,
                         download_name=attachment.filename, max_age=0, conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["Cache-Control"] = "private, no-store"
    return response
