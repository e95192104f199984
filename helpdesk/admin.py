"""Admin pages (blueprint `admin`): users and roles, organisations, categories, locations."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from . import signin, users
from .auth import admin_required
from .extensions import db
from .forms import CategoryForm, LocationForm, OrganisationForm, UserForm, options
from .models import Category, Location, Organisation, Role, User
from .tickets import InvalidAddress, normalise_email

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = {Role.REQUESTER: _l("demandeur"), Role.REFERENT: _l("référent"), Role.ADMIN: _l("administrateur")}


def _organisation_choices():
    orgs = db.session.execute(db.select(Organisation).order_by(Organisation.name)).scalars()
    return [(0, "—")] + [(o.id, o.name) for o in orgs]


def _saved(field, message: str) -> bool:
    """Commit; on a unique-key clash (address, client number, name) roll back and say so on the field."""
    try:
        db.session.commit()
        return True
    except IntegrityError:
        db.session.rollback()
        field.errors.append(message)
        return False


def _get_or_404(model, object_id):
    obj = db.session.get(model, object_id)
    if obj is None:
        abort(404)
    return obj


@bp.get("/")
@admin_required
def index():
    return redirect(url_for("admin.users_list"))


@bp.get("/users")
@admin_required
def users_list():
    people = db.session.execute(db.select(User).order_by(User.role, User.email)).scalars().all()
    return render_template("admin/users.html", people=people, role_labels=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"], defaults={"user_id": None})
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def user_edit(user_id):
    person = _get_or_404(User, user_id) if user_id else None
    form = UserForm(obj=person) if request.method == "GET" and person else UserForm()
    form.role.choices = options([(r.value, str(ROLE_LABELS[r])) for r in Role])
    form.organisation_id.choices = options(_organisation_choices())
    if request.method == "GET" and person:
        form.role.data, form.organisation_id.data = person.role.value, person.organisation_id or 0
    if form.validate_on_submit():
        try:
            address = normalise_email(form.email.data)
        except InvalidAddress:
            form.email.errors.append(_("Adresse e-mail invalide."))
            return render_template("admin/user_form.html", form=form, person=person), 400
        if person is None:
            try:
                person = users.create_user(address, Role(form.role.data))
            except users.UserExists:
                form.email.errors.append(_("Cette adresse est déjà utilisée."))
                return render_template("admin/user_form.html", form=form, person=person), 400
        elif person.id == current_user.id and (Role(form.role.data) != Role.ADMIN or not form.active.data):
            flash(_("Vous ne pouvez pas retirer votre propre accès administrateur."), "error")
            return redirect(url_for("admin.user_edit", user_id=person.id))
        was_active, old_role = person.active, person.role
        person.email, person.display_name = address, form.display_name.data.strip()
        person.role, person.language = Role(form.role.data), form.language.data
        person.organisation_id = form.organisation_id.data or None
        person.is_org_manager, person.active = form.is_org_manager.data, form.active.data
        if form.password.data:
            users.set_password(person, form.password.data)
        if (was_active and not person.active) or old_role != person.role or form.password.data:
            signin.end_sessions(person)  # a demotion or a new password applies at once
        if not _saved(form.email, _("Cette adresse est déjà utilisée.")):
            return render_template("admin/user_form.html", form=form, person=None), 400
        flash(_("Utilisateur enregistré."))
        return redirect(url_for("admin.users_list"))
    return render_template("admin/user_form.html", form=form, person=person), (400 if form.errors else 200)


@bp.get("/organisations")
@admin_required
def organisations():
    orgs = db.session.execute(db.select(Organisation).order_by(Organisation.name)).scalars().all()
    return render_template("admin/organisations.html", organisations=orgs)


@bp.route("/organisations/new", methods=["GET", "POST"], defaults={"org_id": None})
@bp.route("/organisations/<int:org_id>", methods=["GET", "POST"])
@admin_required
def organisation_edit(org_id):
    org = _get_or_404(Organisation, org_id) if org_id else None
    form = OrganisationForm(obj=org) if request.method == "GET" else OrganisationForm()
    if form.validate_on_submit():
        org = org or Organisation()
        org.name, org.client_number = form.name.data.strip(), (form.client_number.data or "").strip() or None
        org.address, org.billing_email = form.address.data or "", (form.billing_email.data or "").strip() or None
        org.mail_domains = ",".join(d.strip().lower() for d in (form.mail_domains.data or "").split(",") if d.strip())
        db.session.add(org)
        if not _saved(form.client_number, _("Ce numéro client est déjà utilisé.")):
            return render_template("admin/organisation_form.html", form=form, org=None), 400
        flash(_("Organisation enregistrée."))
        return redirect(url_for("admin.organisations"))
    return render_template("admin/organisation_form.html", form=form, org=org), (400 if form.errors else 200)


@bp.route("/categories", methods=["GET", "POST"])
@admin_required
def categories():
    form = CategoryForm()
    if form.validate_on_submit():
        db.session.add(Category(name=form.name.data.strip(), active=form.active.data))
        if _saved(form.name, _("Cette catégorie existe déjà.")):
            flash(_("Catégorie ajoutée."))
            return redirect(url_for("admin.categories"))
    items = db.session.execute(db.select(Category).order_by(Category.name)).scalars().all()
    return render_template("admin/categories.html", form=form, categories=items), (400 if form.errors else 200)


@bp.route("/categories/<int:category_id>", methods=["GET", "POST"])
@admin_required
def category_edit(category_id):
    category = _get_or_404(Category, category_id)
    form = CategoryForm(obj=category) if request.method == "GET" else CategoryForm()
    if form.validate_on_submit():
        category.name, category.active = form.name.data.strip(), form.active.data
        if _saved(form.name, _("Cette catégorie existe déjà.")):
            flash(_("Catégorie enregistrée."))
            return redirect(url_for("admin.categories"))
    return render_template("admin/category_form.html", form=form, category=category), (400 if form.errors else 200)


@bp.route("/locations", methods=["GET", "POST"])
@admin_required
def locations():
    form = LocationForm()
    form.organisation_id.choices = options(_organisation_choices())
    if form.validate_on_submit():
        db.session.add(Location(name=form.name.data.strip(), organisation_id=form.organisation_id.data or None,
                                active=form.active.data))
        db.session.commit()
        flash(_("Lieu ajouté."))
        return redirect(url_for("admin.locations"))
    items = db.session.execute(db.select(Location).order_by(Location.name)).scalars().all()
    return render_template("admin/locations.html", form=form, locations=items), (400 if form.errors else 200)


@bp.route("/locations/<int:location_id>", methods=["GET", "POST"])
@admin_required
def location_edit(location_id):
    location = _get_or_404(Location, location_id)
    form = LocationForm(obj=location) if request.method == "GET" else LocationForm()
    form.organisation_id.choices = options(_organisation_choices())
    if request.method == "GET":
        form.organisation_id.data = location.organisation_id or 0
    if form.validate_on_submit():
        location.name, location.active = form.name.data.strip(), form.active.data
        location.organisation_id = form.organisation_id.data or None
        db.session.commit()
        flash(_("Lieu enregistré."))
        return redirect(url_for("admin.locations"))
    return render_template("admin/location_form.html", form=form, location=location), (400 if form.errors else 200)
