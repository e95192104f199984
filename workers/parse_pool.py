"""Parse fetched mail in a child process while the poller records the batch before (issue 3).

Parsing is about a third of the poller's CPU (docs/benchmarks.md). On the two cores we run on, a
child process parses batch n+1 while the poller writes batch n to the database, instead of the two
taking turns on one core. The child only runs ingestion.prepare(): it never touches the database,
the mailbox or the files, so a child that dies costs nothing but the parse, which the poller then
does itself. The child is forked (no second start-up) and dies with the poller, so a killed
poller leaves no orphan behind.
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


class ParsePool:
    """A context manager around one parse process; when off, prepare() leaves the parse to the poller."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "ParsePool":
        if self.enabled:
            try:
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("fork"),
                    initializer=_die_with_parent, initargs=(os.getpid(),))
                # Fork now, from this thread: later the fetch thread runs, and a child forked from a
                # thread would get its death signal when that thread ends.
                self._pool.submit(int).result()
            except Exception as exc:  # no fork here (a sandbox, a limit): the poller parses
                log.warning("no parse process (%s: %s); parsing in the poller", type(exc).__name__, exc)
                self._stop()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def prepare(self, mails: list[ingestion.Incoming], config: ingestion.IngestConfig) -> list[ingestion.Incoming]:
        """The mails with their prepare() done in the child; those too big, or all of them when the
        child is gone, are left for the poller to prepare."""
        small = [i for i, mail in enumerate(mails) if mail.full_size is None and len(mail.raw) < IN_POLLER_FROM]
        if self._pool is None or not small:
            return mails
        try:
            done = self._pool.submit(_prepare_all, [mails[i].raw for i in small], config).result()
        except Exception as exc:  # the child died (killed, out of memory): parse here from now on
            log.warning("parse process lost (%s: %s); parsing in the poller", type(exc).__name__, exc)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            return mails
        ready = list(mails)
        for i, prepared in zip(small, done):
            ready[i] = dataclasses.replace(mails[i], prepared=prepared)
        return ready
