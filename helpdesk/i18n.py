"""Which language and time zone a page or a mail is written in, and the template helpers for both.

French first. Signed-in users get their own language; visitors the one they picked with the
language switch (kept in the session), else the configured default. Dates are stored in UTC and
shown in the configured time zone.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, current_app, g, has_request_context, redirect, session, url_for
from flask_babel import format_date, format_datetime, get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup

from . import workflow
from .auth import safe_next
from .extensions import db
from .forms import LanguageForm

LANGUAGES = ("fr", "en")
SESSION_KEY = "language"

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The signed-in user's language, else the visitor's choice, else the configured default."""
    if has_request_context():
        if getattr(current_user, "is_authenticated", False) and current_user.language in LANGUAGES:
            return current_user.language
        if session.get(SESSION_KEY) in LANGUAGES:
            return session[SESSION_KEY]
    return current_app.config["HELPDESK"]["default_language"]


def select_timezone() -> str:
    return current_app.config["HELPDESK"]["timezone"]


@bp.post("/language")
def switch_language():
    """Language switch: saved on the user when signed in, in the session otherwise."""
    form = LanguageForm()
    if form.validate_on_submit():
        session[SESSION_KEY] = form.language.data
        if current_user.is_authenticated:
            current_user.language = form.language.data
            db.session.commit()
    return redirect(safe_next(form.next.data) or url_for("portal.home"))


# Short date-times for lists and timelines, by language. Babel's format_datetime costs ~0.3 ms a call,
# which is most of a 50-row page; these patterns give the same "short" shape for a fraction of it.
SHORT_DATETIME = {"fr": "%d/%m/%Y %H:%M", "en": "%d %b %Y, %H:%M"}


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _short_format() -> tuple[ZoneInfo, str]:
    """The page's time zone and short date-time pattern, looked up once per request and locale."""
    locale = get_locale()
    cached = g.get("short_datetime") if g else None
    if cached is None or cached[0] is not locale:
        pattern = SHORT_DATETIME.get(str(locale), SHORT_DATETIME["fr"])
        cached = (locale, _zone(current_app.config["HELPDESK"]["timezone"]), pattern)
        if g:
            g.short_datetime = cached
    return cached[1], cached[2]


def short_datetime_format() -> Callable[[datetime | None], str]:
    """The page's short date-time formatting, its zone and pattern looked up now: for a list's rows."""
    zone, pattern = _short_format()
    return lambda value: value.astimezone(zone).strftime(pattern) if value else ""


def _datetime(value: datetime | None, fmt: str = "short") -> str:
    """A UTC timestamp shown in the configured time zone and the page's language."""
    if not value:
        return ""
    if fmt != "short":
        return format_datetime(value, fmt)
    zone, pattern = _short_format()
    return value.astimezone(zone).strftime(pattern)


def _isoformat(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _date(value, fmt: str = "medium") -> str:
    return format_date(value, fmt) if value else ""


def _page_translations():
    """The catalogue of the current locale, remembered on the request (force_locale gives another locale object)."""
    if not g:  # no app context: Flask-Babel's null catalogue
        return get_translations()
    locale = get_locale()
    cached = g.get("page_translations")
    if cached is None or cached[0] is not locale:
        cached = g.page_translations = (locale, get_translations())
    return cached[1]


def _install_gettext(app: Flask) -> None:
    # Flask-Babel's template callables look the catalogue up for every string (~8 µs through several
    # context lookups) and a desk page has about forty: these look it up once per request and locale.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _page_translations().ugettext(s),
        ngettext=lambda s, p, n: _page_translations().ungettext(s, p, n),
        pgettext=lambda c, s: _page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _page_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    # `_()` is most of a page's strings; Jinja's newstyle `_` goes through three context calls (its alias,
    # its gettext wrapper, ours). This does the same in one: translate, mark safe when autoescaping,
    # then fill the %(name)s variables (escaped, as Markup does).
    app.jinja_env.globals["_"] = _template_gettext


@pass_context
def _template_gettext(context, string: str, **variables) -> str:
    rv = _page_translations().ugettext(string)
    if context.eval_ctx.autoescape:
        rv = Markup(rv)
    return rv % variables


def init_templates(app: Flask) -> None:
    """Jinja filters and globals shared by every page (after babel.init_app: this replaces its gettext)."""
    _install_gettext(app)
    app.jinja_env.filters["datetime"] = _datetime
    app.jinja_env.filters["date"] = _date
    app.jinja_env.filters["isoformat"] = _isoformat  # a filter call is cheaper than a method call in Jinja
    app.jinja_env.globals["status_label"] = workflow.status_label
    app.jinja_env.globals["get_locale"] = get_locale

    # Globals (not a context processor) so that imported macros see them too.
    app.jinja_env.globals["has_endpoint"] = lambda name: name in app.view_functions
