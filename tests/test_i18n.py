"""The English catalogue: complete, and the committed .mo is compiled from the committed .po."""
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

CATALOGUE = Path(__file__).resolve().parent.parent / "helpdesk" / "translations" / "en" / "LC_MESSAGES"


def _entries(catalog):
    return {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in catalog if m.id}


def test_every_french_string_has_an_english_translation():
    with (CATALOGUE / "messages.po").open("rb") as fh:
        po = read_po(fh)
    untranslated = [m.id for m in po if m.id and (not m.string or m.fuzzy)]
    assert untranslated == [], "translate them in messages.po, then run scripts/translations.sh compile"


def test_compiled_catalogue_matches_the_po_file():
    with (CATALOGUE / "messages.po").open("rb") as fh:
        po = _entries(read_po(fh))
    with (CATALOGUE / "messages.mo").open("rb") as fh:
        mo = _entries(read_mo(fh))
    assert {k: v for k, v in po.items() if v} == {k: v for k, v in mo.items() if k}, \
        "run scripts/translations.sh compile"


def test_page_strings_and_dates_follow_force_locale_within_a_request(app):
    """Templates look the catalogue and date format up once per request and locale: a mail rendered in
    another language in the middle of a page (force_locale) must still get its own language, and the
    page its own afterwards."""
    from datetime import datetime, timezone

    from flask import render_template_string
    from flask_babel import force_locale

    template = "{{ _('Mes demandes') }} {{ when|datetime }}"
    when = datetime(2026, 3, 5, 9, 30, tzinfo=timezone.utc)
    with app.test_request_context("/"):
        before = render_template_string(template, when=when)
        with force_locale("en"):
            inside = render_template_string(template, when=when)
        after = render_template_string(template, when=when)
    assert before == after == "Mes demandes 05/03/2026 10:30"  # Europe/Paris by default
    assert inside == "My requests 05 Mar 2026, 10:30"


def test_template_underscore_translates_and_escapes_its_variables_only_when_autoescaping(app):
    from flask_babel import force_locale

    failed = "_('Message non remis à %(to)s : %(reason)s', to='<b>', reason='&')"
    template = ("{{ _('Se déconnecter') }}|{{ " + failed + " }}|{% autoescape false %}{{ " + failed + " }}"
                "{% endautoescape %}")
    with app.test_request_context("/"):
        french = app.jinja_env.from_string(template).render()
        with force_locale("en"):
            english = app.jinja_env.from_string(template).render()
    assert french == "Se déconnecter|Message non remis à &lt;b&gt; : &amp;|Message non remis à <b> : &"
    assert english.startswith("Sign out|") and english.count("&lt;b&gt;") == 1 and english.endswith("&")
