"""Flask-WTF forms of the portal, the desk and the admin pages. Labels are French source strings."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from markupsafe import Markup
from wtforms import (BooleanField, EmailField, HiddenField, PasswordField, SelectChoice, SelectField,
                     StringField, SubmitField, TextAreaField)
from wtforms.validators import DataRequired, EqualTo, Length, Optional
from wtforms.widgets import Select, html_params

from . import files
from .menus import option_tags
from .conversation import MAX_FILES, Upload
from .users import PASSWORD_MIN_LENGTH

BODY_MAX = 100_000
BULK_NOTE_MAX = 2000  # also the maxlength of the queue's hand-written bulk form


def options(pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs (WTForms 3.3 deprecates bare tuples)."""
    return [SelectChoice(value=value, label=str(label)) for value, label in pairs]


def uploads(field) -> list[Upload]:
    """The files actually chosen in a MultipleFileField (browsers send an empty part when none is)."""
    return [Upload(f.filename, f.mimetype or "", f.stream) for f in (field.data or []) if f and f.filename]


def upload_error(exc: Exception) -> str:
    """What to tell someone whose files were refused (nothing was saved)."""
    if isinstance(exc, files.AttachmentTooLarge):
        return str(_l("Fichier trop volumineux (%(size)d Mo au plus). Rien n'a été enregistré.",
                      size=max(1, exc.limit // 1_000_000)))
    return str(_l("Trop de fichiers (%(count)d au plus). Rien n'a été enregistré.", count=MAX_FILES))


class MenuSelect(Select):
    """WTForms' <select>, its options written in one pass by menus.option_tags (the same HTML).

    WTForms writes every option through html_params: the hundred options of the desk's ticket page
    were a quarter of its time (docs/benchmarks.md). Groups and per-option attributes go WTForms' way.
    """

    def __call__(self, field, **kwargs):
        choices = field.iter_choices()
        if self.multiple or field.has_groups() or any(c.render_kw for c in choices):
            return super().__call__(field, **kwargs)
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for k in dir(flags):
            if k in self.validation_attrs and k not in kwargs:
                kwargs[k] = getattr(flags, k)
        selected = next((c.value for c in choices if c.selected), None)
        options = option_tags([(c.value, c.label or c.value) for c in choices], selected)
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>") + options + Markup("</select>")


class MenuField(SelectField):
    """A SelectField drawn by MenuSelect, for the desk's long menus."""

    widget = MenuSelect()


LANGUAGE_OPTIONS = [("fr", "Français"), ("en", "English")]


class LoginForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(), Length(max=320)])
    password = PasswordField(_l("Mot de passe"), validators=[DataRequired(), Length(max=1000)])
    next = HiddenField()
    submit = SubmitField(_l("Se connecter"))


class AddressForm(FlaskForm):
    """Ask for a sign-in link or a password reset link."""

    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(), Length(max=320)])
    submit = SubmitField(_l("Recevoir le lien"))


class ConfirmForm(FlaskForm):
    """A single button: mail scanners that prefetch links must not consume a token."""

    submit = SubmitField(_l("Me connecter"))


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("Nouveau mot de passe"), validators=[
        DataRequired(), Length(min=PASSWORD_MIN_LENGTH, max=1000)])
    confirm = PasswordField(_l("Confirmer le mot de passe"), validators=[
        DataRequired(), EqualTo("password", message=_l("Les deux mots de passe diffèrent."))])
    submit = SubmitField(_l("Enregistrer"))


class LogoutForm(FlaskForm):
    submit = SubmitField(_l("Se déconnecter"))


class LanguageForm(FlaskForm):
    language = SelectField(_l("Langue"), choices=options(LANGUAGE_OPTIONS))
    next = HiddenField()
    submit = SubmitField(_l("Changer"))


class NewTicketForm(FlaskForm):
    subject = StringField(_l("Objet"), validators=[DataRequired(), Length(max=500)])
    body = TextAreaField(_l("Description"), validators=[DataRequired(), Length(max=BODY_MAX)])
    location_id = SelectField(_l("Lieu"), coerce=int, validators=[Optional()])
    attachments = MultipleFileField(_l("Pièces jointes"))
    submit = SubmitField(_l("Envoyer la demande"))


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=BODY_MAX)])
    attachments = MultipleFileField(_l("Pièces jointes"))
    submit = SubmitField(_l("Envoyer"))


class DeskReplyForm(FlaskForm):
    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=BODY_MAX)])
    internal = BooleanField(_l("Note interne (non envoyée au demandeur)"))
    attachments = MultipleFileField(_l("Pièces jointes"))
    submit = SubmitField(_l("Ajouter"))


class ActionForm(FlaskForm):
    """A button with only a CSRF token (take, retry, replay)."""

    submit = SubmitField(_l("Valider"))


class StatusForm(FlaskForm):
    status = MenuField(_l("Nouveau statut"), validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Length(max=BODY_MAX)])
    internal = BooleanField(_l("Note interne"))
    submit = SubmitField(_l("Changer le statut"))


class AssignForm(FlaskForm):
    assignee_id = MenuField(_l("Référent"), coerce=int)
    note = TextAreaField(_l("Note de passation"), validators=[Length(max=BODY_MAX)])
    submit = SubmitField(_l("Confier"))


class EditTicketForm(FlaskForm):
    category_id = MenuField(_l("Catégorie"), coerce=int)
    priority = MenuField(_l("Priorité"))
    location_id = MenuField(_l("Lieu"), coerce=int)
    asset_id = MenuField(_l("Matériel"), coerce=int)
    submit = SubmitField(_l("Enregistrer"))


class MergeForm(FlaskForm):
    target = StringField(_l("Fusionner dans le ticket n°"), validators=[DataRequired(), Length(max=20)])
    submit = SubmitField(_l("Fusionner"))


class BulkForm(FlaskForm):
    ticket_ids = HiddenField()  # filled from the checkboxes named "ticket"
    status = SelectField(_l("Statut"), validators=[Optional()])
    assignee_id = SelectField(_l("Référent"), coerce=int, validators=[Optional()])
    note = StringField(_l("Note"), validators=[Length(max=BULK_NOTE_MAX)])
    submit = SubmitField(_l("Appliquer à la sélection"))


class UserForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(),
                                                         Length(max=320)])
    display_name = StringField(_l("Nom"), validators=[Length(max=200)])
    role = SelectField(_l("Rôle"))
    language = SelectField(_l("Langue"), choices=options(LANGUAGE_OPTIONS))
    organisation_id = SelectField(_l("Organisation"), coerce=int)
    is_org_manager = BooleanField(_l("Voit tous les tickets de son organisation"))
    active = BooleanField(_l("Actif"), default=True)
    password = PasswordField(_l("Nouveau mot de passe (laisser vide pour ne pas changer)"),
                             validators=[Optional(), Length(min=PASSWORD_MIN_LENGTH, max=1000)])
    submit = SubmitField(_l("Enregistrer"))


class OrganisationForm(FlaskForm):
    name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=200)])
    client_number = StringField(_l("Numéro client"), validators=[Optional(), Length(max=50)])
    address = TextAreaField(_l("Adresse"), validators=[Length(max=2000)])
    billing_email = EmailField(_l("Adresse de facturation"), validators=[Optional(), Length(max=320)])
    mail_domains = StringField(_l("Domaines de messagerie (séparés par des virgules)"),
                               validators=[Length(max=500)])
    submit = SubmitField(_l("Enregistrer"))


class CategoryForm(FlaskForm):
    name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=200)])
    active = BooleanField(_l("Active"), default=True)
    submit = SubmitField(_l("Enregistrer"))


class LocationForm(FlaskForm):
    name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=200)])
    organisation_id = SelectField(_l("Organisation"), coerce=int)
    active = BooleanField(_l("Actif"), default=True)
    submit = SubmitField(_l("Enregistrer"))
