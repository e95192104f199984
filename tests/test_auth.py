"""Sign-in: passwords, throttling, sessions that really end, single-use mailed tokens, reset."""
import re
from datetime import timedelta

import pytest

from helpdesk import signin
from helpdesk.extensions import db
from helpdesk.models import LoginThrottle, Role, SignInToken, TokenPurpose, User, utcnow
from tests.factories import csrf_token, make_referent, make_user, post_form, sign_in

PASSWORD = "correct horse battery"


@pytest.fixture
def requester(app):
    user = make_user(email="claire@example.test", password=PASSWORD)
    db.session.commit()
    return user


def login(client, email, password, **extra):
    return post_form(client, "/auth/login", {"email": email, "password": password, **extra})


def test_password_sign_in_then_pages_then_sign_out_kills_the_cookie(client, requester):
    response = login(client, "Claire@Example.test ", PASSWORD)
    assert response.status_code == 302 and response.location == "/"
    assert client.get("/my/tickets").status_code == 200
    with client.session_transaction() as session:
        stolen = dict(session)  # someone copied the cookie
    assert post_form(client, "/auth/logout").status_code == 302
    assert client.get("/my/tickets").status_code == 302
    with client.session_transaction() as session:
        session.update(stolen)
    response = client.get("/my/tickets")
    assert response.status_code == 302 and response.location.startswith("/auth/login")


def test_logout_without_csrf_is_refused_and_keeps_the_session(client, requester):
    sign_in(client, requester)
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/my/tickets").status_code == 200
    assert db.session.get(User, requester.id).session_version == 1


def test_wrong_password_and_unknown_address_answer_the_same(client, requester):
    wrong = login(client, requester.email, "nope")
    unknown = login(client, "nobody@example.test", "nope")
    malformed = login(client, "not an address", "nope")
    assert wrong.status_code == unknown.status_code == malformed.status_code == 401
    text = "Adresse ou mot de passe incorrect."
    assert text in wrong.text and text in unknown.text and text in malformed.text


def test_passwordless_requester_and_inactive_user_cannot_sign_in_with_password(client, app):
    make_user(email="nopass@example.test")
    inactive = make_user(email="gone@example.test", password=PASSWORD)
    inactive.active = False
    db.session.commit()
    assert login(client, "nopass@example.test", "").status_code == 400  # empty password: form invalid
    assert login(client, "nopass@example.test", "anything").status_code == 401
    assert login(client, "gone@example.test", PASSWORD).status_code == 401


def test_account_is_blocked_after_repeated_failures_even_with_the_right_password(client, requester, app):
    limit = app.config["HELPDESK"]["login_max_failures_account"]
    for _ in range(limit):
        assert login(client, requester.email, "bad guess").status_code == 401
    response = login(client, requester.email, PASSWORD)
    assert response.status_code == 429 and "Trop de tentatives" in response.text
    # Unknown accounts are blocked the same way: no hint of which addresses exist.
    for _ in range(limit):
        login(client, "ghost@example.test", "bad guess")
    assert login(client, "ghost@example.test", "x").status_code == 429


def test_block_expires_and_success_clears_the_count(client, requester, app):
    limit = app.config["HELPDESK"]["login_max_failures_account"]
    for _ in range(limit):
        login(client, requester.email, "bad guess")
    row = db.session.get(LoginThrottle, f"account:{requester.email}")
    row.blocked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert login(client, requester.email, PASSWORD).status_code == 302
    assert db.session.get(LoginThrottle, f"account:{requester.email}") is None


def test_one_client_address_is_blocked_across_accounts(client, app, settings_overrides):
    app.config["HELPDESK"]["login_max_failures_ip"] = 3
    make_user(email="victim@example.test", password=PASSWORD)
    db.session.commit()
    for n in range(3):
        assert login(client, f"spray{n}@example.test", "guess").status_code == 401
    assert login(client, "victim@example.test", PASSWORD).status_code == 429
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert login(other, "victim@example.test", PASSWORD).status_code == 302


def test_next_parameter_is_followed_only_for_local_paths(client, requester):
    assert login(client, requester.email, PASSWORD, next="/my/tickets/new").location == "/my/tickets/new"
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        client2 = client.application.test_client()
        assert login(client2, requester.email, PASSWORD, next=evil).location == "/"


def test_sign_in_link_token_is_single_use_and_only_its_hash_is_stored(client, requester):
    raw = signin.issue_token(requester, TokenPurpose.SIGN_IN, timedelta(minutes=30))
    db.session.commit()
    assert len(raw) >= 43  # 256 bits of url-safe base64
    stored = db.session.execute(db.select(SignInToken)).scalar_one()
    assert stored.token_hash != raw and raw not in stored.token_hash and len(stored.token_hash) == 64
    # A mail scanner fetching the link consumes nothing.
    assert client.get(f"/auth/link/{raw}").status_code == 200
    assert client.get(f"/auth/link/{raw}").status_code == 200
    assert client.post(f"/auth/link/{raw}").status_code == 400  # no CSRF token
    response = post_form(client, f"/auth/link/{raw}")
    assert response.status_code == 302
    assert client.get("/my/tickets").status_code == 200
    other = client.application.test_client()
    assert post_form(other, f"/auth/link/{raw}").status_code == 410
    assert other.get("/my/tickets").status_code == 302


def test_expired_or_forged_links_do_nothing(client, requester):
    raw = signin.issue_token(requester, TokenPurpose.SIGN_IN, timedelta(minutes=30),
                             now=utcnow() - timedelta(hours=1))
    db.session.commit()
    assert client.get(f"/auth/link/{raw}").status_code == 410
    assert post_form(client, f"/auth/link/{raw}").status_code == 410
    assert post_form(client, "/auth/link/" + "A" * 43).status_code == 410
    assert post_form(client, "/auth/link/" + "A" * 500).status_code == 410
    assert client.get("/my/tickets").status_code == 302


def test_a_reset_token_is_not_a_sign_in_token(client, requester):
    raw = signin.issue_token(requester, TokenPurpose.RESET, timedelta(minutes=30))
    db.session.commit()
    assert post_form(client, f"/auth/link/{raw}").status_code == 410


def test_password_reset_sets_the_password_and_signs_out_everywhere(client, requester, app):
    elsewhere = app.test_client()
    sign_in(elsewhere, requester)
    assert elsewhere.get("/my/tickets").status_code == 200
    raw = signin.issue_token(requester, TokenPurpose.RESET, timedelta(minutes=30))
    db.session.commit()
    assert client.get(f"/auth/reset/{raw}").status_code == 200
    short = post_form(client, f"/auth/reset/{raw}", {"password": "short", "confirm": "short"})
    assert short.status_code == 400
    differ = post_form(client, f"/auth/reset/{raw}", {"password": "new password 1", "confirm": "new password 2"})
    assert differ.status_code == 400
    done = post_form(client, f"/auth/reset/{raw}", {"password": "new password 1", "confirm": "new password 1"})
    assert done.status_code == 302
    assert elsewhere.get("/my/tickets").status_code == 302
    assert post_form(client, f"/auth/reset/{raw}", {"password": "again 12345", "confirm": "again 12345"}
                     ).status_code == 410
    assert login(client, requester.email, "new password 1").status_code == 302


def test_link_and_reset_requests_for_unknown_addresses_answer_like_known_ones(client, app):
    referent = make_referent(email="tech@example.test", password=PASSWORD)
    db.session.commit()
    answers = []
    for address in ("ghost@example.test", "not an address", referent.email):
        response = post_form(client, "/auth/link", {"email": address}, follow_redirects=True)
        answers.append((response.status_code, "Si cette adresse est connue" in response.text))
    assert answers == [(200, True)] * 3
    # Staff sign in with a password: no link token is made for them, nor for unknown people.
    assert db.session.execute(db.select(SignInToken)).first() is None
    response = post_form(client, "/auth/reset", {"email": "ghost@example.test"}, follow_redirects=True)
    assert response.status_code == 200 and "Si cette adresse est connue" in response.text


def test_user_loader_refuses_malformed_session_ids(app, requester):
    assert signin.load_session_user(str(requester.id)) is None  # the old format names no version
    assert signin.load_session_user(f"{requester.id}:1") == requester
    assert signin.load_session_user(f"{requester.id}:2") is None
    assert signin.load_session_user("x:1") is None
    assert signin.load_session_user("") is None


def test_session_cookie_flags(app, requester):
    client = app.test_client()
    response = login(client, requester.email, PASSWORD)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


@pytest.fixture
def https_settings(settings_overrides):
    settings_overrides["base_url"] = "https://support.example"
    return settings_overrides


def test_session_cookie_is_secure_over_https(https_settings, app, requester):
    client = app.test_client()
    response = login(client, requester.email, PASSWORD, base_url="https://support.example")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in cookie


def test_csrf_token_helper_matches_the_form(client, requester):
    # The helper the other tests use must produce what the real form carries.
    response = client.post("/auth/login", data={"email": requester.email, "password": PASSWORD,
                                                "csrf_token": csrf_token(client)})
    assert response.status_code == 302


def test_admin_role_change_ends_the_demoted_users_sessions(app):
    admin = make_user(Role.ADMIN, email="boss@example.test")
    referent = make_referent(email="tech@example.test")
    db.session.commit()
    tech_client = app.test_client()
    sign_in(tech_client, referent)
    assert tech_client.get("/desk/").status_code == 200
    admin_client = app.test_client()
    sign_in(admin_client, admin)
    response = post_form(admin_client, f"/admin/users/{referent.id}", {
        "email": referent.email, "display_name": "Tech", "role": "requester", "language": "fr",
        "organisation_id": "0", "active": "y"})
    assert response.status_code == 302
    assert tech_client.get("/desk/").status_code == 302


def test_a_known_requester_gets_one_mailed_link_that_signs_in(client, app):
    from helpdesk.models import OutboundMail
    requester = make_user(email="frommail@example.test")  # created by a mail: no password
    db.session.commit()
    post_form(client, "/auth/link", {"email": "FromMail@example.test"})
    mail = db.session.execute(db.select(OutboundMail)).scalar_one()
    assert mail.event == "sign_in_link" and mail.recipient == requester.email
    link = re.search(rb"http://127\.0\.0\.1:5000(/auth/link/[A-Za-z0-9_-]+)", mail.raw.replace(b"=\r\n", b""))
    assert link, mail.raw[:400]
    assert post_form(client, link.group(1).decode()).status_code == 302
    assert client.get("/my/tickets").status_code == 200


def test_reset_request_mails_a_reset_link_and_links_are_capped_per_hour(client, app):
    from helpdesk.models import OutboundMail
    make_user(email="forgetful@example.test", password=PASSWORD)
    db.session.commit()
    for _ in range(app.config["HELPDESK"]["links_per_hour"] + 2):
        post_form(client, "/auth/reset", {"email": "forgetful@example.test"})
    mails = db.session.execute(db.select(OutboundMail)).scalars().all()
    assert {m.event for m in mails} == {"password_reset"}
    assert len(mails) == app.config["HELPDESK"]["links_per_hour"]
