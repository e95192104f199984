"""helpdesk.ingestion: the ledger, the decision chain, threading, spoofing, quarantine and replay."""
from datetime import timedelta

import pytest

from helpdesk import files, ingestion, ingestion_decisions, mailids
from helpdesk.extensions import db
from helpdesk.models import (
    InboundMail, InboundOutcome, MessageKind, OutboundMail, OutboundStatus, Role, Source, Status, Ticket,
    TicketWatcher, User, utcnow,
)
from helpdesk.models.base import epoch_seconds_of
from tests.factories import make_referent, make_ticket, make_user
from tests.mailfixtures import REPLY_FIXTURES, load_eml, make_eml

SECRET = "test-secret-not-for-production"
SUPPORT = "support@helpdesk.example"


@pytest.fixture
def config(app):
    return ingestion.IngestConfig.from_settings(app.config["HELPDESK"])


def run(raw, config, **kw):
    result = ingestion.ingest(raw, config, mailbox=kw.pop("mailbox", "test"), **kw)
    db.session.commit()
    return result


def our_id(ticket):
    return mailids.make_message_id(ticket.id, SECRET, "helpdesk.example")


def count(model):
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def test_new_ticket_from_plain_mail(config):
    result = run(load_eml("plain.eml"), config)
    assert result.outcome == InboundOutcome.TICKET_CREATED
    ticket = db.session.get(Ticket, result.ticket_id)
    assert ticket.source == Source.MAIL and ticket.status == Status.NEW
    assert ticket.subject == "Vidéoprojecteur de la salle 12 en panne"
    assert ticket.origin_message_id == "<plain-0001@ecole-jules-ferry.fr>"
    requester = ticket.requester
    assert requester.email == "marie.dupont@ecole-jules-ferry.fr" and requester.password_hash is None
    assert requester.display_name == "Marie Dupont" and requester.role == Role.REQUESTER
    [message] = ticket.messages
    assert message.kind == MessageKind.INBOUND and message.inbound_mail_id == result.inbound_mail_id
    row = db.session.get(InboundMail, result.inbound_mail_id)
    assert row.outcome == InboundOutcome.TICKET_CREATED and row.ticket_id == ticket.id
    assert row.raw == load_eml("plain.eml") and row.attempts == 1 and len(row.sha256) == 64
    assert row.dedupe_key == "mid:<plain-0001@ecole-jules-ferry.fr>"
    assert len(ticket.status_changes) == 1


@pytest.mark.parametrize("name", ["plain.eml", "no_message_id.eml"])
def test_second_import_is_a_duplicate(config, name):
    first = run(load_eml(name), config)
    second = run(load_eml(name), config)
    assert second.outcome == InboundOutcome.DUPLICATE
    assert second.inbound_mail_id == first.inbound_mail_id and second.ticket_id == first.ticket_id
    assert count(Ticket) == 1 and count(InboundMail) == 1


def test_same_message_id_different_bytes_is_a_duplicate(config):
    run(make_eml(body="one"), config)
    assert run(make_eml(body="two (delivered to a second address)"), config).outcome == InboundOutcome.DUPLICATE
    assert count(Ticket) == 1


def test_cc_become_watchers_but_not_the_support_address(config):
    result = run(load_eml("alternative.eml"), config)
    watchers = db.session.execute(db.select(TicketWatcher)).scalars().all()
    assert [w.user.email for w in watchers] == ["direction@ecole-jules-ferry.fr"]
    assert watchers[0].ticket_id == result.ticket_id
    assert db.session.execute(db.select(User).where(User.email == SUPPORT)).first() is None


def test_attachments_are_stored_by_hash_with_safe_names(config):
    result = run(load_eml("attachments.eml"), config)
    ticket = db.session.get(Ticket, result.ticket_id)
    attachments = ticket.messages[0].attachments
    assert [a.filename for a in attachments] == ["devis n°12 école.pdf", "capture écran.png", "passwd"]
    for a in attachments:
        assert a.storage_key.endswith(a.sha256) and "/" not in a.filename
        assert files.read_attachment(a)
    assert files.read_attachment(attachments[0]).startswith(b"%PDF")


def test_inline_image_attachment(config):
    result = run(load_eml("inline_image.eml"), config)
    [image] = db.session.get(Ticket, result.ticket_id).messages[0].attachments
    assert image.inline and image.content_id == "erreur@inline" and image.filename == "piece-jointe.png"


def test_oversize_attachment_is_left_out_with_a_note(app, config, settings_overrides):
    small = ingestion.IngestConfig(**{**config.__dict__, "max_attachment_bytes": 20})
    result = run(load_eml("attachments.eml"), small)
    ticket = db.session.get(Ticket, result.ticket_id)
    assert [a.filename for a in ticket.messages[0].attachments] == ["passwd"]
    notes = [m for m in ticket.messages if m.kind == MessageKind.NOTE]
    assert len(notes) == 1 and "devis n°12 école.pdf" in notes[0].body_text and not notes[0].public


@pytest.mark.parametrize("name", REPLY_FIXTURES)
def test_reply_threads_by_our_message_id(config, name):
    ticket = make_ticket(status=Status.TAKEN)
    db.session.commit()
    raw = load_eml(name, ticket=ticket.id, our_message_id=our_id(ticket), reply_to=SUPPORT)
    result = run(raw, config)
    assert result.outcome == InboundOutcome.REPLY_ADDED and result.ticket_id == ticket.id
    assert "signed Message-ID" in result.reason
    message = ticket.messages[-1]
    assert message.kind == MessageKind.INBOUND and message.public
    assert message.display_text != message.body_text and len(message.display_text) < len(message.body_text)
    assert count(Ticket) == 1
    assert ticket.status == Status.TAKEN


def test_reply_threads_by_signed_reply_address(config):
    ticket = make_ticket()
    db.session.commit()
    raw = make_eml(sender="colleague@ecole.example", subject="Re: votre demande",
                   to=mailids.reply_address(ticket.id, SECRET, SUPPORT))
    result = run(raw, config)
    assert result.outcome == InboundOutcome.REPLY_ADDED and result.ticket_id == ticket.id
    assert "signed reply address" in result.reason


def test_forged_message_id_signature_opens_a_new_ticket(config):
    ticket = make_ticket()
    db.session.commit()
    forged = our_id(ticket)[:-20] + "0000000000000000@helpdesk.example>"
    raw = make_eml(sender="stranger@evil.example", extra={"In-Reply-To": forged})
    result = run(raw, config)
    assert result.outcome == InboundOutcome.TICKET_CREATED and result.ticket_id != ticket.id


def test_subject_tag_from_a_stranger_never_lands_on_the_ticket(config):
    ticket = make_ticket()
    db.session.commit()
    before = len(ticket.messages)
    raw = make_eml(sender="stranger@evil.example", subject=f"Re: [#{ticket.id}] injecting", body="spoof")
    result = run(raw, config)
    assert result.outcome == InboundOutcome.TICKET_CREATED and result.ticket_id != ticket.id
    db.session.refresh(ticket)
    assert len(ticket.messages) == before


@pytest.mark.parametrize("who", ["requester", "watcher", "staff"])
def test_subject_tag_from_someone_on_the_ticket(config, who):
    ticket = make_ticket()
    if who == "requester":
        sender = ticket.requester
    elif who == "watcher":
        sender = make_user()
        db.session.add(TicketWatcher(ticket=ticket, user=sender))
    else:
        sender = make_referent()
    db.session.commit()
    result = run(make_eml(sender=sender.email, subject=f"Re: [#{ticket.id}] suite"), config)
    assert result.outcome == InboundOutcome.REPLY_ADDED and result.ticket_id == ticket.id
    assert "subject tag" in result.reason


def test_requester_reply_reopens_a_closed_ticket_within_the_window(config):
    ticket = make_ticket(status=Status.CLOSED)
    db.session.commit()
    result = run(make_eml(sender=ticket.requester.email, subject=f"Re: [#{ticket.id}]", body="Encore en panne"),
                 config)
    assert result.outcome == InboundOutcome.REPLY_ADDED and "reopened" in result.reason
    assert ticket.status == Status.IN_PROGRESS and ticket.reopen_count == 1
    assert ticket.messages[-1].body_text.startswith("Encore en panne")


def test_reply_after_the_window_opens_a_linked_ticket(config):
    ticket = make_ticket(status=Status.CLOSED)
    ticket.closed_at = utcnow() - timedelta(days=config.reopen_window_days + 1)
    db.session.commit()
    result = run(make_eml(sender=ticket.requester.email, extra={"In-Reply-To": our_id(ticket)}), config)
    assert result.outcome == InboundOutcome.TICKET_CREATED
    new = db.session.get(Ticket, result.ticket_id)
    assert new.previous_ticket_id == ticket.id and new.requester_id == ticket.requester_id
    assert ticket.status == Status.CLOSED


def test_bounce_marks_the_address_and_notes_the_ticket(config):
    ghost = make_user(email="ghost@ecole-jules-ferry.fr")
    ticket = make_ticket(requester=ghost)
    db.session.commit()
    result = run(load_eml("dsn_bounce.eml", ticket=ticket.id, our_message_id=our_id(ticket)), config)
    assert result.outcome == InboundOutcome.BOUNCE and result.ticket_id == ticket.id
    assert ghost.undeliverable_until > utcnow() + timedelta(days=config.bounce_undeliverable_days - 1)
    assert "5.1.1" in ghost.undeliverable_reason
    note = ticket.messages[-1]
    assert note.kind == MessageKind.NOTE and not note.public and "ghost@ecole-jules-ferry.fr" in note.body_text
    assert count(Ticket) == 1 and ticket.status == Status.NEW


@pytest.mark.parametrize("name", ["ooo_exchange.eml", "ooo_gmail.eml"])
def test_out_of_office_is_a_note_never_a_ticket_or_a_status_change(config, name):
    ticket = make_ticket(status=Status.TAKEN)
    db.session.commit()
    changes = len(ticket.status_changes)
    result = run(load_eml(name, ticket=ticket.id, our_message_id=our_id(ticket)), config)
    assert result.outcome == InboundOutcome.AUTO_REPLY and result.ticket_id == ticket.id
    assert ticket.messages[-1].kind == MessageKind.NOTE and not ticket.messages[-1].public
    assert ticket.status == Status.TAKEN and len(ticket.status_changes) == changes
    assert count(Ticket) == 1


@pytest.mark.parametrize("raw", [
    load_eml("list_mail.eml"),
    load_eml("ooo_gmail.eml", ticket=99, our_message_id="<unknown@x>"),
    make_eml(sender="noreply@saas.example"),
    make_eml(extra={"Return-Path": "<>"}),
    make_eml(subject="Réponse automatique : absent"),
])
def test_robots_without_a_ticket_are_dropped(config, raw):
    result = run(raw, config)
    assert result.outcome == InboundOutcome.AUTO_REPLY and result.ticket_id is None
    assert count(Ticket) == 0


def test_human_subject_that_looks_automatic_still_opens_a_ticket(config):
    assert run(make_eml(subject="Out of office laptop is broken"), config).outcome == InboundOutcome.TICKET_CREATED


@pytest.mark.parametrize("raw", [
    make_eml(sender=SUPPORT),
    make_eml(sender="Support <SUPPORT+t3.abc@helpdesk.example>"),
    make_eml(message_id=mailids.make_message_id(5, SECRET, "helpdesk.example")),
])
def test_own_mail_is_dropped(config, raw):
    assert run(raw, config).outcome == InboundOutcome.OWN_MAIL
    assert count(Ticket) == 0


def test_unparseable_and_oversize_are_quarantined(config):
    result = run(load_eml("not_a_mail.eml"), config)
    assert result.outcome == InboundOutcome.QUARANTINED and result.reason.startswith("unparseable")
    small = ingestion.IngestConfig(**{**config.__dict__, "max_message_bytes": 100})
    result = run(load_eml("plain.eml"), small)
    assert result.outcome == InboundOutcome.QUARANTINED and result.reason.startswith("too large")
    row = db.session.get(InboundMail, result.inbound_mail_id)
    assert row.message_id == "<plain-0001@ecole-jules-ferry.fr>" and row.raw == load_eml("plain.eml")


def test_broken_mime_still_opens_a_ticket(config):
    assert run(load_eml("broken_mime.eml"), config).outcome == InboundOutcome.TICKET_CREATED


@pytest.mark.parametrize("sender", ["", "not an address", "<>"])
def test_no_usable_sender_is_quarantined(config, sender):
    raw = make_eml(sender=sender)
    assert run(raw, config).outcome == InboundOutcome.QUARANTINED


def test_allowed_domains_quarantine_unknown_senders_and_replay_after_a_fix(app, config):
    strict = ingestion.IngestConfig(**{**config.__dict__, "allowed_sender_domains": ("ecole.example",)})
    known = make_user(email="known@elsewhere.example")
    db.session.commit()
    assert run(make_eml(sender="a@ecole.example", message_id="<1@x>"), strict).outcome == InboundOutcome.TICKET_CREATED
    assert run(make_eml(sender=known.email, message_id="<2@x>"), strict).outcome == InboundOutcome.TICKET_CREATED
    stranger = run(make_eml(sender="b@other.example", message_id="<3@x>"), strict)
    assert stranger.outcome == InboundOutcome.QUARANTINED and stranger.reason.startswith("unknown sender")
    assert tickets_count() == 2
    with pytest.raises(ValueError):
        ingestion.replay(stranger.inbound_mail_id - 1, config)  # not quarantined
    result = ingestion.replay(stranger.inbound_mail_id, config)
    db.session.commit()
    assert result.outcome == InboundOutcome.TICKET_CREATED
    row = db.session.get(InboundMail, stranger.inbound_mail_id)
    assert row.attempts == 2 and row.outcome == InboundOutcome.TICKET_CREATED
    with pytest.raises(LookupError):
        ingestion.replay(10_000, config)


def tickets_count():
    return count(Ticket)


def test_a_bug_quarantines_one_mail_and_the_next_goes_through(config, monkeypatch):
    from helpdesk import tickets

    real = tickets.open_tickets

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(tickets, "open_tickets", broken)
    bad = run(make_eml(message_id="<poison@x>"), config)
    assert bad.outcome == InboundOutcome.QUARANTINED and "simulated bug" in bad.reason
    assert count(User) == 0  # the savepoint rolled back the half-made requester
    monkeypatch.setattr(tickets, "open_tickets", real)
    assert run(make_eml(message_id="<good@x>"), config).outcome == InboundOutcome.TICKET_CREATED
    assert ingestion.replay(bad.inbound_mail_id, config).outcome == InboundOutcome.TICKET_CREATED


def test_known_inbound_message_id_needs_a_sender_on_the_ticket(config):
    first = run(load_eml("alternative.eml"), config)
    reply_all = make_eml(sender="direction@ecole-jules-ferry.fr", subject="Re: Accès ENT",
                         message_id="<r1@x>", extra={"In-Reply-To": "<alt-0003@ecole-jules-ferry.fr>"})
    assert run(reply_all, config).ticket_id == first.ticket_id
    stranger = make_eml(sender="mallory@evil.example", message_id="<r2@x>",
                        extra={"In-Reply-To": "<alt-0003@ecole-jules-ferry.fr>"})
    result = run(stranger, config)
    assert result.outcome == InboundOutcome.TICKET_CREATED and result.ticket_id != first.ticket_id


def test_deactivated_sender_is_quarantined(config):
    user = make_user()
    user.active = False
    db.session.commit()
    result = run(make_eml(sender=user.email), config)
    assert result.outcome == InboundOutcome.QUARANTINED and "deactivated" in result.reason


def test_a_crash_before_the_commit_leaves_no_ledger_row(config, monkeypatch):
    """The ledger row and the decision are one transaction, even on SQLite (savepoints nest)."""
    def crash(*args):
        raise KeyboardInterrupt  # not an Exception: nothing catches it, like a kill

    monkeypatch.setattr(ingestion_decisions, "decide", crash)
    with pytest.raises(KeyboardInterrupt):
        ingestion.ingest(make_eml(), config, mailbox="test")
    db.session.rollback()
    assert count(InboundMail) == 0 and count(Ticket) == 0


def test_a_recorded_but_undecided_mail_is_decided_not_called_a_duplicate(config):
    raw = make_eml()
    row = InboundMail(mailbox="test", message_id="<made-1@ecole.example>", sha256="0" * 64,
                      dedupe_key="mid:<made-1@ecole.example>", raw=raw, reason="", attempts=1)
    db.session.add(row)
    db.session.commit()
    result = run(raw, config)
    assert result.outcome == InboundOutcome.TICKET_CREATED and result.inbound_mail_id == row.id
    assert row.attempts == 2


# ---- ingest_batch: a batch's plain new tickets are opened together ----------------------------

PROF = "prof@ecole.example"


def batch(raws, config):
    results = ingestion.ingest_batch([ingestion.Incoming(raw, uid) for uid, raw in enumerate(raws, 1)], config,
                                     mailbox="test")
    db.session.commit()
    return results


def test_a_batch_opens_its_plain_new_tickets_in_one_insert_per_table(config):
    from sqlalchemy import event

    make_user(email=PROF)
    db.session.commit()
    statements, flushes = [], []
    listener = lambda conn, cursor, statement, *rest: statements.append(statement)
    counter = lambda session, context: flushes.append(1)
    event.listen(db.engine, "before_cursor_execute", listener)
    event.listen(db.session(), "after_flush", counter)
    try:
        results = batch([make_eml(sender=PROF, message_id=f"<b{n}@x>", subject=f"Panne {n}") for n in range(5)],
                        config)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
        event.remove(db.session(), "after_flush", counter)
    assert [r.outcome for r in results] == [InboundOutcome.TICKET_CREATED] * 5
    for n, result in enumerate(results):
        ticket = db.session.get(Ticket, result.ticket_id)
        assert ticket.subject == f"Panne {n}" and result.reason == f"new ticket #{ticket.id}"
        assert ticket.origin_message_id == f"<b{n}@x>" and len(ticket.status_changes) == 1
        assert [m.inbound_mail_id for m in ticket.messages] == [result.inbound_mail_id]
        assert db.session.get(InboundMail, result.inbound_mail_id).ticket_id == ticket.id
        # The batched INSERT still fills the epoch columns the stats scan reads (Ticket's flush events).
        assert db.session.execute(db.select(Ticket.created_epoch).where(Ticket.id == ticket.id)).scalar_one() \
            == epoch_seconds_of(ticket.created_at)
    # One flush for the five tickets with their messages and history, one at the commit (their
    # acknowledgements and the ledger's outcomes). SQLite cannot return ids in parameter order,
    # so there SQLAlchemy sends one INSERT per row of that flush; PostgreSQL one per table.
    assert len(flushes) == 2
    if db.engine.dialect.name == "postgresql":
        for table in ("tickets", "messages", "status_changes"):
            assert len([s for s in statements if s.startswith(f"INSERT INTO {table} ")]) == 1, table
    # The acknowledgements are queued in the mails' order: the first goes, the loop guard holds the others.
    acks = db.session.execute(db.select(OutboundMail).where(OutboundMail.event == "acknowledgement")
                              .order_by(OutboundMail.id)).scalars().all()
    assert [a.ticket_id for a in acks] == [r.ticket_id for r in results]
    assert [a.status for a in acks] == [OutboundStatus.PENDING] + [OutboundStatus.SKIPPED] * 4


def test_a_batch_makes_its_first_time_senders_requesters_together(config, monkeypatch):
    from helpdesk.models import Organisation

    decided = []
    real = ingestion_decisions.decide
    monkeypatch.setattr(ingestion_decisions, "decide", lambda row, *a, **k: decided.append(row.uid) or real(row, *a, **k))
    college = Organisation(name="Collège", mail_domains="college.example,annexe.example")
    db.session.add(college)
    db.session.commit()
    raws = [make_eml(sender="Anne Prof <anne@college.example>", message_id="<n1@x>", subject="Panne 1"),
            make_eml(sender="bob@elsewhere.example", message_id="<n2@x>", subject="Panne 2"),
            make_eml(sender="Anne Autre <ANNE@college.example>", message_id="<n3@x>", subject="Panne 3"),
            make_eml(sender="carl@annexe.example", message_id="<n4@x>", subject="Absent",
                     extra={"Auto-Submitted": "auto-replied"})]
    results = batch(raws, config)
    assert [r.outcome for r in results] == [InboundOutcome.TICKET_CREATED] * 3 + [InboundOutcome.AUTO_REPLY]
    anne = db.session.execute(db.select(User).where(User.email == "anne@college.example")).scalar_one()
    assert anne.display_name == "Anne Prof" and anne.organisation_id == college.id
    assert anne.role == Role.REQUESTER and anne.password_hash is None
    bob = db.session.execute(db.select(User).where(User.email == "bob@elsewhere.example")).scalar_one()
    assert bob.organisation_id is None
    assert [db.session.get(Ticket, r.ticket_id).requester_id for r in results[:3]] == [anne.id, bob.id, anne.id]
    assert db.session.get(Ticket, results[0].ticket_id).organisation_id == college.id
    assert count(User) == 2  # an auto-reply never makes a requester
    assert decided == [4]  # the three new tickets were held and opened together


def test_a_batch_leaves_first_time_senders_of_other_domains_in_quarantine(app, config):
    from dataclasses import replace

    config = replace(config, allowed_sender_domains=("college.example",))
    results = batch([make_eml(sender="anne@college.example", message_id="<n1@x>"),
                     make_eml(sender="eve@evil.example", message_id="<n2@x>")], config)
    assert [r.outcome for r in results] == [InboundOutcome.TICKET_CREATED, InboundOutcome.QUARANTINED]
    assert results[1].reason.startswith("unknown sender: eve@evil.example")
    assert db.session.execute(db.select(User.email)).scalars().all() == ["anne@college.example"]


def test_a_later_mail_of_the_batch_threads_onto_a_held_ticket(config):
    make_user(email=PROF)
    db.session.commit()
    first = make_eml(sender=PROF, message_id="<first@x>", subject="Panne")
    reply = make_eml(sender=PROF, message_id="<reply@x>", subject="Re: Panne",
                     extra={"In-Reply-To": "<first@x>", "References": "<first@x>"})
    results = batch([first, reply, first], config)  # the third: the first one again
    assert [r.outcome for r in results] == [InboundOutcome.TICKET_CREATED, InboundOutcome.REPLY_ADDED,
                                            InboundOutcome.DUPLICATE]
    assert results[1].ticket_id == results[0].ticket_id == results[2].ticket_id
    assert "References of a known mail" in results[1].reason
    assert count(Ticket) == 1 and len(db.session.get(Ticket, results[0].ticket_id).messages) == 2


def test_a_held_ticket_is_acknowledged_before_a_later_bounce_is_read(config):
    ghost = make_user(email="ghost@ecole-jules-ferry.fr")
    old = make_ticket(requester=ghost)
    db.session.execute(db.update(OutboundMail).values(status=OutboundStatus.SENT))  # the old ack went out
    db.session.commit()
    new = make_eml(sender="ghost@ecole-jules-ferry.fr", message_id="<new@x>", subject="Autre panne")
    bounce = load_eml("dsn_bounce.eml", ticket=old.id, our_message_id=our_id(old))
    results = batch([new, bounce], config)
    assert [r.outcome for r in results] == [InboundOutcome.TICKET_CREATED, InboundOutcome.BOUNCE]
    [ack] = db.session.execute(db.select(OutboundMail).where(OutboundMail.ticket_id == results[0].ticket_id)).scalars()
    # As one by one: the bounce came after, so it did not make this acknowledgement undeliverable.
    assert not ack.last_error.startswith("undeliverable")
    assert ghost.undeliverable_until is not None
