"""User accounts: creation by admins and scripts, passwords."""
from __future__ import annotations

from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .models import Organisation, Role, User
from .tickets import find_user, normalise_email

# scrypt with werkzeug's work factors: memory-hard, no extra dependency.
PASSWORD_METHOD = "scrypt"
PASSWORD_MIN_LENGTH = 8


class UserExists(ValueError):
    """A user with that address already exists."""


def set_password(user: User, password: str) -> None:
    user.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)


def check_password(user: User, password: str) -> bool:
    """True when password matches; False for users who have none (passwordless requesters)."""
    if not user.password_hash:
        return False
    return check_password_hash(user.password_hash, password)


def create_user(
    email: str,
    role: Role,
    display_name: str = "",
    password: str | None = None,
    language: str = "fr",
    organisation: Organisation | None = None,
) -> User:
    """Add a user; raises UserExists or tickets.InvalidAddress."""
    address = normalise_email(email)
    if find_user(address) is not None:
        raise UserExists(f"a user with address {address} already exists")
    user = User(
        email=address, role=role, display_name=display_name, language=language,
        organisation=organisation,
    )
    if password:
        set_password(user, password)
    db.session.add(user)
    db.session.flush()
    return user
