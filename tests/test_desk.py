"""The referent desk: queue filters, search, keyset pages, and every action on a ticket."""
import pytest

from helpdesk import conversation, queue
from helpdesk.extensions import db
from helpdesk.models import (Category, Location, MessageKind, Priority, Role, Status, StatusChange, Ticket,
                             TicketWatcher)
from tests.factories import make_organisation, make_referent, make_ticket, make_user, post_form, sign_in


@pytest.fixture
def referent(app):
    user = make_referent(display_name="Romain")
    db.session.commit()
    return user


@pytest.fixture
def desk(app, referent):
    client = app.test_client()
    sign_in(client, referent)
    return client


def fresh(ticket_id):
    db.session.expire_all()
    return db.session.get(Ticket, ticket_id)


def test_queue_shows_open_tickets_newest_first(desk):
    old = make_ticket(subject="Ancien ticket")
    new = make_ticket(subject="Nouveau ticket")
    make_ticket(subject="Ticket fermé", status=Status.CLOSED)
    db.session.commit()
    page = desk.get("/desk/").text
    assert page.index("Nouveau ticket") < page.index("Ancien ticket")
    assert "Ticket fermé" not in page
    assert "Ticket fermé" in desk.get("/desk/?status=closed").text
    assert "Ticket fermé" in desk.get("/desk/?status=all").text
    assert old.id < new.id


def test_queue_filters(desk, referent):
    org = make_organisation(name="Collège")
    cat, loc = Category(name="Réseau"), Location(name="CDI", organisation=org)
    db.session.add_all([cat, loc])
    db.session.flush()
    mine = make_ticket(subject="À moi", referent=referent, status=Status.TAKEN)
    classified = make_ticket(subject="Classé", category_id=cat.id, location_id=loc.id,
                             requester=make_user(organisation=org))
    other = make_ticket(subject="Personne dessus")
    db.session.commit()

    def subjects(query):
        page = desk.get(f"/desk/?{query}").text
        return {s for s in ("À moi", "Classé", "Personne dessus") if s in page}

    assert subjects("assignee=me") == {"À moi"}
    assert subjects(f"assignee={referent.id}") == {"À moi"}
    assert subjects("assignee=none") == {"Classé", "Personne dessus"}
    assert subjects(f"category={cat.id}") == {"Classé"}
    assert subjects(f"location={loc.id}") == {"Classé"}
    assert subjects(f"organisation={org.id}") == {"Classé"}
    assert subjects("status=taken") == {"À moi"}
    assert subjects("status=bogus&category=x&assignee=-1") == {"À moi", "Classé", "Personne dessus"}
    assert mine.id and other.id


def test_search_in_subject_messages_and_number(desk, referent):
    a = make_ticket(subject="Vidéoprojecteur HS")
    b = make_ticket(subject="Autre", body="Le TABLEAU numérique clignote")
    c = make_ticket(subject="Note", body="rien")
    conversation.add_staff_message(c, referent, "fusible 100%_remplacé", public=False)
    db.session.commit()
    assert "Vidéoprojecteur HS" in desk.get("/desk/?q=projecteur").text
    assert "Autre" in desk.get("/desk/?q=tableau").text
    page = desk.get("/desk/?q=100%25_r").text
    assert ">Note<" in page and "Autre" not in page
    assert "Vidéoprojecteur" not in desk.get("/desk/?q=100%25").text  # % is literal, not a wildcard
    assert "Autre" in desk.get(f"/desk/?q=%23{b.id}").text
    assert a.id


def test_queue_statement_built_once_per_shape_takes_each_pages_values(app, referent):
    # A queue page's statement is cached by which filters it uses; the values are parameters.
    other = make_referent()
    cats = [Category(name="Réseau"), Category(name="Écrans")]
    db.session.add_all(cats)
    db.session.flush()
    first = make_ticket(subject="Switch HS", category_id=cats[0].id, referent=referent, status=Status.TAKEN)
    second = make_ticket(subject="Écran noir", category_id=cats[1].id, referent=other, status=Status.TAKEN)
    db.session.commit()

    def ids(**filters):
        return [t.id for t in queue.desk_queue(queue.QueueFilters(**filters), 50).tickets]

    assert ids(category_id=cats[0].id) == [first.id]
    assert ids(category_id=cats[1].id) == [second.id]
    assert ids(assignee_id=referent.id) == [first.id]
    assert ids(assignee_id=other.id) == [second.id]
    assert ids(text="switch") == [first.id]
    assert ids(text="noir") == [second.id]
    assert ids(text=f"#{first.id}") == [first.id]
    assert ids(text=f"#{second.id}") == [second.id]
    assert ids(category_id=cats[0].id, text="noir") == []
    assert queue.desk_queue(queue.QueueFilters(), 50, before=second.id).tickets[0].id == first.id
    assert queue.desk_queue(queue.QueueFilters(), 50, before=first.id).tickets == []


def test_queue_keyset_pages_cover_everything_once(app, desk):
    app.config["HELPDESK"]["page_size"] = 4
    tickets = [make_ticket(subject=f"Panne {n:02d}") for n in range(10)]
    db.session.commit()
    ids = [t.id for t in tickets]
    filters = queue.QueueFilters()
    seen, before = [], None
    while True:
        page = queue.desk_queue(filters, 4, before=before)
        seen += [t.id for t in page.tickets]
        if page.before is None:
            break
        before = page.before
    assert seen == sorted(ids, reverse=True)
    # Going back from the last page with `after` gives the page before it.
    back = queue.desk_queue(filters, 4, after=seen[8])
    assert [t.id for t in back.tickets] == seen[4:8]
    assert desk.get(f"/desk/?before={seen[3]}").status_code == 200


def test_take_assigns_and_moves_new_to_taken(desk, referent):
    ticket = make_ticket()
    db.session.commit()
    assert post_form(desk, f"/desk/tickets/{ticket.id}/take").status_code == 302
    ticket = fresh(ticket.id)
    assert ticket.status == Status.TAKEN and ticket.assignee_id == referent.id


def test_status_change_with_note_and_refused_move(desk):
    ticket = make_ticket(status=Status.TAKEN)
    db.session.commit()
    post_form(desk, f"/desk/tickets/{ticket.id}/status", {"status": "in_progress", "note": "J'y vais",
                                                          "internal": "y"})
    ticket = fresh(ticket.id)
    change = ticket.status_changes[-1]
    assert ticket.status == Status.IN_PROGRESS and change.note == "J'y vais" and change.note_public is False
    response = post_form(desk, f"/desk/tickets/{ticket.id}/status", {"status": "taken"}, follow_redirects=True)
    assert "n&#39;est pas possible" in response.text
    assert fresh(ticket.id).status == Status.IN_PROGRESS
    assert post_form(desk, f"/desk/tickets/{ticket.id}/status", {"status": "nonsense"}).status_code == 302
    assert fresh(ticket.id).status == Status.IN_PROGRESS


def test_public_reply_and_internal_note(desk):
    ticket = make_ticket()
    db.session.commit()
    post_form(desk, f"/desk/tickets/{ticket.id}/messages", {"body": "Bonjour, je regarde."})
    post_form(desk, f"/desk/tickets/{ticket.id}/messages", {"body": "Entre nous", "internal": "y"})
    kinds = [(m.kind, m.public) for m in fresh(ticket.id).messages[1:]]
    assert kinds == [(MessageKind.OUTBOUND, True), (MessageKind.NOTE, False)]


def test_handover_to_a_referent_with_a_note_and_never_to_a_requester(desk, referent):
    other = make_referent(display_name="Rachel")
    requester = make_user()
    ticket = make_ticket(referent=referent, status=Status.TAKEN)
    db.session.commit()
    post_form(desk, f"/desk/tickets/{ticket.id}/assign", {"assignee_id": str(other.id), "note": "Tu connais"})
    ticket = fresh(ticket.id)
    assert ticket.assignee_id == other.id and ticket.messages[-1].body_text == "Tu connais"
    post_form(desk, f"/desk/tickets/{ticket.id}/assign", {"assignee_id": str(requester.id)})
    assert fresh(ticket.id).assignee_id == other.id


def test_edit_classification(desk):
    cat, loc = Category(name="Logiciel"), Location(name="Salle 101")
    db.session.add_all([cat, loc])
    ticket = make_ticket()
    db.session.commit()
    post_form(desk, f"/desk/tickets/{ticket.id}/edit", {"category_id": cat.id, "priority": "urgent",
                                                        "location_id": loc.id, "asset_id": 0})
    ticket = fresh(ticket.id)
    assert (ticket.category_id, ticket.priority, ticket.location_id, ticket.asset_id) == (
        cat.id, Priority.URGENT, loc.id, None)
    post_form(desk, f"/desk/tickets/{ticket.id}/edit", {"category_id": 999, "priority": "urgent",
                                                        "location_id": 0, "asset_id": 0})
    assert fresh(ticket.id).category_id == cat.id


def test_merge_moves_the_conversation_and_ends_the_duplicate(desk):
    first = make_ticket(subject="Imprimante")
    dup = make_ticket(subject="Imprimante encore", body="Toujours en panne")
    db.session.commit()
    response = post_form(desk, f"/desk/tickets/{dup.id}/merge", {"target": f"#{first.id}"})
    assert response.location == f"/desk/tickets/{first.id}"
    first, dup = fresh(first.id), fresh(dup.id)
    assert dup.merged_into_id == first.id and dup.status == Status.NO_ACTION
    assert any(m.body_text == "Toujours en panne" for m in first.messages)
    assert dup.requester_id in {w.user_id for w in first.watchers}
    assert db.session.execute(db.select(TicketWatcher)).scalars().all()
    # Refusals: into itself, again, unknown target.
    for target in (str(first.id), "999999", "abc"):
        post_form(desk, f"/desk/tickets/{first.id}/merge", {"target": target})
    assert fresh(first.id).merged_into_id is None
    post_form(desk, f"/desk/tickets/{dup.id}/merge", {"target": str(first.id)})
    assert fresh(dup.id).merged_into_id == first.id


def test_bulk_status_and_assignment_skips_refused_moves(desk, referent):
    new = make_ticket()
    closed = make_ticket(status=Status.CLOSED)
    db.session.commit()
    response = post_form(desk, "/desk/bulk", {"ticket": [str(new.id), str(closed.id)], "status": "taken",
                                              "assignee_id": str(referent.id)}, follow_redirects=True)
    assert "1 ticket(s)" in response.text and f"#{closed.id}" in response.text
    assert fresh(new.id).status == Status.TAKEN and fresh(new.id).assignee_id == referent.id
    assert fresh(closed.id).status == Status.CLOSED
    changes = db.session.execute(db.select(StatusChange).where(StatusChange.ticket_id == closed.id)).scalars().all()
    assert [c.to_status for c in changes][-1] == Status.CLOSED
    assert post_form(desk, "/desk/bulk", {"status": "taken"}).status_code == 302  # nothing selected


def test_requesters_cannot_use_the_desk(app):
    requester = make_user()
    ticket = make_ticket(requester=requester)
    db.session.commit()
    client = app.test_client()
    sign_in(client, requester)
    assert client.get("/desk/").status_code == 403
    assert post_form(client, f"/desk/tickets/{ticket.id}/take").status_code == 403
    assert fresh(ticket.id).status == Status.NEW
    assert make_user(Role.ADMIN).is_staff


def test_desk_mails_go_through_the_outbox(desk, referent):
    from helpdesk.models import OutboundMail, OutboundStatus
    other = make_referent(email="rachel@example.test")
    ticket = make_ticket(referent=referent, status=Status.TAKEN)
    db.session.commit()

    def events():
        return sorted(m.event for m in db.session.execute(db.select(OutboundMail)).scalars())

    before = events()
    post_form(desk, f"/desk/tickets/{ticket.id}/messages", {"body": "Entre nous", "internal": "y"})
    assert events() == before
    post_form(desk, f"/desk/tickets/{ticket.id}/messages", {"body": "Je passe à 14 h."})
    assert events() == sorted(before + ["public_reply"])
    post_form(desk, f"/desk/tickets/{ticket.id}/assign", {"assignee_id": str(other.id), "note": "À toi"})
    assert events() == sorted(before + ["public_reply", "assigned"])
    failed = db.session.execute(db.select(OutboundMail).where(OutboundMail.event == "assigned")).scalar_one()
    failed.status, failed.last_error = OutboundStatus.FAILED, "550 no such user"
    db.session.commit()
    assert "550 no such user" in desk.get("/desk/mail").text
    assert post_form(desk, f"/desk/mail/out/{failed.id}/retry").status_code == 302
    db.session.expire_all()
    assert db.session.get(OutboundMail, failed.id).status == OutboundStatus.PENDING
    response = post_form(desk, f"/desk/mail/out/{failed.id}/retry", follow_redirects=True)
    assert "only failed or skipped" in response.text
    assert post_form(desk, "/desk/mail/out/999999/retry").status_code == 404
