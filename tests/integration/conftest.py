"""Fixtures for integration tests: real servers on free loopback ports.

Browser: see tests/integration/browser.py. IMAP: `dovecot_server`, one throw-away Dovecot for the
session; `dovecot`, a fresh, empty account on it for one test (same methods as the server: append,
count, client, mailbox_settings); `own_dovecot`, a server of its own for a test that stops it.
SMTP: `smtp_sink`, an aiosmtpd server that records every mail (tests/integration/smtp.py), and
`smtp_settings`, the settings that make helpdesk send to it.
"""
from __future__ import annotations

import pytest

from tests.integration.browser import browser, live_server, new_page, page  # noqa: F401  (fixtures)
from tests.integration.dovecot import Dovecot, dovecot_available
from tests.integration.smtp import SmtpSink


def _require_dovecot():
    if not dovecot_available():
        pytest.fail("dovecot is not installed: run scripts/bootstrap.sh (it installs dovecot-imapd)")


@pytest.fixture(scope="session")
def dovecot_server():
    _require_dovecot()
    server = Dovecot(spare_accounts=300)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def dovecot(dovecot_server):
    return dovecot_server.new_account()


@pytest.fixture
def own_dovecot():
    _require_dovecot()
    server = Dovecot(tls=False)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def smtp_sink():
    """A running aiosmtpd server on a free loopback port that records every mail (tests/integration/smtp.py)."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_settings(smtp_sink) -> dict:
    """Settings that make helpdesk send to smtp_sink; add them to settings_overrides."""
    return smtp_sink.settings()
