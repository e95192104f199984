"""The rows of the ticket lists (desk queue, requester's list), written in one pass per page.

Rows were about 40 % of a queue page's CPU as a Jinja loop: some twenty escaped outputs, a filter
call and a locale lookup per row (docs/benchmarks.md). Here each text is escaped once, numbers and
status values (our own enums) need no escaping, and the date format is looked up once per page.
The markup is the one the templates wrote; change it here, not in the templates.
"""
from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from markupsafe import Markup, escape

from . import i18n, workflow
from .models import Status
from .queue import Row

QUEUE_ROW = (
    '<tr class="prio-{prio}">'
    '<td><input type="checkbox" name="ticket" value="{id}" form="bulk" aria-label="#{id}"></td>'
    '<td class="num">#{id}</td>'
    '<td class="subject"><a href="{path}{id}">{subject}</a></td>'
    '<td><span class="badge status-{status}">{status_label}</span></td>'
    '<td data-label="{l_requester}">{requester}{organisation}</td>'
    '<td data-label="{l_assignee}">{assignee}</td>'
    '<td data-label="{l_category}">{category}</td>'
    '<td data-label="{l_location}">{location}</td>'
    '<td><time datetime="{iso}">{created}</time></td>'
    '</tr>\n'
)

REQUESTER_ROW = (
    '<li><a href="{path}{id}"><span class="num">#{id}</span> {subject}</a>'
    '<span class="meta"><span class="badge status-{status}">{status_label}</span> '
    '{requester}<time datetime="{iso}">{updated}</time></span></li>\n'
)


def _status_labels() -> dict[Status, str]:
    return {s: str(escape(workflow.status_label(s))) for s in Status}


def queue_rows(rows: Iterable[Row], ticket_path: str, labels: tuple[str, str, str, str]) -> Markup:
    """The desk queue's <tr> rows; labels are the data-label texts (requester, assignee, category, location)."""
    names, short = _status_labels(), i18n.short_datetime_format()
    l_requester, l_assignee, l_category, l_location = (str(escape(label)) for label in labels)
    path = str(escape(ticket_path))
    return Markup("".join(QUEUE_ROW.format(
        prio=t.priority.value, id=t.id, path=path, subject=escape(t.subject), status=t.status.value,
        status_label=names[t.status], l_requester=l_requester, requester=escape(t.requester_name),
        organisation=f" <small>· {escape(t.organisation_name)}</small>" if t.organisation_name else "",
        l_assignee=l_assignee, assignee=escape(t.assignee_name or "—"), l_category=l_category,
        category=escape(t.category_name), l_location=l_location, location=escape(t.location_name),
        iso=t.created_at.isoformat(), created=short(t.created_at)) for t in rows))


def requester_rows(rows: Iterable[Row], ticket_path: str, me: int) -> Markup:
    """The requester's list <li> rows; a ticket opened by someone else (an organisation manager's view) names them."""
    names, short = _status_labels(), i18n.short_datetime_format()
    path = str(escape(ticket_path))
    return Markup("".join(REQUESTER_ROW.format(
        path=path, id=t.id, subject=escape(t.subject), status=t.status.value, status_label=names[t.status],
        requester="" if t.requester_id == me else f"<span>{escape(t.requester_name)}</span> ",
        iso=t.updated_at.isoformat(), updated=short(t.updated_at)) for t in rows))


def init_templates(app: Flask) -> None:
    """Make queue_rows() and requester_rows() available to every template."""
    app.jinja_env.globals["queue_rows"] = queue_rows
    app.jinja_env.globals["requester_rows"] = requester_rows
