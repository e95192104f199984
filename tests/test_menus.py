"""The desk's menu lists kept per process: what invalidates them, and the hand-written forms that use them."""
import re

import pytest
from sqlalchemy import create_engine, text

from helpdesk import menus
from helpdesk.extensions import db
from helpdesk.models import Category, Location, Role, Status, Ticket, User
from tests.factories import make_organisation, make_referent, make_ticket, make_user, post_form, sign_in


@pytest.fixture
def settings_overrides(settings_overrides):
    # An hour: anything seen changing below was invalidated by the rule, not by the clock.
    return {**settings_overrides, "menu_cache_seconds": 3600}


@pytest.fixture
def admin(app):
    user = make_user(Role.ADMIN, display_name="Alice Admin")
    db.session.commit()
    client = app.test_client()
    sign_in(client, user)
    return client


def category_menu(page: str) -> str:
    return re.search(r'<select name="category".*?</select>', page, re.S).group(0)


def test_a_category_renamed_by_an_admin_shows_at_once(app, admin):
    category = Category(name="Réseau")
    db.session.add(category)
    db.session.commit()
    assert "Réseau" in category_menu(admin.get("/desk/").text)

    assert post_form(admin, f"/admin/categories/{category.id}", {"name": "Téléphonie", "active": "y"}).status_code == 302
    menu = category_menu(admin.get("/desk/").text)
    assert "Téléphonie" in menu and "Réseau" not in menu


def test_new_locations_organisations_and_staff_show_at_once(app, admin):
    admin.get("/desk/")  # fills the cache
    make_organisation(name="Lycée Curie")
    db.session.add(Location(name="Salle 12"))
    make_referent(display_name="Bruno Tech")
    db.session.commit()
    page = admin.get("/desk/").text
    assert "Lycée Curie" in page and "Salle 12" in page and "Bruno Tech" in page


def test_a_deactivated_referent_leaves_the_staff_menus(app, admin):
    referent = make_referent(display_name="Bruno Tech")
    make_ticket()
    db.session.commit()
    assert "Bruno Tech" in admin.get("/desk/").text
    referent.active = False
    db.session.commit()
    assert "Bruno Tech" not in admin.get("/desk/").text


def test_a_change_from_another_process_shows_when_the_lists_expire(app, admin, monkeypatch):
    db.session.add(Category(name="Réseau"))
    db.session.commit()
    assert "Réseau" in category_menu(admin.get("/desk/").text)
    # Another process (the second gunicorn worker, the CLI) writes through its own connection.
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with other.begin() as conn:
        conn.execute(text("UPDATE categories SET name = 'Téléphonie'"))
    other.dispose()
    assert "Réseau" in category_menu(admin.get("/desk/").text)  # within menu_cache_seconds

    later = menus.time.monotonic() + 3601
    monkeypatch.setattr(menus.time, "monotonic", lambda: later)
    assert "Téléphonie" in category_menu(admin.get("/desk/").text)


def test_zero_seconds_reads_the_lists_for_every_page(app, admin):
    app.config["HELPDESK"] = {**app.config["HELPDESK"], "menu_cache_seconds": 0}
    db.session.add(Category(name="Réseau"))
    db.session.commit()
    admin.get("/desk/")
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with other.begin() as conn:
        conn.execute(text("UPDATE categories SET name = 'Téléphonie'"))
    other.dispose()
    assert "Téléphonie" in category_menu(admin.get("/desk/").text)


def test_the_filter_menus_keep_the_chosen_values(app, admin):
    network = Category(name="Réseau")
    db.session.add_all([network, Category(name="Écrans")])
    referent = make_referent(display_name="Bruno Tech")
    db.session.commit()
    page = admin.get(f"/desk/?category={network.id}&assignee={referent.id}&status=closed").text
    assert f'<option value="{network.id}" selected>Réseau</option>' in page
    assert f'<option value="{referent.id}" selected>Bruno Tech</option>' in page
    assert '<option value="closed" selected>' in page
    assert re.search(r'<option value="\d+">Écrans</option>', page)


def test_menu_names_are_escaped(app, admin):
    db.session.add(Category(name='<script>alert("x")</script>'))
    db.session.commit()
    page = admin.get("/desk/").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def test_the_hand_written_bulk_form_posts_with_its_own_token(app, admin):
    referent = make_referent(display_name="Bruno Tech")
    ticket = make_ticket()
    db.session.commit()
    page = admin.get("/desk/").text
    bulk_fields = dict(re.findall(r'<input form="bulk" id="csrf_token" name="(csrf_token)" type="hidden" value="([^"]+)"',
                                  page))
    assert set(bulk_fields) == {"csrf_token"}
    assert f'<option value="{referent.id}">Bruno Tech</option>' in page  # the bulk assignee menu
    response = admin.post("/desk/bulk", data={**bulk_fields, "ticket": [str(ticket.id)], "status": "taken",
                                             "assignee_id": str(referent.id), "note": ""})
    assert response.status_code == 302
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.status == Status.TAKEN and ticket.assignee_id == referent.id


def test_the_bulk_post_still_needs_a_csrf_token(app, admin):
    ticket = make_ticket()
    db.session.commit()
    response = admin.post("/desk/bulk", data={"ticket": [str(ticket.id)], "status": "taken"})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == Status.NEW


def test_the_hand_written_language_switch_posts_with_its_own_token(app):
    requester = make_user(language="fr")
    db.session.commit()
    client = app.test_client()
    sign_in(client, requester)
    page = client.get("/my/tickets?show=closed").text
    form = re.search(r'<form class="inline" method="post" action="/language">(.*?)</form>', page, re.S).group(1)
    fields = dict(re.findall(r'name="(csrf_token|next)" type="hidden" value="([^"]*)"', form))
    assert fields["next"] == "/my/tickets?show=closed"
    response = client.post("/language", data={**fields, "language": "en"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/my/tickets?show=closed")
    db.session.expire_all()
    assert db.session.get(User, requester.id).language == "en"
    assert "<h1>My requests</h1>" in client.get("/my/tickets").text


def test_the_ticket_page_menus_show_the_ticket_values(app, admin):
    network = Category(name="Réseau")
    room = Location(name="Salle <12>")
    db.session.add_all([network, Category(name="Écrans"), room])
    db.session.flush()
    referent = make_referent(display_name="Bruno Tech")
    ticket = make_ticket(category_id=network.id, location_id=room.id)
    ticket.assignee_id = referent.id
    db.session.commit()
    page = admin.get(f"/desk/tickets/{ticket.id}").text
    category = re.search(r'<select id="category_id" name="category_id">.*?</select>', page, re.S).group(0)
    assert f'<option value="{network.id}" selected>Réseau</option>' in category
    assert re.search(r'<option value="\d+">Écrans</option>', category)
    assert f'<option value="{room.id}" selected>Salle &lt;12&gt;</option>' in page
    assert f'<option value="{referent.id}" selected>Bruno Tech</option>' in page
    assert '<option value="normal" selected>' in page  # priority
    assert re.search(r'<select id="status" name="status" required>', page)
