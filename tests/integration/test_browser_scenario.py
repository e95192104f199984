"""The issue's scenario in Chromium, with mail through the real outbox to a real SMTP server.

A requester created by their first mail signs in with the link mailed to them, sees the ticket and
replies; a referent takes it, moves it to in progress, then closes it with a note; the requester
sees each new status, and every mail arrives at the test SMTP server.
"""
import re

import pytest

from helpdesk.extensions import db
from helpdesk.models import Role, Source, Status, Ticket
from helpdesk.tickets import ensure_requester, open_ticket
from tests.factories import make_user
from tests.integration.browser import save_screenshot, sign_in_with_password
from workers.delivery import send_outbox

pytestmark = [pytest.mark.integration, pytest.mark.browser]
PASSWORD = "mot de passe du référent"


@pytest.fixture
def settings_overrides(settings_overrides, smtp_settings):
    settings_overrides.update(smtp_settings)
    return settings_overrides


def deliver(app):
    send_outbox(app)
    db.session.expire_all()


def mails_to(sink, address, count):
    """Wait until `count` mails reached `address`; return them."""
    for total in range(count, count + 40):
        received = sink.wait_for(total, timeout=10)
        mine = [m for m in received if address in m.rcpt_tos]
        if len(mine) >= count:
            return mine
    raise AssertionError(f"{address} received fewer than {count} mails")


def test_requester_signs_in_by_mailed_link_and_follows_the_ticket(app, live_server, page, new_page, smtp_sink):
    # A teacher's first mail made them a passwordless requester and opened the ticket.
    requester = ensure_requester("claire.martin@college.example", "Claire Martin")
    ticket = open_ticket(requester, "Le TBI de la salle 12 ne répond plus", "Bonjour,\nle tableau reste noir.",
                         source=Source.MAIL)
    referent = make_user(Role.REFERENT, email="romain@helpdesk.example", display_name="Romain", password=PASSWORD)
    db.session.commit()
    deliver(app)
    assert "#%d" % ticket.id in mails_to(smtp_sink, requester.email, 1)[0].message["Subject"]

    # She asks for a sign-in link and follows it.
    page.goto(live_server.url + "/auth/login")
    page.fill("#link-email", requester.email)
    page.click("form[action='/auth/link'] input[type=submit]")
    assert "Si cette adresse est connue" in page.locator(".flash").inner_text()
    deliver(app)
    link_mail = mails_to(smtp_sink, requester.email, 2)[-1]
    link = re.search(r"http://127\.0\.0\.1:\d+/auth/link/[A-Za-z0-9_-]+", link_mail.text()).group(0)
    page.goto(link)
    save_screenshot(page, "scenario-1-link")
    page.click("input[type=submit]")
    assert page.url.endswith("/my/tickets")
    page.click("text=Le TBI de la salle 12 ne répond plus")
    page.fill("#body", "Il affiche maintenant « pas de signal ».")
    page.click("form.reply input[type=submit]")
    assert page.locator(".flash").inner_text() == "Message envoyé."
    deliver(app)
    assert mails_to(smtp_sink, referent.email, 1)  # the team hears about her reply

    # The referent takes it, works on it, closes it with a note; she sees each status.
    desk = new_page()
    sign_in_with_password(desk, live_server, referent.email, PASSWORD)
    desk.goto(f"{live_server.url}/desk/tickets/{ticket.id}")
    steps = [("take", "pris en charge"), ("in_progress", "en cours de résolution"), ("closed", "fermé")]
    for number, (step, label) in enumerate(steps, start=1):
        if step == "take":
            desk.click("button.take")
        else:
            desk.select_option("#status", step)
            if step == "closed":
                desk.fill("#note", "Câble HDMI remplacé.")
            desk.click("input[value='Changer le statut']")
        assert "Ticket pris en charge." in desk.locator(".flash").inner_text() or \
            "Statut mis à jour." in desk.locator(".flash").inner_text()
        deliver(app)
        page.reload()
        assert page.locator(".heading .badge").inner_text() == label
        save_screenshot(page, f"scenario-{number + 1}-{step}")
        status_mail = mails_to(smtp_sink, requester.email, 2 + number)[-1]
        assert "#%d" % ticket.id in status_mail.message["Subject"]
    assert "Câble HDMI remplacé." in page.locator(".timeline").inner_text()
    assert "Câble HDMI remplacé." in status_mail.text()
    save_screenshot(desk, "scenario-desk-closed")
    assert db.session.get(Ticket, ticket.id).status == Status.CLOSED
    assert page.foreign_requests == [] and desk.foreign_requests == []
