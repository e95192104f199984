"""The issue's yardstick, measured now: a plain Flask list page (OFFSET pagination, a COUNT over 100,000 rows).

    .venv/bin/python bench/reference_page.py [--engine sqlite|postgresql|both] [--rows 100000]

Issue 5 quotes this page at 175 req/s, p99 72 ms "measured here". This machine's speed drifts by
the hour (docs/benchmarks.md), so `bench/portal.py`'s figures are only comparable across runs next
to this one, taken in the same minutes: same gunicorn (2 sync workers), same wrk (8 connections x
10 s), a page of 50 rows out of 100,000 through Flask-SQLAlchemy's ORM and a Jinja loop, as a
first Flask app would write it. Nothing of helpdesk is imported into the page's process.
PostgreSQL: the server named by HELPDESK_TEST_DATABASE_URL; a throw-away database is created and dropped.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from portal import free_port, run_python, run_wrk  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

APP = textwrap.dedent('''
    import os
    from flask import Flask, render_template_string, request
    from flask_sqlalchemy import SQLAlchemy

    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["REFERENCE_DATABASE_URL"]
    db = SQLAlchemy(app)

    class Item(db.Model):
        __tablename__ = "items"
        id = db.Column(db.Integer, primary_key=True)
        subject = db.Column(db.String(200), nullable=False)
        status = db.Column(db.String(20), nullable=False)
        requester = db.Column(db.String(200), nullable=False)
        created_at = db.Column(db.DateTime, nullable=False)

    PAGE = """<!doctype html><title>Tickets</title><h1>Tickets ({{ total }})</h1>
    <table>{% for item in items %}<tr><td>#{{ item.id }}</td><td><a href="/items/{{ item.id }}">{{ item.subject }}</a></td>
    <td>{{ item.status }}</td><td>{{ item.requester }}</td><td>{{ item.created_at.strftime("%d/%m/%Y %H:%M") }}</td></tr>
    {% endfor %}</table><a href="?page={{ page + 1 }}">next</a>"""

    @app.get("/items")
    def items():
        page = request.args.get("page", 1, type=int)
        query = Item.query.order_by(Item.id.desc())
        return render_template_string(PAGE, items=query.offset((page - 1) * 50).limit(50).all(),
                                      total=query.count(), page=page)
''')


def seed(url: str, rows: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, subject VARCHAR(200) NOT NULL, "
                          "status VARCHAR(20) NOT NULL, requester VARCHAR(200) NOT NULL, created_at TIMESTAMP NOT NULL)"))
        conn.execute(text("INSERT INTO items VALUES (:id, :subject, :status, :requester, :created_at)"), [
            {"id": i, "subject": f"Le poste {i % 500} ne démarre plus", "status": ("new", "taken", "closed")[i % 3],
             "requester": f"Demandeur {i % 2000}", "created_at": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d} 08:{i % 60:02d}:00"}
            for i in range(1, rows + 1)])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE items"))
    engine.dispose()


def measure(engine_name: str, url: str, rows: int, tmp: Path) -> dict:
    seed(url, rows)
    (tmp / "reference_app.py").write_text(APP)
    port = free_port()
    env = {**os.environ, "REFERENCE_DATABASE_URL": url}
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}",
                               "--log-level", "warning", "reference_app:app"], cwd=tmp, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}/items"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base, timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        runner = run_wrk if shutil.which("wrk") else run_python
        runner(base, "", 1, 8)  # warm both workers
        result = runner(base, "", 10, 8)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"[{engine_name}] plain Flask list page (OFFSET + COUNT, {rows:,} rows): {result['rps']:.1f} req/s, "
          f"p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, non-2xx {result['errors']}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    print(f"started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
          f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}; the issue quotes 175 req/s, p99 72 ms", flush=True)
    for name in engines:
        with tempfile.TemporaryDirectory(prefix="hd-reference-") as tmp:
            if name == "sqlite":
                measure(name, f"sqlite:///{tmp}/reference.sqlite3", args.rows, Path(tmp))
                continue
            if not os.environ.get("HELPDESK_TEST_DATABASE_URL"):
                sys.exit("PostgreSQL: set HELPDESK_TEST_DATABASE_URL (scripts/postgres.sh prints one)")
            from tests.conftest import create_pg_database, drop_pg_database  # reads the variable on import

            url = create_pg_database("hd_reference")
            try:
                measure(name, url, args.rows, Path(tmp))
            finally:
                drop_pg_database(url)
    print(f"ended, load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
