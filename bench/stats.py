"""Benchmark: the stats page over 100,000 tickets, on SQLite and PostgreSQL (target < 300 ms).

    .venv/bin/python bench/stats.py [--tickets 100000] [--runs 15] [--engines sqlite,postgresql]
        [--sqlite-file PATH] [--postgresql-database NAME]

PostgreSQL: the server named by HELPDESK_TEST_DATABASE_URL (scripts/postgres.sh prints one); a
throw-away database is created and dropped, unless --postgresql-database names one to keep.
Tickets are written with bulk inserts (going through the workflow for 100,000 tickets would take
minutes): two years of history, 80 % closed (5 % of them
reopened once), 5 % no action, the rest open, with their status history and ratings for a fifth of the
closings, and a contract promising a response time for every client. The page is fetched
through Flask's test client by a signed-in referent, so the figure is
the server's time (queries, Python, template), without network.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_login.utils import _create_identifier  # noqa: E402
from sqlalchemy import create_engine, insert, inspect, make_url, text  # noqa: E402

from helpdesk import create_app  # noqa: E402
from helpdesk.extensions import db  # noqa: E402
from helpdesk.models import (  # noqa: E402
    Asset, Category, Contract, Location, Organisation, Rating, Role, Status, StatusChange, Ticket, User, utcnow,
)
from helpdesk.models.tickets import epoch_columns  # noqa: E402
from machine import describe  # noqa: E402  (bench/ is on sys.path as the script's folder)

S = Status
SEED_CHUNK = 50_000  # rows per executemany


def pg_admin_url(server_url: str, database: str) -> str:
    url = make_url(server_url).set(drivername="postgresql+psycopg", database=database)
    return url.render_as_string(hide_password=False)


def seed(n_tickets: int, rng: random.Random) -> None:
    """Write n_tickets tickets over the last two years, with history and ratings, by bulk inserts."""
    now = utcnow()
    orgs = [{"id": i, "name": f"Client {i}", "client_number": f"B-{i:04d}", "address": "", "mail_domains": "",
             "created_at": now} for i in range(1, 21)]
    db.session.execute(insert(Organisation), orgs)
    users = [{"id": i, "email": f"ref{i}@bench.example", "display_name": f"Référent {i}", "role": Role.REFERENT,
              "language": "fr", "active": True, "is_org_manager": False, "created_at": now} for i in range(1, 9)]
    users += [{"id": i, "email": f"user{i}@bench.example", "display_name": f"Demandeur {i}", "role": Role.REQUESTER,
               "language": "fr", "active": True, "is_org_manager": False, "organisation_id": 1 + i % 20,
               "created_at": now} for i in range(9, 2009)]
    db.session.execute(insert(User), users)
    db.session.execute(insert(Category), [{"id": i, "name": f"Catégorie {i}", "active": True} for i in range(1, 11)])
    db.session.execute(insert(Location), [{"id": i, "name": f"Salle {i}", "organisation_id": 1 + i % 20,
                                           "active": True} for i in range(1, 51)])
    db.session.execute(insert(Asset), [{"id": i, "name": f"2024-01-{i:04d}", "kind": "PC", "serial": "",
                                        "organisation_id": 1 + i % 20, "notes": "", "created_at": now}
                                       for i in range(1, 501)])
    tickets, changes, ratings = [], [], []
    span = 730 * 86400
    for tid in range(1, n_tickets + 1):
        created = now - timedelta(seconds=rng.randrange(span))
        requester = rng.randrange(9, 2009)
        referent = rng.randrange(1, 9)
        roll = rng.random()
        taken = created + timedelta(minutes=rng.randrange(5, 3 * 24 * 60))
        closed = taken + timedelta(minutes=rng.randrange(10, 10 * 24 * 60))
        history = [(None, S.NEW, created, None, None)]
        reopens = 0
        if roll < 0.80 and closed < now:
            history += [(S.NEW, S.TAKEN, taken, referent, None), (S.TAKEN, S.CLOSED, closed, referent, None)]
            if rng.random() < 0.05:
                reopened, reclosed = closed + timedelta(days=1), closed + timedelta(days=3)
                if reclosed < now:
                    history += [(S.CLOSED, S.IN_PROGRESS, reopened, None, closed),
                                (S.IN_PROGRESS, S.CLOSED, reclosed, referent, None)]
                    closed, reopens = reclosed, 1
            status, taken_at, closed_at, assignee = S.CLOSED, taken, closed, referent
        elif roll < 0.85:
            history += [(S.NEW, S.NO_ACTION, taken, referent, None)]
            status, taken_at, closed_at, assignee = S.NO_ACTION, None, taken, None
        elif roll < 0.95 and taken < now:
            history += [(S.NEW, S.TAKEN, taken, referent, None)]
            status, taken_at, closed_at, assignee = S.TAKEN, taken, None, referent
        else:
            status, taken_at, closed_at, assignee = S.NEW, None, None, None
        tickets.append({
            "id": tid, "subject": f"Panne {tid}", "requester_id": requester, "organisation_id": 1 + requester % 20,
            "status": status, "priority": "normal", "category_id": rng.randrange(1, 11),
            "location_id": rng.choice([None, rng.randrange(1, 51)]), "asset_id": rng.choice([None, rng.randrange(1, 501)]),
            "assignee_id": assignee, "source": "mail", "reopen_count": reopens, "created_at": created,
            "updated_at": closed_at or taken_at or created, "taken_at": taken_at,
            "resolved_at": closed_at if status == S.CLOSED else None, "closed_at": closed_at,
        })
        tickets[-1].update(epoch_columns(tickets[-1]))  # what the ORM's flush events write
        for from_status, to_status, when, actor, ended in history:
            changes.append({"id": len(changes) + 1, "ticket_id": tid, "actor_id": actor, "from_status": from_status,
                            "to_status": to_status, "note": "", "note_public": True, "created_at": when,
                            "ended_at": ended})
        if status == S.CLOSED and rng.random() < 0.2:
            ratings.append({"ticket_id": tid, "status_change_id": len(changes), "score": rng.randrange(1, 6),
                            "comment": rng.choice(["", "", "Merci"]), "referent_id": referent,
                            "closed_at": closed_at, "created_at": closed_at,
                            "category_id": tickets[-1]["category_id"]})  # what the ORM's insert event copies
    # Core executemany on the session's connection, in one transaction: the ORM's bulk path and
    # small chunks made seeding take 95-676 s under load.
    connection = db.session.connection()
    for model, rows in ((Ticket, tickets), (StatusChange, changes), (Rating, ratings)):
        for offset in range(0, len(rows), SEED_CHUNK):
            connection.execute(insert(model.__table__), rows[offset:offset + SEED_CHUNK])
    db.session.commit()
    print(f"  seeded {len(tickets)} tickets, {len(changes)} status changes, {len(ratings)} ratings", flush=True)
    seed_contracts()


RESPONSE_HOURS = (4, 8, 24, 48)


def seed_contracts() -> None:
    """Every client has a contract promising a response time (real clients do); half of them renewed a year ago.

    Renewed contracts promise another response time and include 10 hours a month, so the page's
    compliance table has two rows for them and the contract hours table has a line per month.
    """
    today = utcnow().date()
    rows = []
    for org in range(1, 21):
        renewed = org % 2 == 0
        first_ends = today - timedelta(days=365) if renewed else None
        rows.append({"organisation_id": org, "reference": f"C-{org}", "starts_on": today - timedelta(days=1100),
                     "ends_on": first_ends, "response_hours": RESPONSE_HOURS[org % 4], "included_minutes": 0,
                     "created_at": utcnow()})
        if renewed:
            rows.append({"organisation_id": org, "reference": f"C-{org}-2", "starts_on": first_ends + timedelta(days=1),
                         "ends_on": None, "response_hours": RESPONSE_HOURS[(org + 1) % 4], "included_minutes": 600,
                         "created_at": utcnow()})
    db.session.execute(insert(Contract), rows)
    db.session.commit()
    print(f"  seeded {len(rows)} contracts", flush=True)


def measure(app, runs: int) -> dict[str, tuple[list[float], list[float]]]:
    client = app.test_client()
    with app.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()  # what Flask-Login's strong session protection checks
    referent = db.session.get(User, 1)  # user 1 is a referent
    with client.session_transaction() as session:
        session.update({"_user_id": referent.get_id(), "_fresh": True, "_id": identifier})
    today = utcnow().date()
    cases = {
        "baseline: GET /healthz": ("/healthz", {}),  # what the machine gave at the time
        "page, last 12 months (default)": ("/desk/stats/", {}),
        "page, all 24 months": ("/desk/stats/", {"start": (today - timedelta(days=731)).isoformat(),
                                                 "end": today.isoformat()}),
        "page, one organisation, 12 months": ("/desk/stats/", {"organisation": "3"}),
        "page, one month (daily)": ("/desk/stats/", {"start": (today - timedelta(days=30)).isoformat(),
                                                     "end": today.isoformat()}),
        "CSV of one table, 12 months": ("/desk/stats/by_requester.csv", {}),
        "page, 12 months, from the cache": ("/desk/stats/", {}),
    }
    results = {}
    for name, (path, query) in cases.items():
        # Every case computes the report at each request, except the last one, which shows what the
        # per-process cache (stats_cache_seconds) gives to the second viewer of the same filters.
        app.config["HELPDESK"]["stats_cache_seconds"] = 60 if "cache" in name else 0
        warm = client.get(path, query_string=query)
        assert warm.status_code == 200, (warm.status_code, warm.headers.get("Location"))
        times, cpu = [], []
        for _ in range(runs):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(path, query_string=query)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert response.status_code == 200
        results[name] = (times, cpu)
    return results


def check_schema(database_url: str) -> None:
    """Stop when a kept database lacks a column or an index of the models (it predates a migration)."""
    found = inspect(db.engine)
    for table in db.metadata.sorted_tables:
        columns = {c["name"] for c in found.get_columns(table.name)}
        indexes = {i["name"] for i in found.get_indexes(table.name)}
        missing = ({c.name for c in table.columns} - columns) | ({i.name for i in table.indexes} - indexes)
        if missing:
            sys.exit(f"{database_url}: {table.name} lacks {', '.join(sorted(missing))}; delete the file to reseed")


TARGET_MS = 300  # the budget for one computed page


def summarise(results: dict[str, tuple[list[float], list[float]]]) -> dict[str, tuple[float, float, float]]:
    """Per case: wall-clock median and p95 (nearest rank), and the median CPU time of this process.

    CPU time is what a busy machine disturbs least; on PostgreSQL it leaves out the server's own work.
    """
    figures = {}
    for name, (times, cpu) in results.items():
        ordered = sorted(times)
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        figures[name] = (statistics.median(times), p95, statistics.median(cpu))
        print(f"  {name:<38} median {figures[name][0]:7.1f} ms   p95 {p95:7.1f} ms   "
              f"CPU {figures[name][2]:7.1f} ms", flush=True)
    return figures


def print_table(figures: dict[str, dict[str, tuple[float, float, float]]], runs: int) -> None:
    """One Markdown table, a row per case and a column group per engine, ready for docs/benchmarks.md."""
    engines = list(figures)
    print(f"\n{runs} runs per case; target < {TARGET_MS} ms (wall-clock median); at the end: {describe()}\n")
    print("| request | " + " | ".join(f"{e} median ms | {e} p95 ms | {e} CPU ms" for e in engines) + " |")
    print("|---|" + "---:|---:|---:|" * len(engines))
    for case in next(iter(figures.values())):
        cells = [f"{v:,.1f}" for e in engines for v in figures[e][case]]
        print(f"| {case} | " + " | ".join(cells) + " |")


def run(engine: str, database_url: str, n_tickets: int, runs: int, var_dir: str,
        reuse: bool = False) -> dict[str, tuple[float, float, float]]:
    app = create_app({"database_url": database_url, "var_dir": var_dir, "environment": "testing",
                      "secret_key": "bench", "log_level": "WARNING"})
    with app.app_context():
        if reuse:
            check_schema(database_url)
            if not db.session.query(Contract.id).first():  # kept from before the bench had contracts
                seed_contracts()
        else:
            db.create_all()
            started = time.perf_counter()
            seed(n_tickets, random.Random(7))
            print(f"  {engine}: seeding took {time.perf_counter() - started:.1f} s", flush=True)
        if engine == "postgresql":
            # A live database has been vacuumed by autovacuum: statistics, and the visibility map
            # that lets counts read an index alone. Right after a bulk insert, do it by hand.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        print(f"{engine}:", flush=True)
        figures = summarise(measure(app, runs))
        db.session.remove()
        db.engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--sqlite-file", help="Keep the SQLite database in this file, and reuse it when it exists.")
    parser.add_argument("--postgresql-database", help="Keep the PostgreSQL database under this name, and reuse it "
                                                      "when it exists (default: a throw-away one).")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="hd-bench-stats-") as tmp:
        for engine in args.engines.split(","):
            if engine == "sqlite":
                path = Path(args.sqlite_file).resolve() if args.sqlite_file else Path(tmp) / "bench.sqlite3"
                figures["SQLite"] = run("sqlite", f"sqlite:///{path}", args.tickets, args.runs, tmp,
                                        reuse=path.exists())
            elif engine == "postgresql":
                server = os.environ.get("HELPDESK_TEST_DATABASE_URL")
                if not server:
                    sys.exit("set HELPDESK_TEST_DATABASE_URL (bash scripts/postgres.sh prints one)")
                name = args.postgresql_database or f"hd_bench_stats_{uuid.uuid4().hex[:8]}"
                admin = create_engine(pg_admin_url(server, "postgres"), isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    reuse = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                         {"name": name}).first() is not None
                    if not reuse:
                        conn.execute(text(f'CREATE DATABASE "{name}"'))
                try:
                    figures["PostgreSQL"] = run("postgresql", pg_admin_url(server, name), args.tickets, args.runs, tmp,
                                                reuse=reuse)
                finally:
                    if not args.postgresql_database:
                        with admin.connect() as conn:
                            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    admin.dispose()
            else:
                sys.exit(f"unknown engine {engine!r}")
    print_table(figures, args.runs)


if __name__ == "__main__":
    main()
