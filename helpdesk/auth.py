"""Who is signed in: Flask-Login wiring, access decorators, and the sign-in pages (blueprint `auth`).

Sessions name "<user id>:<session version>" (User.get_id); signing out bumps the version, so the
cookie is dead on the server even if someone kept a copy. Sign-in, link and reset forms answer
the same way for known and unknown addresses; failures are counted per account and per client
address (helpdesk.signin) and block further tries for a while.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_required, login_user, logout_user

from . import notifications, signin, users
from .extensions import db
from .forms import AddressForm, ConfirmForm, LoginForm, LogoutForm, NewPasswordForm
from .models import Role, TokenPurpose, User, utcnow

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__, url_prefix="/auth")


def init_login(login_manager: LoginManager) -> None:
    """Tell Flask-Login how to load users and where the sign-in page is."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        return signin.load_session_user(session_id)


def staff_required(view):
    """Referents and admins only; others get 403."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_staff:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    """Admins only; others get 403."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.role != Role.ADMIN:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def safe_next(target: str | None) -> str | None:
    """A local path to go back to after sign-in, or None (no open redirect to another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _settings() -> dict:
    return current_app.config["HELPDESK"]


def _throttle_policies() -> dict[str, signin.ThrottlePolicy]:
    s = _settings()
    window, lockout = timedelta(minutes=s["login_window_minutes"]), timedelta(minutes=s["login_lockout_minutes"])
    return {
        "account": signin.ThrottlePolicy(s["login_max_failures_account"], window, lockout),
        "ip": signin.ThrottlePolicy(s["login_max_failures_ip"], window, lockout),
    }


def _external_url(endpoint: str, **values) -> str:
    """An absolute URL on the configured base_url (mails are read outside any request)."""
    return _settings()["base_url"].rstrip("/") + url_for(endpoint, **values)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("portal.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    status = 200
    if form.validate_on_submit():
        keys = signin.throttle_keys(form.email.data, request.remote_addr)
        if signin.blocked_until(keys):
            flash(_("Trop de tentatives. Réessayez dans quelques minutes."), "error")
            status = 429
        else:
            user = signin.authenticate(form.email.data, form.password.data)
            if user is not None:
                signin.clear_failures(keys[0])
                login_user(user)
                db.session.commit()
                log.info("sign-in: user %s with password", user.id)
                return redirect(safe_next(form.next.data) or url_for("portal.home"))
            policies = _throttle_policies()
            for key in keys:
                signin.record_failure(key, policies[key.partition(":")[0]])
            db.session.commit()
            flash(_("Adresse ou mot de passe incorrect."), "error")
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form, link_form=AddressForm()), status


@bp.post("/logout")
@login_required
def logout():
    form = LogoutForm()
    if not form.validate_on_submit():
        abort(400)
    signin.end_sessions(current_user._get_current_object())
    db.session.commit()
    logout_user()
    flash(_("Vous êtes déconnecté."))
    return redirect(url_for("auth.login"))


def _send_link(purpose: TokenPurpose, address: str) -> None:
    """Mail a sign-in or reset link when the address belongs to someone who may have one."""
    s = _settings()
    user = signin.user_for_address(address)
    if user is None or not user.is_active:
        return
    if purpose == TokenPurpose.SIGN_IN and user.role != Role.REQUESTER:
        return  # staff sign in with a password; a mailbox alone must not open the desk
    if signin.recent_token_count(user, purpose, utcnow() - timedelta(hours=1)) >= s["links_per_hour"]:
        log.warning("sign-in: link limit reached for user %s", user.id)
        return
    if purpose == TokenPurpose.SIGN_IN:
        minutes, endpoint = s["sign_in_link_minutes"], "auth.link"
    else:
        minutes, endpoint = s["password_reset_minutes"], "auth.reset"
    raw = signin.issue_token(user, purpose, timedelta(minutes=minutes))
    send = notifications.sign_in_link if purpose == TokenPurpose.SIGN_IN else notifications.password_reset
    send(user, _external_url(endpoint, token=raw))


@bp.post("/link")
def request_link():
    form = AddressForm()
    if not form.validate_on_submit():
        flash(_("Indiquez votre adresse e-mail."), "error")
        return redirect(url_for("auth.login"))
    _send_link(TokenPurpose.SIGN_IN, form.email.data)
    db.session.commit()
    flash(_("Si cette adresse est connue, un lien de connexion vient d'y être envoyé. "
            "Il est valable %(minutes)d minutes.", minutes=_settings()["sign_in_link_minutes"]))
    return redirect(url_for("auth.login"))


@bp.route("/link/<token>", methods=["GET", "POST"])
def link(token):
    form = ConfirmForm()
    if request.method == "GET":
        valid = signin.peek_token(token, TokenPurpose.SIGN_IN) is not None
        return render_template("auth/link.html", form=form, valid=valid), (200 if valid else 410)
    if not form.validate_on_submit():
        abort(400)
    user = signin.consume_token(token, TokenPurpose.SIGN_IN)
    if user is None:
        db.session.rollback()
        return render_template("auth/link.html", form=form, valid=False), 410
    login_user(user)
    db.session.commit()
    log.info("sign-in: user %s with a mailed link", user.id)
    return redirect(url_for("portal.home"))


@bp.route("/reset", methods=["GET", "POST"])
def reset_request():
    form = AddressForm()
    if form.validate_on_submit():
        _send_link(TokenPurpose.RESET, form.email.data)
        db.session.commit()
        flash(_("Si cette adresse est connue, un lien pour choisir un mot de passe vient d'y être envoyé."))
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form), (400 if request.method == "POST" else 200)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token):
    form = NewPasswordForm()
    if signin.peek_token(token, TokenPurpose.RESET) is None:
        return render_template("auth/reset.html", form=form, valid=False), 410
    if form.validate_on_submit():
        user = signin.consume_token(token, TokenPurpose.RESET)
        if user is None:
            db.session.rollback()
            return render_template("auth/reset.html", form=form, valid=False), 410
        users.set_password(user, form.password.data)
        signin.end_sessions(user)  # whoever knew the old password is out
        signin.clear_failures(signin.throttle_keys(user.email, None)[0])
        db.session.commit()
        flash(_("Mot de passe enregistré. Vous pouvez vous connecter."))
        return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form, valid=True), (400 if request.method == "POST" else 200)
