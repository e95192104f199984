"""A real SMTP server for integration tests: aiosmtpd on a free loopback port, in this process.

    sink = SmtpSink(); sink.start()
    app settings: sink.settings()            # smtp_host/port/security for helpdesk
    sink.wait_for(3)                         # the first 3 mails, parsed, or AssertionError
    sink.refuse("bad@example.org", 550)      # RCPT answered 550 (or 450...) for that address
    sink.stop(); sink.start()                # the server goes down and comes back on the same port
    SmtpSink(delay=0.01)                     # a slow server: each DATA takes 10 ms

Reused by every engineer's integration tests (fixtures `smtp_sink` and `smtp_settings` in
tests/integration/conftest.py). Records the envelope and the exact bytes received.
"""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller


@dataclass
class ReceivedMail:
    """One mail as the server accepted it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage = field(repr=False)
    received_at: float = 0.0  # time.time() when the server accepted it

    @property
    def message_id(self) -> str:
        return str(self.message.get("Message-ID", ""))

    @property
    def header_names(self) -> list[str]:
        """Every header name of the top-level part, as received, in order."""
        return [name for name, _ in self.message.raw_items()]

    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        return body.get_content() if body is not None else ""

    def html(self) -> str:
        body = self.message.get_body(preferencelist=("html",))
        return body.get_content() if body is not None else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.sink._refusals.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink._data_reply:
            return self.sink._data_reply
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        self.sink._record(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), raw, message, time.time()))
        return "250 Message accepted for delivery"


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps every mail it accepts."""

    def __init__(self, port: int | None = None, delay: float = 0.0):
        self.port = port or free_port()
        self.delay = delay  # seconds the server takes before accepting each mail
        self.messages: list[ReceivedMail] = []
        self._refusals: dict[str, str] = {}
        self._data_reply: str | None = None
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    # --- server life -------------------------------------------------------------------------
    def start(self) -> "SmtpSink":
        for attempt in range(20):  # the port may be briefly busy right after a stop
            controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                    data_size_limit=50 * 1024 * 1024)
            try:
                controller.start()
            except (OSError, RuntimeError):
                time.sleep(0.1)
                continue
            self._controller = controller
            return self
        raise RuntimeError(f"SMTP sink could not listen on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def settings(self) -> dict:
        """helpdesk settings that send to this server."""
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": "none",
                "smtp_user": "", "smtp_timeout_seconds": 10}

    # --- behaviour ---------------------------------------------------------------------------
    def refuse(self, address: str, code: int = 550, text: str = "No such user") -> None:
        """Answer RCPT TO for address with code (5xx permanent, 4xx temporary)."""
        self._refusals[address.lower()] = f"{code} {text}"

    def refuse_data(self, code: int | None, text: str = "Refused") -> None:
        """Answer every DATA with code (None: accept again)."""
        self._data_reply = f"{code} {text}" if code else None

    # --- what arrived ------------------------------------------------------------------------
    def _record(self, mail: ReceivedMail) -> None:
        with self._cond:
            self.messages.append(mail)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10) -> list[ReceivedMail]:
        """The first count mails, waiting up to timeout seconds for them; AssertionError if fewer."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"SMTP sink got {len(self.messages)} mails, expected {count}")
                self._cond.wait(left)
            return list(self.messages[:count])

    def to(self, address: str) -> list[ReceivedMail]:
        """Mails whose envelope recipients include address."""
        return [m for m in list(self.messages) if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()


def main() -> None:
    """Run a sink as its own process (for benchmarks): one line "<time> <Message-ID>" per mail to --log."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="aiosmtpd sink on 127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    out = open(args.log, "a", buffering=1)

    class LoggingSink(SmtpSink):
        def _record(self, mail: ReceivedMail) -> None:
            out.write(f"{mail.received_at:.6f} {mail.message_id}\n")

    sink = LoggingSink(args.port).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    print("ready", flush=True)
    stop.wait()
    sink.stop()


if __name__ == "__main__":
    main()
