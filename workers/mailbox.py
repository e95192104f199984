"""IMAP transport: the only module that imports imapclient (issue 3).

Speaks IMAP and yields bytes; decides nothing. TLS, STARTTLS, or plain for loopback only; LOGIN
with a password or XOAUTH2 with a token printed by a command; BODY.PEEK[] so nothing is marked
seen before our commit; MOVE, or COPY + delete where MOVE is missing, or a keyword.
"""
from __future__ import annotations

import ipaddress
import shlex
import socket
import ssl
import subprocess
from dataclasses import dataclass

import imapclient
from imapclient.exceptions import IMAPClientError

IMPORTED_KEYWORD = b"$HelpdeskImported"
SECURITIES = ("tls", "starttls", "plain")
AFTER_IMPORT = ("move", "flag")
TOKEN_COMMAND_TIMEOUT = 30
# Errors that mean "the server or the network is not there right now": back off and retry.
TRANSIENT_ERRORS = (OSError, socket.timeout, ssl.SSLError, IMAPClientError, EOFError)


class MailboxError(Exception):
    """The mailbox could not be reached or refused an operation; the message says which."""


class MailboxConfigError(ValueError):
    """A [[mailboxes]] table is invalid; the message names the mailbox and the key."""


@dataclass(frozen=True)
class MailboxConfig:
    name: str
    host: str
    user: str
    port: int = 0
    security: str = "tls"
    password: str = ""
    token_command: str = ""
    folder: str = "INBOX"
    processed_folder: str = "helpdesk/processed"
    quarantine_folder: str = "helpdesk/quarantine"
    after_import: str = "move"
    default_category: str = ""
    ca_file: str = ""

    @classmethod
    def from_dict(cls, table: dict) -> "MailboxConfig":
        """Validate one [[mailboxes]] table from settings."""
        known = set(cls.__dataclass_fields__)
        name = str(table.get("name") or "")
        unknown = sorted(set(table) - known)
        if unknown:
            raise MailboxConfigError(f"mailbox {name or '?'}: unknown key {unknown[0]!r}")
        for key in ("name", "host", "user"):
            if not table.get(key):
                raise MailboxConfigError(f"mailbox {name or '?'}: {key!r} is required")
        config = cls(**table)
        if config.security not in SECURITIES:
            raise MailboxConfigError(f"mailbox {name}: security must be one of {', '.join(SECURITIES)}")
        if config.after_import not in AFTER_IMPORT:
            raise MailboxConfigError(f"mailbox {name}: after_import must be one of {', '.join(AFTER_IMPORT)}")
        if config.security == "plain" and not _is_loopback(config.host):
            raise MailboxConfigError(f"mailbox {name}: plain IMAP is only allowed to a loopback address")
        if not config.password and not config.token_command:
            raise MailboxConfigError(f"mailbox {name}: give a password or a token_command")
        if not config.port:
            config = cls(**{**table, "port": 993 if config.security == "tls" else 143})
        return config


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _oauth_token(command: str) -> str:
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, timeout=TOKEN_COMMAND_TIMEOUT, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise MailboxError(f"token_command failed: {exc}") from None
    token = done.stdout.decode("utf-8", "replace").strip()
    if not token:
        raise MailboxError("token_command printed no token")
    return token


class ImapMailbox:
    """One connection to one folder of one mailbox."""

    def __init__(self, config: MailboxConfig, timeout: float = 60):
        self.config = config
        self.timeout = timeout
        self.client: imapclient.IMAPClient | None = None
        self.uidvalidity: int | None = None

    def __enter__(self) -> "ImapMailbox":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.ca_file or None)
        return context

    def connect(self) -> None:
        """Connect, authenticate, create the target folders and select the folder."""
        cfg = self.config
        try:
            client = imapclient.IMAPClient(
                cfg.host, port=cfg.port, ssl=cfg.security == "tls",
                ssl_context=self._ssl_context() if cfg.security == "tls" else None, timeout=self.timeout,
            )
            self.client = client
            if cfg.security == "starttls":
                client.starttls(self._ssl_context())
            if cfg.token_command:
                client.oauth2_login(cfg.user, _oauth_token(cfg.token_command))
            else:
                client.login(cfg.user, cfg.password)
            targets = (cfg.processed_folder, cfg.quarantine_folder) if cfg.after_import == "move" else ()
            for folder in targets:
                if not client.folder_exists(folder):
                    client.create_folder(folder)
            selected = client.select_folder(cfg.folder)
            self.uidvalidity = int(selected[b"UIDVALIDITY"])
        except TRANSIENT_ERRORS as exc:
            self.close()
            raise MailboxError(f"{cfg.name}: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        if self.client is None:
            return
        try:
            self.client.logout()
        except Exception:  # the connection may already be gone; nothing to save
            try:
                self.client.shutdown()
            except Exception:
                pass
        self.client = None

    def _call(self, what: str, func, *args):
        try:
            return func(*args)
        except TRANSIENT_ERRORS as exc:
            raise MailboxError(f"{self.config.name}: {what}: {type(exc).__name__}: {exc}") from None

    def pending_uids(self, after_uid: int = 0) -> list[int]:
        """UIDs still to import: everything left in the folder (move), or unflagged above after_uid (flag)."""
        if self.config.after_import == "move":
            criteria = ["ALL"]
        else:
            criteria = ["UID", f"{after_uid + 1}:*", "UNKEYWORD", IMPORTED_KEYWORD.decode()]
        uids = self._call("search", self.client.search, criteria)
        # "n:*" always matches the highest UID, even below n.
        return sorted(u for u in uids if self.config.after_import == "move" or u > after_uid)

    def sizes(self, uids: list[int]) -> dict[int, int]:
        if not uids:
            return {}
        found = self._call("fetch sizes", self.client.fetch, uids, ["RFC822.SIZE"])
        return {uid: int(data[b"RFC822.SIZE"]) for uid, data in found.items()}

    def fetch(self, uids: list[int], headers_only: bool = False) -> dict[int, bytes]:
        """Raw bytes of messages without setting \\Seen (BODY.PEEK)."""
        if not uids:
            return {}
        item = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
        key = b"BODY[HEADER]" if headers_only else b"BODY[]"
        found = self._call("fetch", self.client.fetch, uids, [item])
        return {uid: data[key] for uid, data in found.items() if key in data}

    def move(self, uids: list[int], folder: str) -> None:
        """Move messages to folder: MOVE, or COPY + \\Deleted + expunge where MOVE is missing."""
        if not uids:
            return
        if self.client.has_capability("MOVE"):
            self._call("move", self.client.move, uids, folder)
            return
        self._call("copy", self.client.copy, uids, folder)
        self._call("delete", self.client.delete_messages, uids)
        if self.client.has_capability("UIDPLUS"):
            self._call("expunge", self.client.uid_expunge, uids)
        else:
            self._call("expunge", self.client.expunge)

    def flag(self, uids: list[int]) -> None:
        if uids:
            self._call("flag", self.client.add_flags, uids, [IMPORTED_KEYWORD])

    @property
    def has_idle(self) -> bool:
        return bool(self.client and self.client.has_capability("IDLE"))

    def wait_for_mail(self, timeout: float) -> bool:
        """IDLE up to timeout seconds; True when the server announced new or changed messages."""
        def idle():
            self.client.idle()
            try:
                responses = self.client.idle_check(timeout=timeout)
            finally:
                self.client.idle_done()
            return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)

        return self._call("idle", idle)
