"""Mail-in benchmark: APPEND small mails to a throw-away Dovecot, drain them with `helpdesk poll --once`.

For each database (SQLite file, PostgreSQL) and each count: APPEND N small mails to a fresh
account, measure the raw limit (IMAP FETCH BODY.PEEK[] + parse, no database, in this process),
then time `helpdesk poll --once` in a child process (start-up included) and read its peak RSS.
Then one mail with a 25 MB attachment: peak RSS of the poller that imports it.

    .venv/bin/python bench/ingest.py                     # 1,000 and 10,000, SQLite and PostgreSQL
    .venv/bin/python bench/ingest.py --counts 1000 --databases sqlite

PostgreSQL: the server of HELPDESK_TEST_DATABASE_URL, else `bash scripts/postgres.sh` is asked.
Results go to stdout as Markdown tables for docs/benchmarks.md: mails/s end to end, the raw limit,
their ratio, the poller's CPU time per mail (user + system, the figure that survives a shared
machine; a PostgreSQL server's own CPU is not in it), peak RSS, and the 25 MB case.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from machine import describe  # noqa: E402  (bench/ is on sys.path as the script's folder)

from helpdesk.mailparse import parse_mail  # noqa: E402
from tests.integration.dovecot import Dovecot  # noqa: E402
from workers.mailbox import ImapMailbox, MailboxConfig  # noqa: E402

HELPDESK = str(Path(sys.executable).with_name("helpdesk"))
# Issue 3's targets on the 2-core machine.
TARGET_PER_S = 300
TARGET_RATIO = 2.0
TARGET_RSS_MB = 300


def small_mail(n: int) -> bytes:
    return (f"From: Enseignant {n % 200} <prof{n % 200}@ecole.example>\r\nTo: support@helpdesk.example\r\n"
            f"Subject: Panne n°{n} salle {n % 30}\r\nMessage-ID: <bench-{n}-{time.time_ns()}@ecole.example>\r\n"
            "Date: Mon, 23 Nov 2026 08:00:00 +0100\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"Bonjour,\r\nLe poste {n} de la salle {n % 30} ne démarre plus.\r\nMerci.\r\n").encode()


def big_mail(megabytes: int) -> bytes:
    payload = base64.encodebytes(os.urandom(megabytes * 1024 * 1024)).replace(b"\n", b"\r\n")
    head = ("From: Prof <prof@ecole.example>\r\nTo: support@helpdesk.example\r\nSubject: Capture video\r\n"
            f"Message-ID: <big-{time.time_ns()}@ecole.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nVoir la video.\r\n"
            "--B\r\nContent-Type: video/mp4\r\nContent-Disposition: attachment; filename=\"capture.mp4\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode()
    return head + payload + b"\r\n--B--\r\n"


def postgres_server_url() -> str:
    url = os.environ.get("HELPDESK_TEST_DATABASE_URL")
    if not url:
        url = subprocess.run(["bash", "scripts/postgres.sh"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
    return url


def new_database(kind: str, workdir: Path) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", lambda: None
    os.environ.setdefault("HELPDESK_TEST_DATABASE_URL", postgres_server_url())
    os.environ.setdefault("HELPDESK_CONFIG", str(ROOT / "config" / "testing.toml"))
    from tests.conftest import create_pg_database, drop_pg_database

    url = create_pg_database("hd_bench")
    return url, lambda: drop_pg_database(url)


def helpdesk_env(database_url: str, var_dir: Path, mailbox: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update({
        "HELPDESK_ENVIRONMENT": "development", "HELPDESK_SECRET_KEY": "bench-secret",
        "HELPDESK_DATABASE_URL": database_url, "HELPDESK_VAR_DIR": str(var_dir),
        "HELPDESK_MAILBOXES": json.dumps([mailbox]), "HELPDESK_LOG_LEVEL": "WARNING",
        "HELPDESK_IMAP_BATCH_SIZE": "100",
    })
    return env


# A small Python process starts the measured one and reports its exit code, CPU and peak RSS on fd 3.
# Measured from here, a child's peak RSS would count this process's pages (Linux takes the old
# memory's high-water mark at exec, with fork and posix_spawn alike), and this one holds the mails.
LAUNCHER = ("import os, sys; pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ); "
            "_, status, usage = os.wait4(pid, 0); "
            "os.write(3, f'{os.waitstatus_to_exitcode(status)} {usage.ru_utime + usage.ru_stime} "
            "{usage.ru_maxrss}'.encode())")


def run_measured(args: list[str], env: dict) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS in MB, stdout) of a child process."""
    # Output to files, not pipes: a chatty stderr (one warning per loop-guarded acknowledgement)
    # filled a pipe nobody was reading yet and hung the child.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as report:
        started = time.perf_counter()
        pid = os.posix_spawn(sys.executable, [sys.executable, "-c", LAUNCHER, *args], env, file_actions=[
            (os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
            (os.POSIX_SPAWN_DUP2, report.fileno(), 3), (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        ])
        os.waitpid(pid, 0)
        elapsed = time.perf_counter() - started
        out.seek(0), err.seek(0), report.seek(0)
        code, cpu, maxrss = report.read().decode().split()
        if code != "0":
            raise RuntimeError(f"{' '.join(args)} failed: {err.read().decode()[-2000:]}")
        return elapsed, float(cpu), int(maxrss) // 1024, out.read().decode().strip()


def raw_limit(server: Dovecot, batch: int = 100) -> tuple[float, float]:
    """(mails per second, CPU ms per mail in this process) for IMAP FETCH BODY.PEEK[] + parse only."""
    mb = MailboxConfig.from_dict(server.mailbox_settings())
    with ImapMailbox(mb, 60) as box:
        uids = box.pending_uids()
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(uids), batch):
            for raw in box.fetch(uids[start:start + batch]).values():
                parse_mail(raw)
        return len(uids) / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / len(uids)


@contextlib.contextmanager
def fresh_setup(server: Dovecot, kind: str):
    """A new empty account and a new migrated database: (account, env of the poller, var_dir)."""
    account = server.new_account()
    with tempfile.TemporaryDirectory(prefix="hd-bench-") as tmp:
        workdir = Path(tmp)
        url, drop = new_database(kind, workdir)
        try:
            env = helpdesk_env(url, workdir / "var", account.mailbox_settings())
            subprocess.run([HELPDESK, "init-db"], env=env, check=True, capture_output=True)
            yield account, env, workdir / "var"
        finally:
            drop()


def one_run(server: Dovecot, kind: str, count: int) -> dict:
    with fresh_setup(server, kind) as (account, env, _):
        started = time.perf_counter()
        account.append("INBOX", [small_mail(n) for n in range(count)])
        append_rate = count / (time.perf_counter() - started)
        limit, limit_cpu_ms = raw_limit(account)
        wall, cpu, rss, summary = run_measured([HELPDESK, "poll", "--once"], env)
        assert f"{count} ticket_created" in summary, summary
        assert account.count("INBOX") == 0
    rate = count / wall
    return {"db": kind, "count": count, "append_per_s": append_rate, "raw_per_s": limit,
            "raw_cpu_ms": limit_cpu_ms, "wall_s": wall, "per_s": rate, "ratio": limit / rate,
            "cpu_ms": cpu * 1000 / count, "rss_mb": rss}


def big_run(server: Dovecot, kind: str, megabytes: int) -> dict:
    with fresh_setup(server, kind) as (account, env, var_dir):
        account.append("INBOX", [big_mail(megabytes)])
        wall, cpu, rss, summary = run_measured([HELPDESK, "poll", "--once"], env)
        assert "1 ticket_created" in summary, summary
        stored = [p for p in (var_dir / "attachments").rglob("*") if p.is_file()]
        assert any(p.stat().st_size == megabytes * 1024 * 1024 for p in stored)
    return {"db": kind, "megabytes": megabytes, "wall_s": wall, "cpu_s": cpu, "rss_mb": rss}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_tables(rows: list[dict], bigs: list[dict], start_load: str) -> None:
    print(f"load average (1, 5, 15 min) at start {start_load}; {os.cpu_count()} CPUs; at the end: {describe()}\n")
    print("| database | mails | raw limit (FETCH+parse) mails/s | `poll --once` wall | end to end mails/s "
          "| raw / end to end | poller CPU per mail | peak RSS | ≥ 300/s and ≤ 2× |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        met = "yes" if r["per_s"] >= TARGET_PER_S and r["ratio"] <= TARGET_RATIO else "no"
        print(f"| {r['db']} | {r['count']:,} | {r['raw_per_s']:,.0f} | {r['wall_s']:.1f} s | {r['per_s']:,.0f} | "
              f"{r['ratio']:.2f}× | {r['cpu_ms']:.2f} ms | {r['rss_mb']} MB | {met} |")
    if bigs:
        print("\n| database | one mail with an attachment of | `poll --once` wall | poller CPU | peak RSS | ≤ 300 MB |")
        print("|---|---|---|---|---|---|")
    for b in bigs:
        print(f"| {b['db']} | {b['megabytes']} MB | {b['wall_s']:.1f} s | {b['cpu_s']:.1f} s | {b['rss_mb']} MB | "
              f"{'yes' if b['rss_mb'] <= TARGET_RSS_MB else 'no'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1000,10000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--big-mb", type=int, default=25, help="0 to skip the big mail")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",") if c]
    kinds = [k for k in args.databases.split(",") if k]
    rows, bigs = [], []
    start_load = load_average()
    with Dovecot(spare_accounts=len(counts) * len(kinds) + len(kinds) + 1, tls=False) as server:
        for kind in kinds:
            for count in counts:
                rows.append(one_run(server, kind, count))
                print(json.dumps(rows[-1]), file=sys.stderr)
            if args.big_mb:
                bigs.append(big_run(server, kind, args.big_mb))
                print(json.dumps(bigs[-1]), file=sys.stderr)
    print_tables(rows, bigs, start_load)


if __name__ == "__main__":
    main()
