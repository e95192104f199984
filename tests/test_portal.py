"""The requester portal: lists, a ticket's page, replies, opening a ticket from the web."""
from helpdesk.extensions import db
from helpdesk.models import MessageKind, Source, Status, StatusChange, Ticket
from tests.factories import make_referent, make_ticket, make_user, post_form, sign_in


def test_home_sends_each_kind_of_person_to_their_page(app, client):
    assert client.get("/").location == "/auth/login"
    requester, referent = make_user(), make_referent()
    db.session.commit()
    sign_in(client, requester)
    assert client.get("/").location == "/my/tickets"
    staff = app.test_client()
    sign_in(staff, referent)
    assert staff.get("/").location == "/desk/"


def test_my_tickets_open_and_closed(client):
    me = make_user()
    make_ticket(requester=me, subject="Imprimante en panne")
    make_ticket(requester=me, subject="Souris cassée", status=Status.CLOSED)
    make_ticket(subject="Ticket de quelqu'un d'autre")
    db.session.commit()
    sign_in(client, me)
    open_page = client.get("/my/tickets").text
    closed_page = client.get("/my/tickets?show=closed").text
    assert "Imprimante en panne" in open_page and "Souris cassée" not in open_page
    assert "Souris cassée" in closed_page and "Imprimante en panne" not in closed_page
    assert "quelqu&#39;un d&#39;autre" not in open_page + closed_page


def test_my_tickets_pages_without_gaps_or_repeats(app, client):
    app.config["HELPDESK"]["page_size"] = 3
    me = make_user()
    subjects = [f"Demande numéro {n:02d}" for n in range(8)]
    for subject in subjects:
        make_ticket(requester=me, subject=subject)
    db.session.commit()
    sign_in(client, me)
    seen, url = [], "/my/tickets"
    while url:
        page = client.get(url).text
        seen += sorted((s for s in subjects if s in page), key=page.index)
        marker = 'href="/my/tickets?before='
        url = ("/my/tickets?before=" + page.split(marker, 1)[1].split('"', 1)[0]) if marker in page else None
    assert seen == list(reversed(subjects))


def test_ticket_page_shows_timeline_and_public_conversation_only(client):
    me, referent = make_user(), make_referent(display_name="Romain Référent")
    ticket = make_ticket(requester=me, referent=referent, status=Status.IN_PROGRESS, subject="Wi-Fi")
    from helpdesk import conversation, workflow
    conversation.add_staff_message(ticket, referent, "Je passe demain.", public=True)
    conversation.add_staff_message(ticket, referent, "Le switch est HS, ne pas le dire.", public=False)
    workflow.transition(ticket, Status.CLOSED, referent, note="Switch remplacé.", note_public=True)
    db.session.commit()
    sign_in(client, me)
    page = client.get(f"/my/tickets/{ticket.id}").text
    assert "Je passe demain." in page and "ne pas le dire" not in page
    assert "Switch remplacé." in page and "Romain Référent" in page
    for label in ("nouveau", "pris en charge", "en cours de résolution", "fermé"):
        assert label in page


def test_internal_status_notes_stay_on_the_desk(client):
    me, referent = make_user(), make_referent()
    ticket = make_ticket(requester=me, referent=referent, status=Status.TAKEN)
    from helpdesk import workflow
    workflow.transition(ticket, Status.IN_PROGRESS, referent, note="Client pénible", note_public=False)
    db.session.commit()
    sign_in(client, me)
    assert "Client pénible" not in client.get(f"/my/tickets/{ticket.id}").text


def test_open_a_ticket_from_the_web_goes_through_open_ticket(client):
    me = make_user()
    db.session.commit()
    sign_in(client, me)
    response = post_form(client, "/my/tickets/new", {"subject": "  Écran\nnoir  ", "body": "Plus d'image.",
                                                     "location_id": "0"})
    assert response.status_code == 302
    ticket = db.session.execute(db.select(Ticket)).scalar_one()
    assert ticket.subject == "Écran noir" and ticket.source == Source.WEB and ticket.requester_id == me.id
    # The same creation row as a mail: the workflow's acknowledgement path ran.
    change = db.session.execute(db.select(StatusChange)).scalar_one()
    assert change.from_status is None and change.to_status == Status.NEW
    assert response.location == f"/my/tickets/{ticket.id}"


def test_bad_new_ticket_forms_are_refused_without_a_ticket(client):
    me = make_user()
    db.session.commit()
    sign_in(client, me)
    for data in ({"subject": "", "body": "x"}, {"subject": "x", "body": ""}, {"subject": "x" * 501, "body": "y"},
                 {"subject": "x", "body": "y", "location_id": "999"}, {"subject": "x", "body": "y", "location_id": "a"}):
        assert post_form(client, "/my/tickets/new", data).status_code == 400
    assert db.session.execute(db.select(Ticket)).first() is None


def test_reply_adds_a_message_and_reopens_an_ended_ticket(client):
    me = make_user()
    ticket = make_ticket(requester=me, status=Status.CLOSED)
    db.session.commit()
    sign_in(client, me)
    assert post_form(client, f"/my/tickets/{ticket.id}/reply", {"body": "Ça recommence."}).status_code == 302
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.messages[-1].kind == MessageKind.INBOUND and ticket.messages[-1].body_text == "Ça recommence."
    assert ticket.status == Status.IN_PROGRESS and ticket.reopen_count == 1
    assert post_form(client, f"/my/tickets/{ticket.id}/reply", {"body": ""}).status_code == 400
    assert post_form(client, f"/my/tickets/{ticket.id}/reply", {"body": "x" * 100_001}).status_code == 400


def test_a_requester_reply_tells_the_team(client):
    from helpdesk.models import OutboundMail
    me, referent = make_user(), make_referent()
    ticket = make_ticket(requester=me, referent=referent, status=Status.TAKEN)
    db.session.commit()
    sign_in(client, me)
    post_form(client, f"/my/tickets/{ticket.id}/reply", {"body": "Toujours en panne"})
    mails = db.session.execute(db.select(OutboundMail).where(OutboundMail.event == "requester_replied")).scalars()
    assert [m.recipient for m in mails] == [referent.email]
