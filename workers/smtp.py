"""SMTP: the only smtplib import. A transport for helpdesk.outbox.deliver_pending().

One connection per worker pass, opened on the first mail. Errors are sorted the way the outbox
needs them: a 5xx for the recipient or the message is permanent (the mail fails at once); a
4xx is temporary; not reaching the server, TLS, authentication or a refused sender means the
server is down or misconfigured for every mail (TransportDown: the pass stops and the mails wait).
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from typing import Any, Mapping

from helpdesk.outbox import PermanentFailure, TemporaryFailure, TransportDown

log = logging.getLogger(__name__)

SECURITY_MODES = ("none", "starttls", "tls")


class SmtpTransport:
    """Send mails over one SMTP connection (STARTTLS, TLS and AUTH as configured)."""

    def __init__(self, host: str, port: int, security: str = "starttls", user: str = "",
                 password: str = "", timeout: float = 30, ssl_context: ssl.SSLContext | None = None):
        if security not in SECURITY_MODES:
            raise ValueError(f"smtp_security must be one of {', '.join(SECURITY_MODES)}, got {security!r}")
        self.host, self.port, self.security = host, port, security
        self.user, self.password, self.timeout = user, password, timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._conn: smtplib.SMTP | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "SmtpTransport":
        return cls(settings["smtp_host"], settings["smtp_port"], settings["smtp_security"],
                   settings["smtp_user"], settings["smtp_password"], settings["smtp_timeout_seconds"])

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.security == "tls":
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.ssl_context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            conn.ehlo()
            if self.security == "starttls":
                conn.starttls(context=self.ssl_context)
                conn.ehlo()
            if self.user:
                conn.login(self.user, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportDown(f"SMTP authentication refused by {self.host}: {exc.smtp_code}") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise TransportDown(f"{self.host} does not offer STARTTLS (smtp_security = starttls)") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportDown(f"cannot reach SMTP server {self.host}:{self.port}: {exc}") from exc
        return conn

    def send(self, mail_from: str, recipient: str, raw: bytes) -> None:
        """Send raw to recipient; raises PermanentFailure, TemporaryFailure or TransportDown."""
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.sendmail(mail_from, [recipient], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, message = exc.recipients.get(recipient, (0, b""))
            _raise_for(code, f"recipient refused: {code} {_text(message)}")
        except smtplib.SMTPSenderRefused as exc:
            raise TransportDown(f"sender {mail_from} refused: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except smtplib.SMTPDataError as exc:
            _raise_for(exc.smtp_code, f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}")
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise TransportDown(f"SMTP server disconnected: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            _raise_for(exc.smtp_code, f"SMTP error: {exc.smtp_code} {_text(exc.smtp_error)}")
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise TransportDown(f"SMTP connection failed: {exc}") from exc

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


def _raise_for(code: int, message: str) -> None:
    if 500 <= code <= 599:
        raise PermanentFailure(message)
    raise TemporaryFailure(message)
