"""Admin pages: users and roles, organisations, categories, locations; bad posts are refused clearly."""
import pytest

from helpdesk.extensions import db
from helpdesk.models import Category, Location, Organisation, Role, User
from tests.factories import make_user, post_form, sign_in


@pytest.fixture
def admin_client(app):
    admin = make_user(Role.ADMIN, email="boss@example.test")
    db.session.commit()
    client = app.test_client()
    sign_in(client, admin)
    client.admin = admin
    return client


def user_form(**fields):
    return {"email": "new@example.test", "display_name": "Nouvelle", "role": "referent", "language": "fr",
            "organisation_id": "0", "active": "y", **fields}


def test_create_edit_and_refuse_users(admin_client):
    assert post_form(admin_client, "/admin/users/new", user_form(password="un bon mot de passe")).status_code == 302
    person = db.session.execute(db.select(User).where(User.email == "new@example.test")).scalar_one()
    assert person.role == Role.REFERENT and person.password_hash
    assert post_form(admin_client, "/admin/users/new", user_form(email="NEW@example.test")).status_code == 400
    assert post_form(admin_client, "/admin/users/new", user_form(email="pas une adresse")).status_code == 400
    assert post_form(admin_client, "/admin/users/new", user_form(email="x@example.test", role="god")
                     ).status_code == 400
    assert post_form(admin_client, "/admin/users/new", user_form(email="y@example.test", password="court")
                     ).status_code == 400
    assert "new@example.test" in admin_client.get("/admin/users").text
    # An admin cannot demote or disable themselves.
    me = admin_client.admin
    post_form(admin_client, f"/admin/users/{me.id}", user_form(email=me.email, role="requester"))
    db.session.expire_all()
    assert db.session.get(User, me.id).role == Role.ADMIN


def test_organisations_categories_locations(admin_client):
    assert post_form(admin_client, "/admin/organisations/new", {"name": "Collège", "client_number": "C-9",
                                                                "mail_domains": " College.example , x.example"}
                     ).status_code == 302
    org = db.session.execute(db.select(Organisation)).scalar_one()
    assert org.mail_domains == "college.example,x.example"
    assert post_form(admin_client, "/admin/organisations/new", {"name": "Autre", "client_number": "C-9"}
                     ).status_code == 400
    assert post_form(admin_client, "/admin/categories", {"name": "Réseau", "active": "y"}).status_code == 302
    assert post_form(admin_client, "/admin/categories", {"name": "Réseau", "active": "y"}).status_code == 400
    category = db.session.execute(db.select(Category)).scalar_one()
    assert post_form(admin_client, f"/admin/categories/{category.id}", {"name": "Réseaux"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Category, category.id).name == "Réseaux" and not db.session.get(Category, category.id).active
    assert post_form(admin_client, "/admin/locations", {"name": "CDI", "organisation_id": str(org.id), "active": "y"}
                     ).status_code == 302
    assert post_form(admin_client, "/admin/locations", {"name": "Salle", "organisation_id": "999"}).status_code == 400
    location = db.session.execute(db.select(Location)).scalar_one()
    assert location.organisation_id == org.id
    assert admin_client.get("/admin/locations/999999").status_code == 404


def test_referents_cannot_administer(app):
    referent = make_user(Role.REFERENT)
    db.session.commit()
    client = app.test_client()
    sign_in(client, referent)
    assert client.get("/admin/users").status_code == 403
    assert post_form(client, "/admin/categories", {"name": "X"}).status_code == 403
    assert db.session.execute(db.select(Category)).first() is None
