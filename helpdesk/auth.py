"""Who is signed in: Flask-Login wiring and access decorators."""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import LoginManager, current_user, login_required

from .extensions import db
from .models import Role, User


def init_login(login_manager: LoginManager) -> None:
    """Tell Flask-Login how to load users and where the sign-in page is."""
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        try:
            return db.session.get(User, int(user_id))
        except ValueError:
            return None


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
