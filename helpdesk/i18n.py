"""Which language and time zone a page or a mail is written in. French first."""
from __future__ import annotations

from flask import current_app, has_request_context
from flask_login import current_user

LANGUAGES = ("fr", "en")


def select_locale() -> str:
    """The signed-in user's language, else the configured default."""
    if has_request_context() and getattr(current_user, "is_authenticated", False):
        if current_user.language in LANGUAGES:
            return current_user.language
    return current_app.config["HELPDESK"]["default_language"]


def select_timezone() -> str:
    return current_app.config["HELPDESK"]["timezone"]
