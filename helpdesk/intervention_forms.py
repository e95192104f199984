"""Forms of the intervention pages (Flask-WTF: CSRF on every post)."""
from __future__ import annotations

import base64
import binascii

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField, DateTimeLocalField, DecimalField, HiddenField, IntegerField, SelectField, StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from .billing import TIME_KINDS, LineKind
from .documents import LINE_KIND_LABELS
from .interventions import MINUTES_MAX, SIGNATURE_MAX_BYTES

TIME_KIND_VALUES = frozenset(k.value for k in TIME_KINDS)
DATA_URL_PREFIX = "data:image/png;base64,"
MONEY_MAX = 1_000_000


class ReportForm(FlaskForm):
    subject = StringField(_l("Objet"), validators=[DataRequired(), Length(max=500)])
    hardware = TextAreaField(_l("Matériel"), validators=[Length(max=2000)])
    client_name = StringField(_l("Nom du client"), validators=[DataRequired(), Length(max=200)])
    client_number = StringField(_l("N° client"), validators=[Length(max=50)])
    client_address = TextAreaField(_l("Adresse"), validators=[Length(max=1000)])
    under_contract = BooleanField(_l("Sous contrat"))
    under_warranty = BooleanField(_l("Sous garantie"))
    billable_travel = BooleanField(_l("Déplacement facturable"))
    billable_labour = BooleanField(_l("Main d'œuvre facturable"))
    billable_parts = BooleanField(_l("Pièces facturables"))
    diagnosis = TextAreaField(_l("Diagnostic / observations"), validators=[Length(max=5000)])
    work_done = TextAreaField(_l("Travaux réalisés"), validators=[Length(max=5000)])
    remarks = TextAreaField(_l("Remarque"), validators=[Length(max=2000)])
    intervention_at = DateTimeLocalField(_l("Date et heure d'intervention"), validators=[Optional()],
                                         format="%Y-%m-%dT%H:%M")
    resolved_at = DateTimeLocalField(_l("Résolution"), validators=[Optional()], format="%Y-%m-%dT%H:%M")
    language = SelectField(_l("Langue du rapport"), choices=[SelectChoice("fr", "Français"), SelectChoice("en", "English")])


class LineForm(FlaskForm):
    kind = SelectField(_l("Nature"), choices=[SelectChoice(k.value, LINE_KIND_LABELS[k]) for k in LineKind])
    label = StringField(_l("Désignation"), validators=[Length(max=300)])
    minutes = IntegerField(_l("Durée (min)"), validators=[Optional(), NumberRange(0, MINUTES_MAX)])
    to_estimate = BooleanField(_l("À estimer"))
    km = DecimalField(_l("Km"), validators=[Optional(), NumberRange(0, 100_000)], places=None)
    quantity = DecimalField(_l("Quantité"), validators=[Optional(), NumberRange(0, 100_000)], places=None)
    unit_price = DecimalField(_l("Prix unitaire HT"), validators=[Optional(), NumberRange(0, MONEY_MAX)], places=None)
    billable = BooleanField(_l("Facturable"), default=True)

    def validate(self, extra_validators=None):
        # Not an inline validator: Optional() stops the chain of an empty field before it would run.
        ok = super().validate(extra_validators)
        if ok and self.kind.data in TIME_KIND_VALUES and self.minutes.data is None and not self.to_estimate.data:
            self.minutes.errors = [_l("Indiquez une durée ou cochez « à estimer ».")]
            return False
        return ok


class CompleteLineForm(FlaskForm):
    minutes = IntegerField(_l("Durée (min)"), validators=[InputRequired(), NumberRange(0, MINUTES_MAX)])


class HandoverForm(FlaskForm):
    to_user = SelectField(_l("Technicien"), coerce=int, validate_choice=True)
    note = TextAreaField(_l("Ce qui a été fait, ce qui reste"), validators=[Length(max=5000)])


class IntakeForm(FlaskForm):
    reason = TextAreaField(_l("Raison de l'enlèvement"), validators=[DataRequired(), Length(max=2000)])


class ReturnForm(FlaskForm):
    returned_to = StringField(_l("Rendu à"), validators=[DataRequired(), Length(max=200)])


class EmptyForm(FlaskForm):
    """A button that posts (CSRF only)."""


class RevisionForm(FlaskForm):
    reason = TextAreaField(_l("Pourquoi une nouvelle version"), validators=[DataRequired(), Length(max=2000)])


class PlannedForm(FlaskForm):
    organisation = SelectField(_l("Client"), coerce=int, validate_choice=True)
    subject = StringField(_l("Objet"), validators=[DataRequired(), Length(max=500)])
    planned_at = DateTimeLocalField(_l("Prévue le"), validators=[Optional()], format="%Y-%m-%dT%H:%M")


class SignatureForm(FlaskForm):
    signatory_name = StringField(_l("Nom du signataire"), validators=[DataRequired(), Length(max=200)])
    signature = HiddenField(validators=[DataRequired(_l("Signez dans le cadre avant de valider."))])

    def validate_signature(self, field):
        field.png = decode_png_data_url(field.data or "")


class StatementForm(FlaskForm):
    organisation = SelectField(_l("Client"), coerce=int, validate_choice=True)
    period = StringField(_l("Mois (AAAA-MM)"), validators=[DataRequired(), Regexp(r"^\d{4}-\d{2}$")])


def decode_png_data_url(value: str) -> bytes:
    """The canvas sends `data:image/png;base64,...`; anything else is refused with a clear message."""
    if not value.startswith(DATA_URL_PREFIX):
        raise ValidationError(_l("Signature illisible : image PNG attendue."))
    encoded = value[len(DATA_URL_PREFIX):]
    if len(encoded) > SIGNATURE_MAX_BYTES * 4 // 3 + 4:
        raise ValidationError(_l("Image de signature trop lourde."))
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(_l("Signature illisible : image PNG attendue.")) from None
