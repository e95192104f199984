"""Parse fetched mail in a child process, beside the poller and apart from it (issue 3).

Parsing is about a third of the poller's CPU (docs/benchmarks.md). On the two cores we run on, a
child process parses batch n+1 while the poller writes batch n to the database, instead of the two
taking turns on one core. The child only runs ingestion.prepare(): it never touches the database,
the mailbox or the files. The child is forked (no second start-up) and dies with the poller, so a
killed poller leaves no orphan behind.

Apart, a hostile mail cannot take the poller down with it: when the child gives no answer within
the time limit, or dies (a parser stuck in a loop, a crash in a C extension, memory), the batch is
parsed again one mail per fresh child, and the mail that hangs or kills its child is quarantined
with that reason; a new child takes the next batches.
"""
from __future__ import annotations

import ctypes
import dataclasses
import logging
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

from helpdesk import ingestion

log = logging.getLogger("helpdesk.mail_poller")

# Mails at least this large are parsed by the poller itself: sent to the child and back, their
# bytes and attachments would sit in memory twice (issue 3: a 25 MB mail stays under 300 MB).
IN_POLLER_FROM = 1_000_000
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    """In the child: be killed when the poller dies (Linux), or stop now if it already has."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the child ends at the poller's next shutdown
        pass
    if os.getppid() != parent:
        os._exit(0)


def _prepare_all(raws: list[bytes], config: ingestion.IngestConfig) -> list[ingestion.Prepared]:
    """In the child: prepare() each whole mail."""
    return [ingestion.prepare(raw, config, None) for raw in raws]


def _prepare_into(connection, parent: int, raw: bytes, config: ingestion.IngestConfig) -> None:
    """In a single-use child: prepare() one mail and send the result back."""
    _die_with_parent(parent)
    connection.send(ingestion.prepare(raw, config, None))
    connection.close()


def prepare_alone(raw: bytes, config: ingestion.IngestConfig, timeout: float) -> ingestion.Prepared:
    """prepare() one mail in a child of its own: a parse that hangs or kills its process is that
    mail's quarantine reason, not the poller's end."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_prepare_into, args=(sender, os.getpid(), raw, config), daemon=True)
    child.start()
    sender.close()
    answered = False  # a result, or the pipe's end when the child died (it may not be reaped yet)
    try:
        answered = receiver.poll(timeout)
        if answered:
            try:
                return receiver.recv()
            except (EOFError, OSError):  # it died before it answered
                pass
    finally:
        receiver.close()
        if not answered:
            child.kill()
        child.join()
    if not answered:
        why = f"no result within {timeout:g} s (the parse was stopped)"
    elif child.exitcode is not None and child.exitcode < 0:
        why = f"the parser's process died ({signal.Signals(-child.exitcode).name})"
    else:
        why = f"the parser's process ended without a result (exit code {child.exitcode})"
    log.warning("a mail of %d bytes is quarantined: %s", len(raw), why)
    return ingestion.unparsed(raw, f"error: parse: {why}")


class ParsePool:
    """A context manager around one parse process; when off, prepare() leaves the parse to the poller.

    :param timeout: seconds a batch's parse may take before its mails are parsed one by one, and
        then each mail's.
    """

    def __init__(self, enabled: bool = True, timeout: float = 30.0):
        self.enabled = enabled
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "ParsePool":
        if self.enabled:
            try:
                # Fork now, from this thread: later the fetch thread runs, and a child forked from a
                # thread would get its death signal when that thread ends.
                self._start()
            except Exception as exc:  # no fork here (a sandbox, a limit): the poller parses
                log.warning("no parse process (%s: %s); parsing in the poller", type(exc).__name__, exc)
                self.enabled = False
                self._discard()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _start(self) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_die_with_parent, initargs=(os.getpid(),))
        self._pool.submit(int).result()

    def _discard(self) -> None:
        """Stop the child whatever it is doing (a parse that does not end), without waiting for it."""
        if self._pool is None:
            return
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def prepare(self, mails: list[ingestion.Incoming], config: ingestion.IngestConfig) -> list[ingestion.Incoming]:
        """The mails with their prepare() done apart from the poller; those too big are left for the
        poller to prepare (they are read whole only there)."""
        small = [i for i, mail in enumerate(mails) if mail.full_size is None and len(mail.raw) < IN_POLLER_FROM]
        if not self.enabled or not small:
            return mails
        raws = [mails[i].raw for i in small]
        try:
            if self._pool is None:
                self._start()  # after a lost child: a new one for this batch and the next
            done = self._pool.submit(_prepare_all, raws, config).result(timeout=self.timeout)
        except Exception as exc:  # no answer in time, or the child died: each mail in a child of its own
            log.warning("parse process lost (%s: %s); parsing this batch one mail at a time apart",
                        type(exc).__name__, exc)
            self._discard()
            try:
                done = [prepare_alone(raw, config, self.timeout) for raw in raws]
            except OSError as exc:  # no fork at all now (a process limit): the poller parses
                log.warning("no parse process (%s: %s); parsing in the poller", type(exc).__name__, exc)
                return mails
        ready = list(mails)
        for i, prepared in zip(small, done):
            ready[i] = dataclasses.replace(mails[i], prepared=prepared)
        return ready
