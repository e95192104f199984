"""The small lists behind the desk's menus (categories, locations, organisations, assets, staff), kept per process.

The queue is the hottest page, and reading these lists was four queries of every view
(docs/benchmarks.md, "Portal and desk"). The rule: a web process reuses its lists for at most
`max_age` seconds (setting `menu_cache_seconds`), and any flush in this process that adds, changes
or deletes a category, location, organisation, asset or user empties them at once, and again when
that transaction commits (a request in another thread may have read them in between). So a change made
through this process shows on its next page, and a change made by another process (the second
gunicorn worker, the CLI) within `max_age` seconds. Forms that accept a posted value still check
it against the database, never against these lists.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from weakref import WeakKeyDictionary

from flask import Flask
from markupsafe import Markup, escape
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import db
from .models import Asset, Category, Location, Organisation, Role, User

TRACKED = (Asset, Category, Location, Organisation, User)

Pairs = tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Menus:
    """(id, name) pairs by name; plain values, safe to share between requests."""

    categories: Pairs
    locations: Pairs
    organisations: Pairs
    assets: Pairs  # labelled "name kind"
    staff: Pairs  # active referents and admins


# One entry per engine (each app has its own database): (loaded at, generation, menus).
_cache: WeakKeyDictionary = WeakKeyDictionary()
_generation = 0


def read_pairs(model) -> Pairs:
    """(id, name) of every row of a small named table, by name, read now."""
    return tuple(db.session.execute(db.select(model.id, model.name).order_by(model.name)).tuples())


def read_assets() -> Pairs:
    """(id, "name kind") of every asset, by name, read now."""
    rows = db.session.execute(db.select(Asset.id, Asset.name, Asset.kind).order_by(Asset.name))
    return tuple((asset_id, f"{name} {kind or ''}".strip()) for asset_id, name, kind in rows)


def read_staff() -> Pairs:
    """(id, name) of the active referents and admins, by name, read now."""
    rows = db.session.execute(
        db.select(User.id, User.display_name, User.email)
        .where(User.role.in_((Role.REFERENT, Role.ADMIN)), User.active.is_(True))
        .order_by(User.display_name, User.email))
    return tuple((user_id, name or email) for user_id, name, email in rows)


def read_menus() -> Menus:
    """Every list, read from the database now (what a post is checked against)."""
    return Menus(read_pairs(Category), read_pairs(Location), read_pairs(Organisation), read_assets(), read_staff())


def current_menus(max_age: float) -> Menus:
    """The lists, read again when older than max_age seconds or changed by this process since."""
    engine = db.engine
    now = time.monotonic()
    entry = _cache.get(engine)
    if entry is not None and entry[1] == _generation and now - entry[0] < max_age:
        return entry[2]
    generation = _generation  # taken before reading, so a change during the read is not lost
    menus = read_menus()
    _cache[engine] = (now, generation, menus)
    return menus


def forget() -> None:
    """Drop every cached list of this process (the next page reads them again)."""
    global _generation
    _generation += 1


@event.listens_for(Session, "after_flush")
def _forget_on_change(session, flush_context) -> None:
    # new/dirty/deleted still show what this flush wrote; a rollback afterwards only costs a reread.
    if any(isinstance(obj, TRACKED) for obj in chain(session.new, session.dirty, session.deleted)):
        session.info["menus_changed"] = True
        forget()


@event.listens_for(Session, "after_commit")
def _forget_on_commit(session) -> None:
    if session.info.pop("menus_changed", False):
        forget()


@event.listens_for(Session, "after_soft_rollback")
def _keep_on_rollback(session, previous_transaction) -> None:
    if not previous_transaction.nested:  # a savepoint's rollback leaves the outer changes
        session.info.pop("menus_changed", None)


def option_tags(pairs, selected=None) -> Markup:
    """The <option> elements of (value, label) pairs, the one whose value equals `selected` marked.

    One call instead of a template loop (the queue's menus have about a hundred options); each
    list is escaped once and kept while it is the current one.
    """
    chosen = None if selected is None else str(selected)
    return Markup("".join(f'<option value="{value}" selected>{label}</option>' if value == chosen
                          else f'<option value="{value}">{label}</option>' for value, label in _escaped(tuple(pairs))))


@lru_cache(maxsize=64)
def _escaped(pairs: tuple) -> tuple[tuple[str, str], ...]:
    return tuple((str(escape(value)), str(escape(label))) for value, label in pairs)


def init_templates(app: Flask) -> None:
    """Make option_tags() available to every template."""
    app.jinja_env.globals["option_tags"] = option_tags
