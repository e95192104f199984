"""Portal and desk under load: 100,000 tickets, gunicorn with 2 workers, wrk (or a Python client) on loopback.

    .venv/bin/python bench/portal.py [--engine sqlite|postgresql|both] [--tickets 100000]
                                     [--duration 10] [--connections 8] [--worker-class sync|gthread]
                                     [--threads 4] [--pages "queue;ticket"]

Seeds a fresh database (SQLite file in a temp dir; PostgreSQL: a new database on the server named by
HELPDESK_TEST_DATABASE_URL, dropped afterwards), starts gunicorn on a free loopback port, signs a
referent and a requester in through the real form, then loads each page for --duration seconds with
--connections concurrent clients and prints req/s, p50 and p99. Uses Debian's wrk when installed
(`apt-get install wrk`), else a threaded Python client (slower: it competes for the same 2 cores).
Besides wall-clock figures it prints CPU milliseconds per request: in-process (test client, median
of 200), and during the run for the gunicorn workers and for the load generator, which a busy
machine disturbs far less. It ends with the Markdown table of docs/benchmarks.md ("Portal and desk").
"""
from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import timedelta
from http.client import HTTPConnection
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HELPDESK_CONFIG", str(ROOT / "config" / "testing.toml"))

from sqlalchemy import insert  # noqa: E402

from helpdesk import create_app  # noqa: E402
from helpdesk.extensions import db  # noqa: E402
from helpdesk.models import (Category, Location, Message, MessageKind, Organisation, Priority, Role,  # noqa: E402
                             Source, Status, Ticket, User, utcnow)
from helpdesk.models.tickets import epoch_columns  # noqa: E402
from helpdesk.users import set_password  # noqa: E402

PASSWORD = "bench-password"
# Flask-Login's "strong" session protection ties a session to the client's address and User-Agent:
# every client of the benchmark (sign-in, wrk, the in-process client) must send the same one, or the
# pages answer a redirect to the sign-in page instead of the page.
USER_AGENT = "helpdesk-bench"
STATUS_WEIGHTS = [(Status.CLOSED, 80), (Status.NO_ACTION, 5), (Status.NEW, 5), (Status.TAKEN, 4),
                  (Status.IN_PROGRESS, 6)]
WORDS = ("imprimante vidéoprojecteur réseau wifi poste écran clavier souris compte ENT mot de passe "
         "serveur sauvegarde tableau numérique tablette portable lenteur virus messagerie").split()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SEED_CHUNK = 10_000  # rows per executemany: large enough that the driver, not Python, sets the pace


def seed(app, n_tickets: int) -> dict:
    """Bulk-insert organisations, people, categories, locations, tickets and one message each.

    Tickets and messages go in as Core executemany chunks inside one transaction (no ORM unit of work,
    one commit): 100,000 of each take seconds, so anyone can rerun the benchmark.
    """
    rng = random.Random(42)
    with app.app_context():
        db.create_all()
        orgs = [Organisation(name=f"Organisation {i}", client_number=f"B-{i:03d}") for i in range(20)]
        db.session.add_all(orgs)
        db.session.add_all([Category(name=f"Catégorie {i}") for i in range(12)])
        db.session.flush()
        db.session.add_all([Location(name=f"Salle {i}", organisation_id=orgs[i % 20].id) for i in range(60)])
        referent = User(email="ref@bench.example", display_name="Référent", role=Role.REFERENT)
        set_password(referent, PASSWORD)
        db.session.add(referent)
        db.session.add_all([User(email=f"ref{i}@bench.example", display_name=f"Référent {i}", role=Role.REFERENT)
                            for i in range(9)])
        db.session.flush()
        requesters = [{"email": f"user{i}@bench.example", "display_name": f"Demandeur {i}",
                       "role": Role.REQUESTER, "language": "fr", "active": True, "is_org_manager": False,
                       "organisation_id": orgs[i % 20].id, "created_at": utcnow(), "session_version": 1}
                      for i in range(2000)]
        db.session.execute(insert(User.__table__), requesters)
        requester = db.session.execute(db.select(User).where(User.email == "user7@bench.example")).scalar_one()
        set_password(requester, PASSWORD)
        user_ids = db.session.execute(db.select(User.id).where(User.role == Role.REQUESTER)).scalars().all()
        staff_ids = db.session.execute(db.select(User.id).where(User.role == Role.REFERENT)).scalars().all()
        org_ids = [o.id for o in orgs]
        statuses = [s for s, w in STATUS_WEIGHTS for _ in range(w)]
        start = utcnow() - timedelta(days=3 * 365)
        for first in range(1, n_tickets + 1, SEED_CHUNK):
            tickets, messages = [], []
            for i in range(first, min(first + SEED_CHUNK, n_tickets + 1)):
                status = rng.choice(statuses)
                created = start + timedelta(minutes=15 * i)
                subject = " ".join(rng.choice(WORDS) for _ in range(5)).capitalize()
                requester_id = requester.id if i % 50 == 0 else rng.choice(user_ids)
                tickets.append({
                    "id": i, "subject": subject, "requester_id": requester_id,
                    "organisation_id": org_ids[requester_id % 20], "status": status, "priority": Priority.NORMAL,
                    "category_id": rng.randint(1, 12), "location_id": rng.randint(1, 60),
                    "assignee_id": None if status == Status.NEW else rng.choice(staff_ids), "source": Source.MAIL,
                    "reopen_count": 0, "created_at": created, "updated_at": created,
                })
                messages.append({"ticket_id": i, "kind": MessageKind.INBOUND, "public": True,
                                 "author_id": requester_id,
                                 "body_text": f"Bonjour, {subject.lower()} depuis ce matin.", "created_at": created})
            db.session.execute(insert(Ticket.__table__), [{**t, **epoch_columns(t)} for t in tickets])
            db.session.execute(insert(Message.__table__), messages)
        db.session.commit()
        with db.engine.connect() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT setval('tickets_id_seq', {n_tickets})")
                conn.commit()
                # A live database has been vacuumed by autovacuum (visibility map, hint bits); right after
                # a bulk insert, do it by hand, or autovacuum does it during the measured runs.
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
            else:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
        filter_category = 3
        deep = n_tickets // 2
        sample_ticket = n_tickets - 10
        db.engine.dispose()
    return {"category": filter_category, "deep_before": deep, "ticket": sample_ticket,
            "requester_ticket": (n_tickets // 50) * 50}


def sign_in(base: str, email: str) -> str:
    """Sign in through the real form; return the Cookie header value."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    page = opener.open(base + "/auth/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": PASSWORD}).encode()
    opener.open(base + "/auth/login", data=data).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    check = urllib.request.Request(base + "/my/tickets", headers={"Cookie": cookie, "User-Agent": USER_AGENT})
    with urllib.request.urlopen(check) as response:
        assert response.status == 200, response.status
    return cookie


def cpu_per_request(app, pages: list[tuple[str, str, str]], rounds: int = 200) -> dict[str, float]:
    """Median CPU milliseconds one request costs in-process (test client): robust to a busy machine."""
    from werkzeug.test import Client

    client = Client(app, use_cookies=False)  # send the Cookie header we give, as wrk does
    costs = {}
    for label, path, cookie in pages:
        headers = {"Cookie": cookie, "User-Agent": USER_AGENT} if cookie else {"User-Agent": USER_AGENT}
        for _ in range(10):
            client.get(path, headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        samples = []
        for _ in range(rounds):
            t0 = time.process_time()
            response = client.get(path, headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
            samples.append((time.process_time() - t0) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        costs[label] = statistics.median(samples)
    return costs


def process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def client_cpu_seconds() -> float:
    """CPU used by this process and its finished children (wrk, or the Python client's threads)."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                resource.getrusage(resource.RUSAGE_CHILDREN)))


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers of a master process."""
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def run_wrk(url: str, cookie: str, duration: int, connections: int) -> dict:
    out = subprocess.run(["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{duration}s", "--latency",
                          "-H", f"Cookie: {cookie}", "-H", f"User-Agent: {USER_AGENT}", url],
                         capture_output=True, text=True, check=True).stdout

    def ms(label):
        value = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        number, unit = float(value.group(1)), value.group(2)
        return number / 1000 if unit == "us" else number * 1000 if unit == "s" else number

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB) read", out)
    scale = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[total.group(3)]
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": ms("50"), "p99": ms("99"),
            "errors": int(errors.group(1)) if errors else 0,
            "bytes_per_response": float(total.group(2)) * scale / max(1, int(total.group(1)))}


def run_python(url: str, cookie: str, duration: int, connections: int) -> dict:
    parts = urllib.parse.urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    latencies, errors, stop = [], [0], time.monotonic() + duration
    lock = threading.Lock()

    def client():
        conn = HTTPConnection(parts.hostname, parts.port)
        mine = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookie, "User-Agent": USER_AGENT})
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - t0) * 1000)
            if response.status != 200:
                errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {"rps": len(latencies) / duration, "p50": statistics.median(latencies),
            "p99": latencies[int(len(latencies) * 0.99) - 1], "errors": errors[0]}


def bench_engine(engine: str, n_tickets: int, duration: int, connections: int, worker_args: list[str],
                 only: set[str] | None = None) -> list[tuple]:
    tmp = Path(tempfile.mkdtemp(prefix="hd-bench-"))
    pg_url = None
    if engine == "sqlite":
        url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from tests.conftest import create_pg_database
        pg_url = url = create_pg_database("hd_bench")
    app = create_app({"database_url": url, "var_dir": str(tmp)})
    t0 = time.perf_counter()
    ids = seed(app, n_tickets)
    print(f"[{engine}] seeded {n_tickets} tickets in {time.perf_counter() - t0:.1f} s", flush=True)
    port = free_port()
    env = {**os.environ, "HELPDESK_DATABASE_URL": url, "HELPDESK_VAR_DIR": str(tmp), "HELPDESK_LOG_LEVEL": "WARNING"}
    # No access log (gunicorn's default without --access-logfile), as in the Procfile.
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", "2", *worker_args, "--bind",
                               f"127.0.0.1:{port}", "--log-level", "warning", "helpdesk:create_app()"],
                              cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        staff = sign_in(base, "ref@bench.example")
        requester = sign_in(base, "user7@bench.example")
        pages = [
            # Baseline: a view with one trivial query, to see what the machine gives right now.
            ("baseline: GET /healthz", "/healthz", ""),
            ("desk queue, page 1", "/desk/", staff),
            ("desk queue, filtered (category + status all)", f"/desk/?status=all&category={ids['category']}", staff),
            ("desk queue, deep page (id < 50,000)", f"/desk/?status=all&before={ids['deep_before']}", staff),
            ("desk ticket page", f"/desk/tickets/{ids['ticket']}", staff),
            ("requester's list (closed)", "/my/tickets?show=closed", requester),
            ("requester's ticket page", f"/my/tickets/{ids['requester_ticket']}", requester),
        ]
        if only:  # the baseline always runs: it shows what the machine gives right now
            pages = [p for p in pages if p[1] == "/healthz" or any(word in p[0] for word in only)]
        runner = run_wrk if shutil.which("wrk") else run_python
        costs = cpu_per_request(app, pages)
        rows = []
        for label, path, cookie in pages:
            # The page itself, not a redirect (wrk counts a 302 as a success).
            with urllib.request.urlopen(urllib.request.Request(
                    base + path, headers={"Cookie": cookie, "User-Agent": USER_AGENT})) as r:
                assert r.status == 200 and "auth/login" not in r.url, (path, r.status, r.url)
                size = len(r.read())
            # CPU the gunicorn workers and the load generator spend per request during the run: unlike
            # wall-clock figures, a busy machine hardly changes them (the workers' time excludes
            # PostgreSQL's own processes).
            # Warm both workers first (templates compiled, menus and statement caches filled), so that
            # the measured run sees what a long-running server does.
            runner(base + path, cookie, 1, connections)
            workers = worker_pids(server.pid)
            server_cpu, client_cpu = process_cpu_seconds(workers), client_cpu_seconds()
            result = runner(base + path, cookie, duration, connections)
            done = max(1.0, result["rps"] * duration)
            result["server_cpu_ms"] = (process_cpu_seconds(workers) - server_cpu) * 1000 / done
            result["client_cpu_ms"] = (client_cpu_seconds() - client_cpu) * 1000 / done
            # wrk counts a redirect as a success: check that what it read was the page.
            if "bytes_per_response" in result and result["bytes_per_response"] < 0.8 * size:
                raise SystemExit(f"{path}: wrk got {result['bytes_per_response']:.0f} bytes a response, the page "
                                 f"is {size}: not the page (a redirect?)")
            rows.append((engine, label, result, costs[label]))
            print(f"[{engine}] {label:48s} {result['rps']:8.1f} req/s  p50 {result['p50']:6.1f} ms  "
                  f"p99 {result['p99']:6.1f} ms  non-2xx {result['errors']}  "
                  f"CPU/request {costs[label]:5.2f} ms  workers {result['server_cpu_ms']:5.2f} ms  "
                  f"load generator {result['client_cpu_ms']:5.2f} ms", flush=True)
        return rows
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if pg_url:
            from tests.conftest import drop_pg_database
            drop_pg_database(pg_url)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    # The Procfile runs sync workers, which close every connection after one response (no keep-alive);
    # gthread keeps connections open. Which one to deploy is measured in docs/benchmarks.md.
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--pages", default="", help="only the pages whose label contains one of these ';'-separated words (e.g. 'queue')")
    args = parser.parse_args()
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    if "postgresql" in engines and not os.environ.get("HELPDESK_TEST_DATABASE_URL"):
        sys.exit("PostgreSQL: set HELPDESK_TEST_DATABASE_URL (scripts/postgres.sh prints one)")
    print(f"load generator: {'wrk' if shutil.which('wrk') else 'python threads'}; "
          f"{args.connections} connections x {args.duration} s per page")
    started, load_before = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.getloadavg()
    rows = []
    for engine in engines:
        worker_args = (["--worker-class", "gthread", "--threads", str(args.threads)]
                       if args.worker_class == "gthread" else [])
        only = {p.strip() for p in args.pages.split(";") if p.strip()} or None
        rows += bench_engine(engine, args.tickets, args.duration, args.connections, worker_args, only)
    print_table(rows, started, load_before, os.getloadavg(), args)


def print_table(rows: list[tuple], started: str, load_before, load_after, args) -> None:
    """The figures as the Markdown table of docs/benchmarks.md, with when and how loaded the machine was."""
    workers = "sync" if args.worker_class == "sync" else f"gthread ({args.threads} threads)"
    print(f"\n{args.tickets:,} tickets, gunicorn 2 {workers} workers, {args.connections} connections x {args.duration} s; "
          f"started {started}, {os.cpu_count()} cores, load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after\n")
    print("| engine | page | req/s | p50 ms | p99 ms | CPU ms / request in-process | gunicorn workers' CPU ms / request "
          "| load generator CPU ms / request |")
    print("|---|---|---|---|---|---|---|---|")
    for engine, label, result, cpu in rows:
        name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[engine]
        print(f"| {name} | {label} | {result['rps']:.1f} | {result['p50']:.1f} | {result['p99']:.1f} | {cpu:.2f} "
              f"| {result['server_cpu_ms']:.2f} | {result['client_cpu_ms']:.2f} |")


if __name__ == "__main__":
    main()
