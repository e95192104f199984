"""The list rows written in one pass: every text escaped, the right links, labels and dates."""
from datetime import datetime, timezone

from flask_babel import force_locale

from helpdesk.models import Priority, Status
from helpdesk.queue import Row
from helpdesk.ticket_rows import queue_rows, requester_rows

HOSTILE = '<img src=x onerror=alert(1)>"&'
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;&#34;&amp;"
WHEN = datetime(2026, 1, 15, 13, 5, tzinfo=timezone.utc)


def row(**fields) -> Row:
    values = dict(id=42, subject=HOSTILE, status=Status.TAKEN, priority=Priority.HIGH, created_at=WHEN,
                  updated_at=WHEN, requester_id=7, requester_name=HOSTILE, assignee_name="", organisation_name=HOSTILE,
                  category_name=HOSTILE, location_name=HOSTILE)
    return Row(**{**values, **fields})


def test_queue_row_escapes_every_text_and_links_the_ticket(app):
    with app.test_request_context("/"):
        html = str(queue_rows([row()], "/desk/tickets/", ("Demandeur", "Réf<", "Catégorie", "Lieu")))
    assert "<img" not in html and html.count(ESCAPED) == 5  # subject, requester, organisation, category, location
    assert '<tr class="prio-high">' in html and 'value="42"' in html and '<a href="/desk/tickets/42">' in html
    assert 'data-label="Réf&lt;"' in html and ">—</td>" in html  # nobody assigned
    assert '<span class="badge status-taken">pris en charge</span>' in html
    assert '<time datetime="2026-01-15T13:05:00+00:00">15/01/2026 14:05</time>' in html  # Europe/Paris


def test_queue_row_without_organisation_has_no_separator(app):
    with app.test_request_context("/"):
        html = str(queue_rows([row(organisation_name="")], "/desk/tickets/", ("a", "b", "c", "d")))
    assert "<small>" not in html


def test_requester_row_names_the_requester_only_on_someone_elses_ticket(app):
    with app.test_request_context("/"):
        mine = str(requester_rows([row(requester_name="Alice")], "/my/tickets/", me=7))
        theirs = str(requester_rows([row(requester_name=HOSTILE)], "/my/tickets/", me=8))
        with force_locale("en"):
            english = str(requester_rows([row()], "/my/tickets/", me=7))
    assert "Alice" not in mine and '<a href="/my/tickets/42">' in mine and "<img" not in mine
    assert f"<span>{ESCAPED}</span>" in theirs and "<img" not in theirs
    assert "15 Jan 2026, 14:05" in english and ">taken<" in english
