"""Signed identities in mail: our Message-IDs, reply tokens, subject tags."""
from helpdesk import mailids

SECRET = "s3cret"
SUPPORT = "support@helpdesk.example"


def test_message_id_round_trip_and_uniqueness():
    a = mailids.make_message_id(123, SECRET, "helpdesk.example")
    b = mailids.make_message_id(123, SECRET, "helpdesk.example")
    assert a != b and a.startswith("<hd.t123.") and a.endswith("@helpdesk.example>")
    assert mailids.ticket_id_from_message_id(a, SECRET) == 123
    assert mailids.ticket_id_from_message_id(a.strip("<>"), SECRET) == 123


def test_forged_or_foreign_message_ids_are_not_ours():
    genuine = mailids.make_message_id(7, SECRET, "helpdesk.example")
    forged = genuine.replace("hd.t7.", "hd.t8.")
    assert mailids.ticket_id_from_message_id(forged, SECRET) is None
    assert mailids.ticket_id_from_message_id(genuine, "other-secret") is None
    for other in ["<CAF=abc@mail.gmail.com>", "", "garbage", "<hd.t1.x.zz@h>"]:
        assert mailids.ticket_id_from_message_id(other, SECRET) is None
    assert mailids.ticket_id_from_references(["<x@y>", genuine], SECRET) == 7


def test_reply_address_round_trip_and_forgery():
    addr = mailids.reply_address(42, SECRET, SUPPORT)
    assert addr.startswith("support+t42.") and addr.endswith("@helpdesk.example")
    assert mailids.ticket_id_from_address(addr, SECRET, SUPPORT) == 42
    assert mailids.ticket_id_from_address(addr.upper(), SECRET, SUPPORT) == 42
    forged = addr.replace("+t42.", "+t43.")
    assert mailids.ticket_id_from_address(forged, SECRET, SUPPORT) is None
    assert mailids.ticket_id_from_address("support@helpdesk.example", SECRET, SUPPORT) is None
    assert mailids.ticket_id_from_address(addr.replace("helpdesk.example", "evil.example"), SECRET, SUPPORT) is None


def test_subject_tag():
    assert mailids.subject_tag(5) == "[#5]"
    assert mailids.ticket_id_from_subject("RE: [#5] Imprimante") == 5
    assert mailids.ticket_id_from_subject("Réf #5 sans crochets") is None
