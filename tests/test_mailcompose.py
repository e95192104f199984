"""helpdesk.mailcompose: the hand-built body decodes to exactly the text given, 7-bit, short lines."""
from datetime import datetime, timezone
from email import policy
from email.parser import BytesParser

import pytest

from helpdesk.mailcompose import Envelope, MailAttachment, compose

ENVELOPE = Envelope(
    from_address="support@helpdesk.example", from_name="Helpdesk", to_address="camille@example.org",
    to_name="Camille Durand", subject="[#12] Votre demande", message_id="<hd.t12.x.0123456789abcdef@helpdesk.example>",
    date=datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc),
)
TEXTS = [
    "Bonjour,\nvotre demande n°12 est enregistrée.\n",
    "sans fin de ligne",
    "--=_hd_0123\n--\n.\nFrom here\n=41 =_ =\n   espaces en fin   \n\ttab\t\n",
    "ligne " + "très longue " * 40 + "\n" + "é" * 200,
    "retours\r\nWindows\r\net\rMac\n",
]


def parse(raw):
    return BytesParser(policy=policy.default).parsebytes(raw)


@pytest.mark.parametrize("text", TEXTS)
def test_text_and_html_decode_to_what_was_given(text):
    raw = compose(ENVELOPE, text, f"<p>{text}</p>")
    mail = parse(raw)
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    expected += "" if expected.endswith("\n") else "\n"
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain.get_content().replace("\r\n", "\n") == expected
    assert html.get_content().replace("\r\n", "\n").startswith("<p>")
    assert mail.get_content_type() == "multipart/alternative" and len(list(mail.iter_parts())) == 2
    assert raw.isascii() and all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert mail.defects == [] and all(part.defects == [] for part in mail.walk())


def test_text_only_and_attachments():
    mail = parse(compose(ENVELOPE, "Bonjour é"))
    assert mail.get_content_type() == "text/plain" and mail.get_content().replace("\r\n", "\n") == "Bonjour é\n"
    mail = parse(compose(ENVELOPE, "Rapport", "<p>Rapport</p>", [MailAttachment("rapport é.pdf", b"%PDF", "application/pdf")]))
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "rapport é.pdf" and attachment.get_content() == b"%PDF"


@pytest.mark.parametrize("subject", ["é", "Panne n°12 salle 3 : le vidéoprojecteur ne s'allume plus " * 3,
                                     "日本語のテスト" * 20, "a" * 30 + "€" * 40 + "🙂" * 10])
def test_encoded_words_round_trip_within_the_line_length(subject):
    from email.header import decode_header, make_header

    from helpdesk.mailcompose import MAX_LINE, _encoded

    encoded = _encoded(subject, "Subject")
    lines = ("Subject: " + encoded).split("\r\n")
    assert all(len(line) <= MAX_LINE for line in lines) and all(line.startswith(" ") for line in lines[1:])
    assert str(make_header(decode_header(encoded))) == subject
