"""Headers on every response, the sandbox for mail HTML, and a stored-XSS set rendered escaped."""
import re
from html.parser import HTMLParser
from datetime import datetime, timezone

import pytest

from helpdesk.extensions import db
from helpdesk.models import Message, MessageKind
from helpdesk.security import CSP, MAIL_HTML_CSP
from tests.factories import make_referent, make_ticket, make_user, sign_in

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "<a href=\"javascript:alert(3)\">clic</a>",
    "<svg onload=alert(4)><script>alert(5)</script></svg>",
    "<base href=\"https://evil.example/\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\">",
    "<div style=\"background:url(https://evil.example/x.png)\">css</div>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(6)>\">",
    "\"><iframe src=https://evil.example>",
]


@pytest.fixture
def hostile(app):
    """A requester with a hostile name, a ticket whose subject, body and sender carry the XSS set."""
    payload = " ".join(XSS)
    requester = make_user(display_name=XSS[1], email="victim@example.test")
    ticket = make_ticket(requester=requester, subject=XSS[0] + XSS[8], body=payload)
    db.session.add(Message(ticket=ticket, kind=MessageKind.INBOUND, public=True, from_address="x@example.test",
                           body_text=payload, body_html="<p>bonjour</p>"))
    referent = make_referent()
    db.session.commit()
    return {"requester": requester, "ticket": ticket, "referent": referent}


class ElementAudit(HTMLParser):
    """Collects what a browser would treat as markup (not text): the elements and their attributes."""

    def __init__(self):
        super().__init__()
        self.problems = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if any(name.startswith("on") for name in attrs):
            self.problems.append((tag, "event handler"))
        if tag == "script" and "src" not in attrs:
            self.problems.append((tag, "inline script"))
        if tag in ("base", "meta") and ("href" in attrs or "http-equiv" in attrs):
            self.problems.append((tag, attrs))
        if tag in ("svg", "object", "embed"):
            self.problems.append((tag, "active content"))
        if tag == "iframe" and (attrs.get("sandbox") != "" or not attrs.get("src", "").startswith("/messages/")):
            self.problems.append((tag, attrs))
        for name in ("href", "src", "action", "style"):
            value = (attrs.get(name) or "").lower()
            if "javascript:" in value or "evil.example" in value:
                self.problems.append((tag, name, value))


def assert_safe(html: str):
    for raw in XSS:
        assert raw not in html
    audit = ElementAudit()
    audit.feed(html)
    assert audit.problems == []


def test_hostile_content_is_escaped_on_every_page(app, hostile):
    requester, staff = app.test_client(), app.test_client()
    sign_in(requester, hostile["requester"])
    sign_in(staff, hostile["referent"])
    tid = hostile["ticket"].id
    pages = [requester.get("/my/tickets"), requester.get(f"/my/tickets/{tid}"), staff.get("/desk/"),
             staff.get(f"/desk/tickets/{tid}"), staff.get("/desk/?q=%3Cscript%3E")]
    for response in pages:
        assert response.status_code == 200
        assert_safe(response.text)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_every_response_has_a_csp_without_inline_script(app, hostile):
    client = app.test_client()
    sign_in(client, hostile["referent"])
    for url in ("/auth/login", "/desk/", "/desk/tickets/999999", "/static/app.css", "/healthz", "/nope"):
        response = client.get(url)
        assert response.headers["Content-Security-Policy"] == CSP, url
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["script-src"] == "'self'" and "unsafe" not in CSP
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"


def test_mail_html_is_served_sandboxed_with_its_own_policy(app, hostile):
    client = app.test_client()
    sign_in(client, hostile["requester"])
    message = hostile["ticket"].messages[-1]
    page = client.get(f"/my/tickets/{hostile['ticket'].id}").text
    iframe = re.search(r"<iframe[^>]*>", page).group(0)
    assert 'sandbox=""' in iframe and f"/messages/{message.id}/html" in iframe
    response = client.get(f"/messages/{message.id}/html")
    assert response.status_code == 200 and "<p>bonjour</p>" in response.text
    assert response.headers["Content-Security-Policy"] == MAIL_HTML_CSP
    assert "sandbox" in MAIL_HTML_CSP and "default-src 'none'" in MAIL_HTML_CSP
    assert "script-src" not in MAIL_HTML_CSP  # falls back to 'none'
    no_html = hostile["ticket"].messages[0]
    assert client.get(f"/messages/{no_html.id}/html").status_code == 404


def test_dates_are_shown_in_the_configured_time_zone(app, client):
    me = make_user()
    ticket = make_ticket(requester=me)
    ticket.messages[0].created_at = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
    db.session.commit()
    sign_in(client, me)
    assert "13:00" in client.get(f"/my/tickets/{ticket.id}").text  # Europe/Paris in winter


def test_pages_follow_the_users_language_and_the_switch(app, client):
    english = make_user(language="en")
    db.session.commit()
    assert "Connexion" in client.get("/auth/login").text
    from tests.factories import post_form
    post_form(client, "/language", {"language": "en", "next": "/auth/login"})
    assert "Sign in" in client.get("/auth/login").text
    signed = app.test_client()
    sign_in(signed, english)
    page = signed.get("/my/tickets").text
    assert "My requests" in page and "Mes demandes" not in page
    post_form(signed, "/language", {"language": "fr"})
    db.session.expire_all()
    assert db.session.get(type(english), english.id).language == "fr"
    assert "Mes demandes" in signed.get("/my/tickets").text
