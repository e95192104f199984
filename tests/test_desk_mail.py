"""The desk's view of mail problems: failed outgoing mails and quarantined incoming mails, with replay."""
from helpdesk.extensions import db
from helpdesk.models import InboundMail, InboundOutcome, OutboundMail, OutboundStatus, Ticket
from tests.factories import make_referent, make_ticket, make_user, post_form, sign_in

RAW = (b"From: Claire <claire@example.test>\r\nTo: support@helpdesk.example\r\n"
       b"Subject: Imprimante en panne\r\nMessage-ID: <q1@example.test>\r\n"
       b"Date: Mon, 23 Nov 2026 08:00:00 +0100\r\n\r\nElle ne veut plus imprimer.\r\n")


def test_failed_and_quarantined_mails_are_listed_with_reasons_and_replayed(app, client):
    referent = make_referent()
    ticket = make_ticket()
    db.session.add(OutboundMail(ticket_id=ticket.id, event="status_changed", recipient="gone@example.test",
                                message_id="<m1@x>", subject="Votre demande", raw=b"x",
                                status=OutboundStatus.FAILED, attempts=8, last_error="550 mailbox unavailable"))
    row = InboundMail(mailbox="maildrop", sha256="a" * 64, dedupe_key="mid:<q1@example.test>", raw=RAW,
                      from_address="claire@example.test", subject="Imprimante en panne",
                      outcome=InboundOutcome.QUARANTINED, reason="error: database was down")
    db.session.add(row)
    db.session.commit()
    sign_in(client, referent)
    page = client.get("/desk/mail").text
    assert "550 mailbox unavailable" in page and "error: database was down" in page
    assert "Message non remis à gone@example.test" in client.get(f"/desk/tickets/{ticket.id}").text
    response = post_form(client, f"/desk/mail/in/{row.id}/replay", follow_redirects=True)
    assert response.status_code == 200
    db.session.expire_all()
    row = db.session.get(InboundMail, row.id)
    assert row.outcome == InboundOutcome.TICKET_CREATED
    assert db.session.get(Ticket, row.ticket_id).subject == "Imprimante en panne"
    # Replaying something that is not in quarantine says so and changes nothing.
    response = post_form(client, f"/desk/mail/in/{row.id}/replay", follow_redirects=True)
    assert "not quarantined" in response.text
    assert post_form(client, "/desk/mail/in/999999/replay").status_code == 404


def test_requesters_do_not_see_mail_problems(app, client):
    sign_in(client, make_user())
    db.session.commit()
    assert client.get("/desk/mail").status_code == 403
