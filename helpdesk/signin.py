"""Sign-in services: mailed single-use tokens, password checks, throttling, ending sessions.

Pure service code: no request, no settings; views pass the limits in. Tokens carry 256 random
bits and only their SHA-256 is stored; a token is consumed by one conditional UPDATE so two
clicks on the same link cannot both succeed.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from . import users
from .extensions import db
from .models import LoginThrottle, SignInToken, TokenPurpose, User, utcnow
from .tickets import InvalidAddress, find_user

log = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits, url-safe base64: 43 characters


@cache
def _dummy_hash() -> str:
    """Checked against when the address is unknown, so both answers take the same time.

    Made on first use, not at import: one scrypt hash costs 80-140 ms of CPU, and every process
    imports this module, the mail poller included, which never signs anyone in (docs/benchmarks.md,
    "Poller start-up").
    """
    return generate_password_hash("not-a-password", method=users.PASSWORD_METHOD)


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures a key may have in `window` before it is blocked for `lockout`."""

    max_failures: int
    window: timedelta
    lockout: timedelta


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()


def user_for_address(address: str) -> User | None:
    """The user with this address, or None for unknown or malformed addresses."""
    try:
        return find_user(address)
    except InvalidAddress:
        return None


def authenticate(address: str, password: str) -> User | None:
    """The active user whose address and password match, else None; same work either way."""
    user = user_for_address(address)
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not users.check_password(user, password or ""):
        return None
    return user if user.is_active else None


def end_sessions(user: User) -> None:
    """Sign the user out everywhere: every session cookie names an older session version."""
    user.session_version = (user.session_version or 1) + 1
    db.session.flush()


def load_session_user(session_id: str) -> User | None:
    """The user named by a session identifier "<id>:<version>", if the version is still current."""
    user_part, sep, version_part = (session_id or "").partition(":")
    if not sep or not user_part.isdigit() or not version_part.isdigit():
        return None
    user = db.session.get(User, int(user_part))
    if user is None or (user.session_version or 1) != int(version_part):
        return None
    return user


# --- tokens --------------------------------------------------------------------------------------

def issue_token(user: User, purpose: TokenPurpose, ttl: timedelta, now: datetime | None = None) -> str:
    """Create a single-use token for user and return it; only its hash is kept."""
    now = now or utcnow()
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    db.session.add(SignInToken(user=user, purpose=purpose, token_hash=hash_token(raw),
                               created_at=now, expires_at=now + ttl))
    db.session.flush()
    return raw


def recent_token_count(user: User, purpose: TokenPurpose, since: datetime) -> int:
    """How many tokens of this purpose the user was sent since a time (caps mail bombing)."""
    return db.session.execute(
        db.select(func.count()).select_from(SignInToken).where(
            SignInToken.user_id == user.id, SignInToken.purpose == purpose, SignInToken.created_at >= since)
    ).scalar_one()


def peek_token(raw: str, purpose: TokenPurpose, now: datetime | None = None) -> SignInToken | None:
    """The valid (unused, unexpired, active user) token for raw, without consuming it."""
    now = now or utcnow()
    if not raw or len(raw) > 200:
        return None
    token = db.session.execute(
        db.select(SignInToken).where(SignInToken.token_hash == hash_token(raw), SignInToken.purpose == purpose)
    ).scalar_one_or_none()
    if token is None or token.used_at is not None or token.expires_at <= now or not token.user.is_active:
        return None
    return token


def consume_token(raw: str, purpose: TokenPurpose, now: datetime | None = None) -> User | None:
    """Use a token once: return its user, or None when it is unknown, used, expired or the user is inactive."""
    now = now or utcnow()
    token = peek_token(raw, purpose, now)
    if token is None:
        return None
    claimed = db.session.execute(
        update(SignInToken).where(SignInToken.id == token.id, SignInToken.used_at.is_(None)).values(used_at=now)
    ).rowcount
    if claimed != 1:
        return None
    # Other outstanding tokens of the same purpose die with this one.
    db.session.execute(
        update(SignInToken).where(SignInToken.user_id == token.user_id, SignInToken.purpose == purpose,
                                  SignInToken.used_at.is_(None)).values(used_at=now)
    )
    db.session.expire(token)
    return token.user


# --- throttling ----------------------------------------------------------------------------------

def throttle_keys(address: str, remote_addr: str | None) -> list[str]:
    """The counters a sign-in attempt touches: the account (as typed, normalised) and the client address."""
    keys = [f"account:{(address or '').strip().lower()[:320]}"]
    if remote_addr:
        keys.append(f"ip:{remote_addr[:64]}")
    return keys


def blocked_until(keys: list[str], now: datetime | None = None) -> datetime | None:
    """The latest time until which one of the keys is blocked, or None when all may try."""
    now = now or utcnow()
    rows = db.session.execute(db.select(LoginThrottle).where(LoginThrottle.key.in_(keys))).scalars()
    until = [row.blocked_until for row in rows if row.blocked_until and row.blocked_until > now]
    return max(until) if until else None


def record_failure(key: str, policy: ThrottlePolicy, now: datetime | None = None) -> None:
    """Count a failed attempt for key; block it for policy.lockout once it reaches max_failures."""
    now = now or utcnow()
    row = db.session.get(LoginThrottle, key)
    if row is None:
        try:
            with db.session.begin_nested():
                row = LoginThrottle(key=key, failures=0, window_start=now)
                db.session.add(row)
        except IntegrityError:  # another request created it first
            row = db.session.get(LoginThrottle, key)
    if row.window_start + policy.window <= now:
        row.failures, row.window_start = 0, now
    row.failures += 1
    if row.failures >= policy.max_failures:
        row.blocked_until = now + policy.lockout
        row.failures, row.window_start = 0, now
        log.warning("sign-in: %s blocked until %s", key, row.blocked_until.isoformat())
    db.session.flush()


def clear_failures(key: str) -> None:
    """Forget the failures of a key (after a successful sign-in)."""
    row = db.session.get(LoginThrottle, key)
    if row is not None:
        db.session.delete(row)
        db.session.flush()
