"""The page a rating link of the closing mail opens: the chosen score, an optional comment, one button.

No sign-in: the signed link is the credential. Opening the page records nothing (see helpdesk.ratings).
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import RadioField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length

from .extensions import db
from .models import SCORE_MAX, SCORE_MIN
from .ratings import COMMENT_MAX, SCORES, RatingRefused, check_rating_link, parse_score, record_rating

bp = Blueprint("ratings", __name__, url_prefix="/rate")

# Refusals answer with a clear page and a status a mail client or a scanner understands.
REFUSAL_STATUS = {RatingRefused.INVALID: 400, RatingRefused.BAD_SCORE: 400, RatingRefused.EXPIRED: 410,
                  RatingRefused.USED: 409}


class RatingForm(FlaskForm):
    score = RadioField(_l("Votre note"), choices=[SelectChoice(str(s)) for s in SCORES],
                       validators=[DataRequired()])
    comment = TextAreaField(_l("Un commentaire (facultatif)"), validators=[Length(max=COMMENT_MAX)])


def _refusal(reason: str):
    messages = {
        RatingRefused.INVALID: _("Ce lien de notation n'est pas valide pour ce ticket."),
        RatingRefused.BAD_SCORE: _("La note doit être un nombre de %(min)s à %(max)s.", min=SCORE_MIN, max=SCORE_MAX),
        RatingRefused.EXPIRED: _("Ce lien de notation a expiré."),
        RatingRefused.USED: _("Ce ticket a déjà été noté. Merci !"),
    }
    return render_template("ratings/refused.html", message=messages[reason]), REFUSAL_STATUS[reason]


@bp.route("/<int:ticket_id>/<token>", methods=["GET", "POST"])
def rate(ticket_id: int, token: str):
    settings = current_app.config["HELPDESK"]
    try:
        change = check_rating_link(settings["secret_key"], ticket_id, token, settings["stats_rating_link_days"])
    except RatingRefused as exc:
        return _refusal(exc.reason)
    form = RatingForm()
    if request.method == "GET" and request.args.get("score"):
        try:
            form.score.data = str(parse_score(request.args["score"]))
        except RatingRefused as exc:
            return _refusal(exc.reason)
    if form.validate_on_submit():
        try:
            record_rating(change, int(form.score.data), form.comment.data or "")
            db.session.commit()
        except RatingRefused as exc:
            db.session.rollback()
            return _refusal(exc.reason)
        except IntegrityError:  # the same link submitted twice at once: the unique key let one through
            db.session.rollback()
            return _refusal(RatingRefused.USED)
        return render_template("ratings/thanks.html", ticket=change.ticket, score=int(form.score.data))
    status = 400 if form.errors else 200
    return render_template("ratings/rate.html", form=form, ticket=change.ticket), status
