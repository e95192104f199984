"""One pass over an IMAP mailbox, under a lease so exactly one poller imports it (issue 3).

For each batch: fetch BODY.PEEK[], record and decide every message (helpdesk.ingestion) in one
transaction, or one savepoint per message when the batch fails, commit, and only then move (or
flag) the messages on the server. A crash anywhere costs at most a
harmless duplicate check on the next pass. The lease is a row per mailbox taken with one
conditional UPDATE, so it works the same on SQLite and PostgreSQL; a second worker takes over when
the holder stops renewing it. Connection errors back off (capped) and are logged once per outage.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from flask import Flask
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from helpdesk import database, ingestion
from helpdesk.extensions import db
from helpdesk.models import InboundOutcome, MailboxState, utcnow

from .maildrop import drain_maildrop, maildrop_path
from .mailbox import ImapMailbox, MailboxConfig, MailboxError
from .parse_pool import ParsePool

log = logging.getLogger("helpdesk.mail_poller")

_NONCE = uuid.uuid4().hex[:8]


def poller_owner() -> str:
    """host:pid:nonce of this process (computed each time: a forked worker has its own pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_NONCE}"
# Fetch a batch of at most this many bytes at once, so a few big mails never sit in memory together.
BATCH_BYTES = 16_000_000


class LeaseHeld(Exception):
    """Another poller holds this mailbox's lease."""


@dataclass
class PassResult:
    mailbox: str
    outcomes: list[str] = field(default_factory=list)
    moved: int = 0


# ---- the lease -------------------------------------------------------------------------------

def _state(name: str) -> MailboxState:
    state = db.session.get(MailboxState, name)
    if state is None:
        try:
            with db.session.begin_nested():
                db.session.add(MailboxState(name=name, last_uid=0, last_error=""))
        except IntegrityError:
            pass  # another poller created it
        state = db.session.get(MailboxState, name)
    return state


def _dead_local_owner(owner: str | None) -> bool:
    """True when owner is a poller process of this machine that no longer runs (killed, crashed)."""
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire_lease(name: str, owner: str, seconds: int) -> bool:
    """Take or renew the mailbox's lease for seconds; False when someone else holds it. Commits.

    One conditional UPDATE, atomic on SQLite and PostgreSQL. A lease left by a dead process of
    this machine is taken over at once; one left by another machine when it expires.
    """
    state = _state(name)
    holder = state.lease_owner
    db.session.commit()
    now = utcnow()
    free = or_(MailboxState.lease_owner.is_(None), MailboxState.lease_owner == owner, MailboxState.lease_until < now)
    if holder and holder != owner and _dead_local_owner(holder):
        free = or_(free, MailboxState.lease_owner == holder)
    result = db.session.execute(
        update(MailboxState)
        .where(MailboxState.name == name)
        .where(free)
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.expire_all()
    return result.rowcount == 1


def release_lease(name: str, owner: str) -> None:
    db.session.execute(
        update(MailboxState).where(MailboxState.name == name, MailboxState.lease_owner == owner)
        .values(lease_owner=None, lease_until=None).execution_options(synchronize_session=False)
    )
    db.session.commit()


# ---- one pass --------------------------------------------------------------------------------

def _batches(uids: list[int], sizes: dict[int, int], count: int, limit_bytes: int, max_message: int):
    batch, total = [], 0
    for uid in uids:
        size = sizes.get(uid, 0) if sizes.get(uid, 0) <= max_message else 0
        if batch and (len(batch) >= count or total + size > limit_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def import_batch(mails: list[ingestion.Incoming], config: ingestion.IngestConfig, mailbox: str,
                 uidvalidity: int | None) -> list[ingestion.IngestResult]:
    """Import and commit a batch: all at once, or when that fails, one savepoint per mail."""
    try:
        results = ingestion.ingest_batch(mails, config, mailbox=mailbox, uidvalidity=uidvalidity)
        db.session.commit()
        return results
    except Exception as exc:  # a poison mail or a race with another poller: the slow path sorts it out
        db.session.rollback()
        log.warning("mailbox %s: batch of %d failed (%s: %s); importing one by one", mailbox, len(mails),
                    type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
    try:
        results = [ingestion.ingest(m.raw, config, mailbox=mailbox, uidvalidity=uidvalidity, uid=m.uid,
                                    full_size=m.full_size, prepared=m.prepared) for m in mails]
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return results


def run_pass(box: ImapMailbox, config: ingestion.IngestConfig, settings: dict, owner: str | None = None) -> PassResult:
    """Import what is pending in the selected folder of an open mailbox; the lease must be held."""
    mb = box.config
    owner = owner or poller_owner()
    result = PassResult(mb.name)
    if db.engine.dialect.name == "postgresql":
        database.cache_long_statements()  # a batch's INSERTs keep the same few shapes
    state = _state(mb.name)
    if state.uidvalidity != box.uidvalidity:
        if state.uidvalidity is not None:
            log.warning("mailbox %s: UIDVALIDITY changed (%s -> %s); rescanning (the ledger prevents doubles)",
                        mb.name, state.uidvalidity, box.uidvalidity)
        state.uidvalidity, state.last_uid = box.uidvalidity, 0
        db.session.commit()
    uids = box.pending_uids(state.last_uid or 0)
    sizes = box.sizes(uids)
    batches = list(_batches(uids, sizes, settings["imap_batch_size"], BATCH_BYTES, config.max_message_bytes))
    # The next batch's FETCH runs in a thread while this one is imported: the round trips wait on the
    # server, not on us, and its parse runs in a child process, on the other core. The connection is
    # used by one thread at a time: the fetch is joined before the moves. Only when both batches
    # together fit in BATCH_BYTES, so memory stays as bounded. Even one batch is parsed apart: a
    # mail that hangs or crashes the parser is then quarantined instead of stopping the poller.
    parse_apart = settings["imap_parse_process"] and bool(batches)
    with ParsePool(parse_apart, settings["imap_parse_timeout_seconds"]) as parser, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-fetch") as fetcher:
        fetched: Future | None = None
        for index, batch in enumerate(batches):
            mails = fetched.result() if fetched is not None else _fetch(box, batch, sizes, config, parser)
            fetched = None
            if not acquire_lease(mb.name, owner, settings["mailbox_lease_seconds"]):
                raise LeaseHeld(f"mailbox {mb.name}: lease lost to another poller")
            following = batches[index + 1] if index + 1 < len(batches) else None
            if following and _bytes(batch, sizes) + _bytes(following, sizes) <= BATCH_BYTES:
                fetched = fetcher.submit(_fetch, box, following, sizes, config, parser)
            done, quarantined = [], []
            try:
                outcomes = import_batch(mails, config, mb.name, box.uidvalidity)
            finally:
                if fetched is not None:
                    wait([fetched])  # the connection is ours again (a failed fetch raises at .result())
            for mail, outcome in zip(mails, outcomes):
                result.outcomes.append(outcome.outcome.value)
                held = outcome.earlier_outcome if outcome.outcome == InboundOutcome.DUPLICATE else outcome.outcome
                (quarantined if held == InboundOutcome.QUARANTINED else done).append(mail.uid)
            # Only now, with everything committed, touch the server.
            if mb.after_import == "move":
                box.move(done, mb.processed_folder)
                box.move(quarantined, mb.quarantine_folder)
            else:
                box.flag(done + quarantined)
            result.moved += len(done) + len(quarantined)
            state = _state(mb.name)
            state.last_uid = max(state.last_uid or 0, max(batch))
            state.last_pass_at = utcnow()
            state.last_error = ""
            db.session.commit()
    return result


def _bytes(batch: list[int], sizes: dict[int, int]) -> int:
    return sum(sizes.get(uid, 0) for uid in batch)


def _fetch(box: ImapMailbox, batch: list[int], sizes: dict[int, int], config: ingestion.IngestConfig,
           parser: ParsePool) -> list[ingestion.Incoming]:
    """The batch's messages, headers only for those too large to import, parsed; no database."""
    big = [u for u in batch if sizes.get(u, 0) > config.max_message_bytes]
    raws = box.fetch([u for u in batch if u not in big])
    heads = box.fetch(big, headers_only=True)
    mails = [ingestion.Incoming(raws.pop(uid), uid) if uid in raws
             else ingestion.Incoming(heads.pop(uid), uid, sizes[uid])
             for uid in batch if uid in raws or uid in heads]  # others: expunged meanwhile
    return parser.prepare(mails, config)


def poll_mailbox(mb: MailboxConfig, settings: dict, owner: str | None = None,
                 opener: Callable[[MailboxConfig, float], ImapMailbox] = ImapMailbox) -> PassResult:
    """Connect, take the lease, run one pass, release. Raises LeaseHeld or MailboxError."""
    config = ingestion.IngestConfig.from_settings(settings, mb.default_category)
    owner = owner or poller_owner()
    if not acquire_lease(mb.name, owner, settings["mailbox_lease_seconds"]):
        raise LeaseHeld(f"mailbox {mb.name} is being imported by another poller")
    try:
        with opener(mb, settings["imap_timeout_seconds"]) as box:
            return run_pass(box, config, settings, owner)
    finally:
        release_lease(mb.name, owner)


def watch_mailbox(mb: MailboxConfig, settings: dict, owner: str | None = None,
                  opener: Callable[[MailboxConfig, float], ImapMailbox] = ImapMailbox,
                  budget: float | None = None) -> PassResult:
    """A full pass, then IDLE (when offered) with a pass on each notification, for `budget` seconds."""
    config = ingestion.IngestConfig.from_settings(settings, mb.default_category)
    owner = owner or poller_owner()
    lease = settings["mailbox_lease_seconds"]
    budget = settings["reconcile_interval_seconds"] if budget is None else budget
    if not acquire_lease(mb.name, owner, lease):
        raise LeaseHeld(f"mailbox {mb.name} is being imported by another poller")
    total = PassResult(mb.name)
    try:
        with opener(mb, settings["imap_timeout_seconds"]) as box:
            deadline = time.monotonic() + budget
            first = run_pass(box, config, settings, owner)
            total.outcomes += first.outcomes
            if not (settings["idle"] and box.has_idle):
                return total
            while (remaining := deadline - time.monotonic()) > 0:
                if not acquire_lease(mb.name, owner, lease):
                    raise LeaseHeld(f"mailbox {mb.name}: lease lost to another poller")
                if box.wait_for_mail(min(remaining, lease / 3)):
                    total.outcomes += run_pass(box, config, settings, owner).outcomes
    finally:
        release_lease(mb.name, owner)
    return total


# ---- backoff, logged once per outage ---------------------------------------------------------

@dataclass
class Outage:
    since: float
    failures: int = 0
    next_try: float = 0.0


_outages: dict[str, Outage] = {}


def guarded(name: str, max_delay: float, func: Callable[[], PassResult], clock=time.monotonic) -> PassResult | None:
    """Run func unless this mailbox is backing off; log an outage once when it starts and ends."""
    now = clock()
    outage = _outages.get(name)
    if outage is not None and now < outage.next_try:
        return None
    try:
        result = func()
    except LeaseHeld as exc:
        log.debug("%s", exc)
        return None
    except MailboxError as exc:
        if outage is None:
            outage = _outages[name] = Outage(since=now)
            log.warning("mailbox %s unreachable: %s (retrying with backoff up to %ss; logged once)",
                        name, exc, int(max_delay))
        outage.failures += 1
        outage.next_try = now + min(max_delay, 2 ** (outage.failures - 1))
        return None
    if outage is not None:
        log.warning("mailbox %s reachable again after %d failed attempts (%.0fs)", name, outage.failures,
                    now - outage.since)
        del _outages[name]
    return result


def mailbox_configs(settings: dict) -> list[MailboxConfig]:
    return [MailboxConfig.from_dict(table) for table in settings["mailboxes"]]


def mailbox_job(name: str) -> Callable[[Flask], str | None]:
    """The worker job body for one mailbox: IDLE/poll with backoff."""
    def job(app: Flask) -> str | None:
        settings = app.config["HELPDESK"]
        [mb] = [m for m in mailbox_configs(settings) if m.name == name]
        result = guarded(name, settings["imap_backoff_max_seconds"], lambda: watch_mailbox(mb, settings))
        return ingestion.summarise(result.outcomes) if result and result.outcomes else None

    job.__name__ = f"mailbox_{name}"
    return job


def poll_once_for_cli(app: Flask, only: str | None = None) -> tuple[list[str], list[str]]:
    """`helpdesk poll --once`: one pass per mailbox (or the drop folder); (outcomes, errors)."""
    settings = app.config["HELPDESK"]
    outcomes, errors = [], []
    if not settings["mailboxes"]:
        results = drain_maildrop(maildrop_path(settings), ingestion.IngestConfig.from_settings(settings))
        return [r.outcome.value for _, r in results], []
    for mb in mailbox_configs(settings):
        if only and mb.name != only:
            continue
        try:
            outcomes += poll_mailbox(mb, settings).outcomes
        except (MailboxError, LeaseHeld) as exc:
            errors.append(str(exc))
    return outcomes, errors
