"""Status mail latency: from the commit of a status change to the SMTP server accepting its mail.

Starts an aiosmtpd server on a free loopback port (its own process, like a real server) and the real `helpdesk worker` (default
settings: outbox_interval_seconds = 1) on a fresh database, opens N tickets (their
acknowledgements are sent and not measured), then moves each ticket to "taken", one commit per
change, at a steady rate, and matches each mail the server receives to the commit that caused it
by Message-ID.

    .venv/bin/python bench/notify.py                   # SQLite, 500 changes at 20/s
    .venv/bin/python bench/notify.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres
    .venv/bin/python bench/notify.py --changes 200 --rate 20

Target (issue #4): median < 1 s, p99 < 3 s with the default settings.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HELPDESK_CONFIG"] = str(ROOT / "config" / "testing.toml")

from sqlalchemy import create_engine, make_url, text  # noqa: E402

from helpdesk import create_app, workflow  # noqa: E402
from helpdesk.extensions import db  # noqa: E402
from helpdesk.models import OutboundMail, OutboundStatus, Role, Status, Ticket  # noqa: E402
from helpdesk.tickets import open_ticket  # noqa: E402
from helpdesk.users import create_user  # noqa: E402
from tests.integration.smtp import free_port  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def make_database(server_url: str | None, var_dir: Path) -> tuple[str, str | None]:
    """A fresh database: a SQLite file, or a new database on the given PostgreSQL server."""
    if not server_url:
        return f"sqlite:///{var_dir / 'bench.sqlite3'}", None
    name = f"hd_bench_notify_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False), name


def drop_database(server_url: str, name: str) -> None:
    admin = create_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="status changes per second")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="hd-bench-notify-"))
    url, pg_name = make_database(args.database_url, var_dir)
    app = create_app({"database_url": url, "var_dir": str(var_dir)})
    port, sink_log = free_port(), var_dir / "smtp.log"
    sink_log.touch()
    sink = subprocess.Popen([sys.executable, "-m", "tests.integration.smtp", "--port", str(port),
                             "--log", str(sink_log)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert sink.stdout.readline().strip() == "ready"

    def received() -> list[tuple[float, str]]:
        lines = sink_log.read_text().splitlines()
        return [(float(t), mid) for t, mid in (line.split(" ", 1) for line in lines)]

    env = {**os.environ, "HELPDESK_DATABASE_URL": url, "HELPDESK_VAR_DIR": str(var_dir),
           "HELPDESK_SMTP_HOST": "127.0.0.1", "HELPDESK_SMTP_PORT": str(port),
           "HELPDESK_SMTP_SECURITY": "none", "HELPDESK_LOG_LEVEL": "WARNING"}
    worker = None
    try:
        with app.app_context():
            db.create_all()
            referent = create_user("tech@example.org", Role.REFERENT, display_name="Tech")
            ids = []
            for i in range(args.changes):
                requester = create_user(f"user{i}@example.org", Role.REQUESTER)
                ids.append(open_ticket(requester, f"Poste {i}", "En panne.").id)
            db.session.commit()
            worker = subprocess.Popen([str(Path(sys.executable).parent / "helpdesk"), "worker"], env=env, cwd=ROOT)
            wait_for(lambda: len(received()) >= args.changes, 300)  # acknowledgements, not measured
            skip = len(received())

            committed: dict[int, float] = {}
            interval = 1.0 / args.rate
            start = time.monotonic()
            for n, ticket_id in enumerate(ids):
                time.sleep(max(0.0, start + n * interval - time.monotonic()))
                ticket = db.session.get(Ticket, ticket_id)
                workflow.transition(ticket, Status.TAKEN, actor=referent)
                db.session.commit()
                committed[ticket_id] = time.time()
            wait_for(lambda: len(received()) >= skip + args.changes, 300)
            rows = db.session.execute(
                db.select(OutboundMail.message_id, OutboundMail.ticket_id)
                .where(OutboundMail.event == "status_changed", OutboundMail.status == OutboundStatus.SENT)
            ).all()
            by_message_id = {mid: tid for mid, tid in rows}
        latencies = [at - committed[by_message_id[mid]] for at, mid in received()[skip:]]
        engine = "PostgreSQL" if pg_name else "SQLite"
        print(f"{engine}: {len(latencies)} status mails at {args.rate:g} changes/s, commit -> SMTP 250: "
              f"median {statistics.median(latencies) * 1000:.0f} ms, p90 {percentile(latencies, 90) * 1000:.0f} ms, "
              f"p99 {percentile(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(20)
        sink.terminate()
        sink.wait(10)
        if pg_name:
            with app.app_context():
                db.engine.dispose()
            drop_database(args.database_url, pg_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
