"""helpdesk.mailparse against our own .eml fixtures and hostile input."""
import pytest

from helpdesk.mailparse import Unparseable, decode_bytes, parse_mail
from helpdesk.mailtext import html_to_text, split_reply
from tests.mailfixtures import REPLY_FIXTURES, load_eml, make_eml


def parse(name, **values):
    return parse_mail(load_eml(name, **values))


def test_plain_mail_fields():
    mail = parse("plain.eml")
    assert mail.from_address == "marie.dupont@ecole-jules-ferry.fr"
    assert mail.from_name == "Marie Dupont"
    assert mail.subject == "Vidéoprojecteur de la salle 12 en panne"
    assert mail.message_id == "<plain-0001@ecole-jules-ferry.fr>"
    assert mail.date.isoformat() == "2026-11-23T07:15:00+00:00"
    assert "ne s'allume plus" in mail.body_text
    assert mail.body_html is None and mail.attachments == ()


@pytest.mark.parametrize("name, subject, needle", [
    ("iso8859_1.eml", "Problème de réseau à l'école", "coupé à l'école élémentaire"),
    ("windows1252.eml", "Tableau “interactif” bloqué", "“interactif” est bloqué – il faut l’éteindre… Coût : 30 €"),
    ("koi8r.eml", "Принтер не работает", "Принтер не работает в кабинете 5."),
    ("shift_jis.eml", "プリンターが故障しました", "プリンターが故障しました。"),
    ("wrong_charset.eml", "Clavier cassé", "La touche é du clavier"),
    ("unknown_charset.eml", "Souris cassée", "La souris ne répond plus."),
])
def test_charsets_declared_or_wrong(name, subject, needle):
    mail = parse(name)
    assert mail.subject == subject
    assert needle in mail.body_text
    assert "\ufffd" not in mail.body_text


def test_sender_names_in_encoded_words():
    assert parse("iso8859_1.eml").from_name == "René François"
    assert parse("koi8r.eml").from_name == "Иван Петров"
    assert parse("shift_jis.eml").from_name == "田中"


def test_html_only_is_sanitised_and_gets_a_text_version():
    mail = parse("html_only.eml")
    html = mail.body_html
    assert "<script" not in html and "alert" not in html and "onclick" not in html
    assert "javascript:" not in html and "<style" not in html
    assert 'href="https://example.org/doc"' in html
    assert "L'imprimante du CDI affiche « bourrage papier »." in mail.body_text
    assert "- Premier point" in mail.body_text
    assert "alert" not in mail.body_text


def test_alternative_keeps_one_text_and_the_cc():
    mail = parse("alternative.eml")
    assert mail.subject == "Accès ENT impossible"
    assert mail.body_text.count("n'arrivent plus") == 1
    assert mail.body_html and "n'arrivent plus" in mail.body_html
    assert ("Directeur", "direction@ecole-jules-ferry.fr") in mail.cc


def test_attachments_rfc2231_and_rfc2047_names():
    mail = parse("attachments.eml")
    names = [a.filename for a in mail.attachments]
    assert names[:2] == ["devis n°12 école.pdf", "capture écran.png"]
    pdf = mail.attachments[0]
    assert pdf.content_type == "application/pdf" and pdf.data.startswith(b"%PDF-1.4")
    assert mail.attachments[1].data.startswith(b"\x89PNG")
    assert mail.body_text == "Voici le devis et une capture de l'erreur."


def test_inline_image_by_content_id():
    mail = parse("inline_image.eml")
    assert 'src="cid:erreur@inline"' in mail.body_html
    [image] = mail.attachments
    assert image.inline and image.content_id == "erreur@inline" and image.content_type == "image/png"
    assert mail.body_text.startswith("Voici l'erreur")


def test_broken_mime_still_gives_text_and_attachment():
    mail = parse("broken_mime.eml")
    assert "Ecran noir au démarrage." in mail.body_text
    assert [a.filename for a in mail.attachments] == ["tronque.pdf"]


def test_dsn_recipients_and_returned_message_id():
    mail = parse("dsn_bounce.eml", our_message_id="<hd.t1.ab.0123456789abcdef@helpdesk.example>", ticket=1)
    assert mail.content_type == "multipart/report" and mail.report_type == "delivery-status"
    assert mail.return_path == ""
    [failure] = mail.delivery_failures
    assert (failure.address, failure.action, failure.status) == ("ghost@ecole-jules-ferry.fr", "failed", "5.1.1")
    assert failure.permanent
    assert mail.returned_message_id == "<hd.t1.ab.0123456789abcdef@helpdesk.example>"
    assert "ghost@" not in (mail.from_address or "")


def test_auto_reply_headers_are_kept():
    mail = parse("ooo_gmail.eml", our_message_id="<x@y>", ticket=1)
    assert mail.header("auto-submitted") == "auto-replied"
    assert mail.header("precedence") == "bulk"
    assert parse("list_mail.eml").header("list-id").startswith("Lettre numerique")


@pytest.mark.parametrize("name", REPLY_FIXTURES)
def test_reply_new_part_is_separated_from_history(name):
    mail = parse(name, ticket=7, our_message_id="<a@b>", reply_to="support@helpdesk.example")
    assert mail.in_reply_to == ("<a@b>",)
    assert "redémarré" not in mail.display_text and "restart the computer?" not in mail.display_text
    assert mail.display_text.strip()
    # The full text is kept.
    assert ("redémarré le poste ?" in mail.body_text) or ("restart the computer?" in mail.body_text)


@pytest.mark.parametrize("text, expected", [
    ("Merci\n\nDe : A\nEnvoyé : lundi\nObjet : x\n\nvieux", "Merci"),
    ("Thanks\n-----Original Message-----\nFrom: A\nold", "Thanks"),
    ("Réponse\n\n----- Mail original -----\nDe: a\nancien", "Réponse"),
    ("> tout cité\n> encore", "> tout cité\n> encore"),
    ("Je réponds\n> cité\nentre les lignes\n> cité", "Je réponds\n> cité\nentre les lignes"),
    ("Texte seul", "Texte seul"),
])
def test_split_reply_cases(text, expected):
    assert split_reply(text) == expected


@pytest.mark.parametrize("raw, reason", [
    (b"", "empty"),
    (b"   \r\n  ", "empty"),
    (load_eml("not_a_mail.eml"), "no"),
])
def test_unparseable_with_reason(raw, reason):
    with pytest.raises(Unparseable) as info:
        parse_mail(raw)
    assert reason in info.value.reason


def test_deep_nesting_never_crashes():
    depth = 3000
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    raw = ("From: a@b.example\r\nSubject: deep\r\n" + head + "Content-Type: text/plain\r\n\r\nhi\r\n").encode()
    try:
        mail = parse_mail(raw)
    except Unparseable as exc:
        assert "deep" in exc.reason or "nest" in exc.reason or "failed" in exc.reason
    else:
        assert mail.subject == "deep"


def test_message_id_without_brackets_and_odd_headers():
    raw = make_eml(message_id="no-brackets@robot.example", extra={"References": "garbage <r1@x> <r2@y>"})
    mail = parse_mail(raw)
    assert mail.message_id == "<no-brackets@robot.example>"
    assert mail.references == ("<r1@x>", "<r2@y>")
    assert mail.thread_ids == ("<r2@y>", "<r1@x>")


def test_raw_8bit_utf8_and_latin1_headers():
    raw = make_eml(subject="Écran cassé").replace(b"\xc3\x89cran cass\xc3\xa9", "Écran cassé".encode("latin-1"))
    assert parse_mail(raw).subject == "Écran cassé"
    assert parse_mail(make_eml(subject="Écran cassé")).subject == "Écran cassé"


@pytest.mark.parametrize("payload, declared, expected", [
    (b"caf\xc3\xa9", "iso-8859-1", "café"),
    (b"caf\xe9", "utf-8", "café"),
    (b"\x93quoted\x94", "iso-8859-1", "“quoted”"),
    (b"caf\xe9", "no-such-charset", "café"),
    (b"+AGk-", "utf-7", "i"),
])
def test_decode_bytes(payload, declared, expected):
    assert decode_bytes(payload, declared) == expected


def test_html_to_text_drops_scripts_and_keeps_lines():
    assert html_to_text("<p>a</p><script>x()</script><p>b&amp;c</p>") == "a\n\nb&c"


def _big_mail(size: int, extra_part: bytes = b"") -> tuple[bytes, bytes]:
    import base64
    import os

    data = os.urandom(size)
    body = base64.encodebytes(data).replace(b"\n", b"\r\n")
    raw = (b"From: prof@ecole.example\r\nSubject: video\r\nMessage-ID: <big@x>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
           b"Voir la video.\r\n" + extra_part +
           b"--B\r\nContent-Type: video/mp4\r\nContent-Disposition: attachment; filename=\"v.mp4\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"--B--\r\n")
    return raw, data


def test_big_attachment_is_decoded_without_the_line_by_line_parse():
    import tracemalloc

    raw, data = _big_mail(3_000_000)
    tracemalloc.start()
    try:
        mail = parse_mail(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    [video] = mail.attachments
    assert video.data == data and video.filename == "v.mp4" and mail.body_text == "Voir la video."
    # The standard library's parser alone needs about eight times the body; set aside, about two.
    assert peak < 4 * len(raw)


def test_set_aside_keeps_text_that_only_mentions_base64():
    fake = (b"--B\r\nContent-Type: text/plain\r\n\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + b"HDSETASIDE-0000000000000000-0 not ours\r\n" + b"ligne de texte sans tiret\r\n" * 30_000)
    raw, data = _big_mail(2_000_000, fake)
    mail = parse_mail(raw)
    assert mail.attachments[-1].data == data
    assert "HDSETASIDE-0000000000000000-0 not ours" in mail.body_text
    assert mail.body_text.count("ligne de texte sans tiret") == 30_000


def test_big_forwarded_mail_keeps_its_attachment():
    inner, data = _big_mail(2_500_000)
    outer = (b"From: a@b.example\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=OUT"
             b"\r\n\r\n--OUT\r\nContent-Type: text/plain\r\n\r\nvoir\r\n--OUT\r\nContent-Type: message/rfc822\r\n\r\n"
             + inner + b"\r\n--OUT--\r\n")
    [forwarded] = parse_mail(outer).attachments
    assert parse_mail(forwarded.data).attachments[0].data == data
