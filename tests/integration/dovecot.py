"""A throw-away Dovecot IMAP server for tests and benchmarks (adapted from shared/recipes/dovecot.sh).

Debian 12's dovecot-imapd (2.3.x), started by hand with its own config under a fresh temp root,
listening on FREE loopback ports, with a passwd-file of users. Plain IMAP (+STARTTLS) and implicit
TLS with a self-signed certificate for 127.0.0.1 (``cert_file`` is its own CA). Reusable:

    with Dovecot() as server:
        server.append("INBOX", [raw_bytes, ...])
        settings["mailboxes"] = [server.mailbox_settings()]
"""
from __future__ import annotations

import copy
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import imapclient

DEFAULT_USER = ("helpdesk@example.test", "secret")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    """True while pid runs (a zombie left to a PID 1 that does not reap counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def dovecot_available() -> bool:
    return shutil.which("dovecot") is not None or Path("/usr/sbin/dovecot").exists()


class Dovecot:
    """One Dovecot master process with its own config, mail store, logs and ports."""

    def __init__(self, users: dict[str, str] | None = None, mail_format: str = "maildir", tls: bool = True,
                 spare_accounts: int = 0):
        self.users = dict(users or dict([DEFAULT_USER]))
        # Accounts handed out by new_account(): written now, since Dovecot may cache the passwd-file.
        self._spare = [f"account{n}@example.test" for n in range(spare_accounts)]
        self.users.update((name, "secret") for name in self._spare)
        self.current_user = next(iter(self.users))
        self.owner = True  # False for the views returned by new_account(): they never stop the server
        self.mail_format = mail_format
        self.tls = tls
        # Not under pytest's tmp_path: the mail processes run as "nobody" and must traverse it.
        self.root = Path(tempfile.mkdtemp(prefix="hd-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.conf = self.root / "dovecot.conf"
        self.pidfile = self.root / "run" / "master.pid"
        self.cert_file = self.root / "ssl" / "cert.pem"
        self._write_config()

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> "Dovecot":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def start(self) -> None:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        subprocess.run([binary, "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        self._wait_greeting()

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
        # The listeners close with the master; wait until the port refuses connections.
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        if not self.owner:
            return
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def new_account(self) -> "Dovecot":
        """A view of this server logged in as a fresh, empty account (one of `spare_accounts`)."""
        if not self._spare:
            raise RuntimeError("no spare account left: create the server with more spare_accounts")
        view = copy.copy(self)
        view.current_user, view.owner = self._spare.pop(0), False
        return view

    def _write_users(self) -> None:
        tmp = self.root / "users.tmp"
        tmp.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        tmp.chmod(0o644)
        os.replace(tmp, self.root / "users")

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def _wait_greeting(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        log = (self.root / "log" / "dovecot.log")
        raise RuntimeError(f"dovecot did not start: {log.read_text()[-2000:] if log.exists() else 'no log'}")

    # -- clients and settings -------------------------------------------------------------------
    @property
    def user(self) -> str:
        return self.current_user

    def client(self, user: str | None = None) -> imapclient.IMAPClient:
        """A logged-in test client (the tests' own connection, to APPEND and look)."""
        user = user or self.user
        client = imapclient.IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(user, self.users[user])
        return client

    def append(self, folder: str, messages: list[bytes], chunk: int = 500) -> None:
        """APPEND messages (MULTIAPPEND in chunks: ~2,000 small mails/s)."""
        with self.client() as client:
            for start in range(0, len(messages), chunk):
                client.multiappend(folder, messages[start:start + chunk])

    def count(self, folder: str) -> int:
        with self.client() as client:
            if not client.folder_exists(folder):
                return 0
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def mailbox_settings(self, name: str = "support", **overrides) -> dict:
        """A [[mailboxes]] table for this server (plain IMAP on loopback)."""
        table = {"name": name, "host": "127.0.0.1", "port": self.port, "security": "plain",
                 "user": self.user, "password": self.users[self.user]}
        table.update(overrides)
        return table

    # -- config ---------------------------------------------------------------------------------
    def _write_config(self) -> None:
        root = self.root
        for sub in ("run", "state", "log", "ssl", "mail"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "run").chmod(0o755)
        if os.getuid() == 0:
            mail_user, mail_group, internal, login = "nobody", "nogroup", "dovecot", "dovenull"
            nobody = pwd.getpwnam("nobody")
            os.chown(root / "mail", nobody.pw_uid, nobody.pw_gid)
        else:
            import grp

            mail_user = pwd.getpwuid(os.getuid()).pw_name
            mail_group = grp.getgrgid(os.getgid()).gr_name
            internal = login = mail_user
        internal_group = internal if os.getuid() == 0 else mail_group
        if self.tls:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                 "-keyout", str(root / "ssl" / "key.pem"), "-out", str(self.cert_file)],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            (root / "ssl" / "key.pem").chmod(0o600)
        self._write_users()
        location = "maildir:~/Maildir" if self.mail_format == "maildir" else f"{self.mail_format}:~/mail"
        imaps = (f"  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {self.tls_port}\n"
                 f"    ssl = yes\n  }}\n") if self.tls else ""
        self.conf.write_text(f"""# throw-away loopback test server (tests/integration/dovecot.py)
base_dir = {root}/run
state_dir = {root}/state
instance_name = hd-dovecot-{self.port}
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = 1
ssl = {"yes" if self.tls else "no"}
{f"ssl_cert = <{self.cert_file}" if self.tls else ""}
{f"ssl_key = <{root}/ssl/key.pem" if self.tls else ""}
disable_plaintext_auth = no
auth_failure_delay = 0
mailbox_idle_check_interval = 1 secs
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={root}/mail/%u
}}
mail_location = {location}
mail_uid = {mail_user}
mail_gid = {mail_group}
mail_fsync = never
mail_max_userip_connections = 100
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
{imaps}}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
""")
