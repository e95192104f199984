"""The status machine: every pair of statuses is either an allowed move or refused."""
import itertools

import pytest
from sqlalchemy import event

from helpdesk import notifications, workflow
from helpdesk.extensions import db
from helpdesk.models import OutboundMail, Status, StatusChange, Ticket
from tests.factories import make_referent, make_ticket

ALL_PAIRS = list(itertools.product(Status, Status))
ALLOWED_PAIRS = [(a, b) for a, b in ALL_PAIRS if b in workflow.ALLOWED[a]]
REFUSED_PAIRS = [(a, b) for a, b in ALL_PAIRS if b not in workflow.ALLOWED[a]]


def pair_id(pair):
    return f"{pair[0].value}->{pair[1].value}"


@pytest.fixture
def hook_calls(monkeypatch):
    """Record what the workflow hands to the notifications hook (the hook itself still runs)."""
    calls = []
    real = notifications.status_changed

    def spy(ticket, change):
        calls.append((ticket.id, change.from_status, change.to_status))
        return real(ticket, change)

    monkeypatch.setattr(notifications, "status_changed", spy)
    return calls


def test_table_covers_every_status():
    assert set(workflow.ALLOWED) == set(Status)
    # The product's path and its way out exist.
    assert Status.TAKEN in workflow.ALLOWED[Status.NEW]
    assert Status.IN_PROGRESS in workflow.ALLOWED[Status.TAKEN]
    assert Status.CLOSED in workflow.ALLOWED[Status.IN_PROGRESS]
    for status in (Status.NEW, Status.TAKEN, Status.IN_PROGRESS):
        assert Status.NO_ACTION in workflow.ALLOWED[status]
    # Reopening is in the table.
    assert workflow.ALLOWED[Status.CLOSED] and workflow.ALLOWED[Status.NO_ACTION]


@pytest.mark.parametrize("pair", ALLOWED_PAIRS, ids=pair_id)
def test_allowed_move_succeeds_and_writes_history(app, hook_calls, pair):
    from_status, to_status = pair
    referent = make_referent()
    ticket = make_ticket(from_status, referent=referent)
    db.session.commit()
    before = db.session.query(StatusChange).filter_by(ticket_id=ticket.id).count()
    ended_before = ticket.closed_at
    hook_calls.clear()

    change = workflow.transition(ticket, to_status, actor=referent, note="vu sur place")
    db.session.commit()

    assert ticket.status == to_status
    rows = db.session.query(StatusChange).filter_by(ticket_id=ticket.id).order_by(StatusChange.id).all()
    assert len(rows) == before + 1
    last = rows[-1]
    assert (last.from_status, last.to_status, last.actor_id, last.note) == (
        from_status, to_status, referent.id, "vu sur place")
    assert last.created_at.tzinfo is not None
    assert change.id == last.id
    assert hook_calls == [(ticket.id, from_status, to_status)]
    if to_status in (Status.TAKEN, Status.IN_PROGRESS):
        assert ticket.taken_at is not None
    if to_status == Status.CLOSED:
        assert ticket.resolved_at is not None and ticket.closed_at is not None
    if to_status == Status.NO_ACTION:
        assert ticket.closed_at is not None and ticket.resolved_at is None
    if from_status in workflow.REOPEN_FROM:
        assert ticket.reopen_count == 1
        assert ticket.closed_at is None and ticket.resolved_at is None
        # The reopening keeps when the ticket had ended: the stats' backlog reads the gap from it.
        assert ended_before is not None and last.ended_at == ended_before
    else:
        assert last.ended_at is None


@pytest.mark.parametrize("pair", [p for p in ALLOWED_PAIRS if p[1] != Status.CLOSED], ids=pair_id)
def test_mails_are_rendered_before_the_move_is_written(app, pair):
    """SQLite's write lock is held from the first write to the commit: every read comes first."""
    from_status, to_status = pair
    referent = make_referent()
    ticket = make_ticket(from_status, referent=referent)
    db.session.commit()
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        change = workflow.transition(db.session.get(Ticket, ticket.id), to_status, actor=referent)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    writes = [i for i, verb in enumerate(statements) if verb in ("INSERT", "UPDATE", "DELETE")]
    reads = [i for i, verb in enumerate(statements) if verb == "SELECT"]
    assert writes and reads and max(reads) < min(writes), statements
    assert change.id is not None
    assert db.session.query(OutboundMail).filter_by(ticket_id=ticket.id, event="status_changed").count() >= 1
    db.session.commit()


@pytest.mark.parametrize("pair", REFUSED_PAIRS, ids=pair_id)
def test_refused_move_changes_nothing(app, hook_calls, pair):
    from_status, to_status = pair
    referent = make_referent()
    ticket = make_ticket(from_status, referent=referent)
    db.session.commit()
    history = db.session.query(StatusChange).filter_by(ticket_id=ticket.id).count()
    snapshot = (ticket.taken_at, ticket.resolved_at, ticket.closed_at, ticket.assignee_id)
    hook_calls.clear()

    with pytest.raises(workflow.TransitionRefused) as refused:
        workflow.transition(ticket, to_status, actor=referent)
    db.session.rollback()

    assert from_status.value in str(refused.value) and to_status.value in str(refused.value)
    db.session.refresh(ticket)
    assert ticket.status == from_status
    assert db.session.query(StatusChange).filter_by(ticket_id=ticket.id).count() == history
    assert (ticket.taken_at, ticket.resolved_at, ticket.closed_at, ticket.assignee_id) == snapshot
    assert hook_calls == []


def test_creation_is_recorded_and_hooked(app, hook_calls):
    ticket = make_ticket()
    db.session.commit()
    assert ticket.status == Status.NEW
    assert [(c.from_status, c.to_status) for c in ticket.status_changes] == [(None, Status.NEW)]
    assert hook_calls == [(ticket.id, None, Status.NEW)]


def test_taking_assigns_the_referent(app):
    referent = make_referent()
    ticket = make_ticket()
    workflow.transition(ticket, Status.TAKEN, actor=referent)
    assert ticket.assignee == referent


def test_reopen_goes_back_in_progress_when_assigned_else_new(app):
    referent = make_referent()
    assigned = make_ticket(Status.CLOSED, referent=referent)
    workflow.reopen(assigned, actor=assigned.requester, note="ça recommence")
    assert assigned.status == Status.IN_PROGRESS
    unassigned = make_ticket(Status.NO_ACTION)
    workflow.reopen(unassigned, actor=unassigned.requester)
    assert unassigned.status == Status.NEW


def test_unknown_status_name_is_a_clear_error(app):
    ticket = make_ticket()
    with pytest.raises(ValueError, match="unknown status 'done'"):
        workflow.transition(ticket, "done", actor=None)


def test_labels_are_french_by_default(app):
    with app.test_request_context():
        assert [workflow.status_label(s) for s in Status] == [
            "nouveau", "pris en charge", "en cours de résolution", "fermé", "sans suite"]
