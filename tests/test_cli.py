"""The admin CLI: commands, JSON output, one-line errors with exit code 2 for bad arguments."""
import json
import os
import subprocess
import sys

import pytest

from helpdesk.extensions import db
from helpdesk.models import Role, Status, StatusChange, Ticket, User
from tests.factories import make_referent, make_ticket


def test_user_add_and_duplicate(cli_runner):
    result = cli_runner.invoke(args=["user", "add", "Prof.Durand@College.example", "--role", "requester",
                                     "--name", "M. Durand", "--json"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["email"] == "prof.durand@college.example"
    again = cli_runner.invoke(args=["user", "add", "prof.durand@college.example", "--role", "referent"])
    assert again.exit_code == 2
    assert "already exists" in again.output
    assert db.session.query(User).count() == 1


@pytest.mark.parametrize("args", [
    ["user", "add", "not-an-address", "--role", "requester"],
    ["user", "add", "a@b.example", "--role", "wizard"],
    ["ticket", "show", "999"],
    ["ticket", "show", "abc"],
    ["ticket", "set-status", "1", "done", "--by", "x@example.test"],
])
def test_bad_arguments_exit_2(cli_runner, args):
    result = cli_runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_ticket_list_and_show_json(cli_runner):
    ticket = make_ticket(Status.TAKEN, subject="Écran noir")
    make_ticket(Status.CLOSED)
    db.session.commit()
    listed = json.loads(cli_runner.invoke(args=["ticket", "list", "--json"]).output)
    assert {t["status"] for t in listed} == {"taken", "closed"}
    only_taken = json.loads(cli_runner.invoke(args=["ticket", "list", "--status", "taken", "--json"]).output)
    assert [t["id"] for t in only_taken] == [ticket.id]
    shown = json.loads(cli_runner.invoke(args=["ticket", "show", str(ticket.id), "--json"]).output)
    assert shown["subject"] == "Écran noir"
    assert [(h["from"], h["to"]) for h in shown["history"]] == [(None, "new"), ("new", "taken")]


def test_set_status_moves_and_records(cli_runner):
    referent = make_referent(email="tech@example.test")
    ticket = make_ticket(Status.TAKEN, referent=referent)
    db.session.commit()
    result = cli_runner.invoke(args=["ticket", "set-status", str(ticket.id), "in_progress",
                                     "--by", "TECH@example.test", "--note", "pièce commandée"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == Status.IN_PROGRESS
    last = db.session.query(StatusChange).order_by(StatusChange.id.desc()).first()
    assert (last.note, last.actor_id) == ("pièce commandée", referent.id)


def test_refused_move_exits_nonzero_and_changes_nothing(cli_runner):
    referent = make_referent(email="tech@example.test")
    ticket = make_ticket(Status.NEW)
    db.session.commit()
    result = cli_runner.invoke(args=["ticket", "set-status", str(ticket.id), "closed", "--by", "tech@example.test"])
    assert result.exit_code == 1
    assert "cannot move from new to closed" in result.output
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == Status.NEW
    assert db.session.query(StatusChange).filter_by(ticket_id=ticket.id).count() == 1
    assert referent.id


def test_demo_is_idempotent_and_covers_every_status(cli_runner):
    first = cli_runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    counts = (db.session.query(Ticket).count(), db.session.query(User).count())
    second = cli_runner.invoke(args=["demo"])
    assert "nothing new" in second.output
    assert (db.session.query(Ticket).count(), db.session.query(User).count()) == counts
    assert {t.status for t in db.session.query(Ticket)} == set(Status)
    assert db.session.query(User).filter_by(role=Role.REFERENT).count() >= 2


def run_console(args, env_extra, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(env_extra)
    exe = os.path.join(os.path.dirname(sys.executable), "helpdesk")
    return subprocess.run([exe, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_console_script_end_to_end(tmp_path):
    """The installed `helpdesk` script, in a fresh process: init-db, demo, list; errors are one line."""
    env = {"HELPDESK_ENVIRONMENT": "development", "HELPDESK_VAR_DIR": str(tmp_path / "var")}
    assert run_console(["init-db"], env, tmp_path).returncode == 0
    assert run_console(["demo"], env, tmp_path).returncode == 0
    listed = run_console(["ticket", "list", "--json"], env, tmp_path)
    assert listed.returncode == 0
    assert len(json.loads(listed.stdout)) == 6

    refused = run_console(["ticket", "set-status", "1", "closed", "--by", "referent1@helpdesk.example"], env, tmp_path)
    assert refused.returncode == 1 and "cannot move" in refused.stderr and "Traceback" not in refused.stderr

    unknown = run_console(["ticket", "list"], {**env, "HELPDESK_SMTP_HOTS": "x"}, tmp_path)
    assert unknown.returncode != 0
    assert "smtp_hots" in unknown.stderr and "Traceback" not in unknown.stderr

    no_secret = run_console(["ticket", "list"], {"HELPDESK_VAR_DIR": str(tmp_path / "var")}, tmp_path)
    assert no_secret.returncode != 0
    assert "secret_key" in no_secret.stderr and "Traceback" not in no_secret.stderr


def test_uninitialised_database_is_one_line(tmp_path):
    env = {"HELPDESK_ENVIRONMENT": "development", "HELPDESK_VAR_DIR": str(tmp_path / "empty")}
    result = run_console(["ticket", "list"], env, tmp_path)
    assert result.returncode == 1
    assert "init-db" in result.stderr and "Traceback" not in result.stderr


def test_only_the_migration_commands_load_alembic(tmp_path):
    """`init-db` and the `db` group migrate; the others (the mail poller's `poll --once` first)
    start without importing Flask-Migrate and alembic, a tenth of their start-up."""
    env = {"HELPDESK_ENVIRONMENT": "development", "HELPDESK_VAR_DIR": str(tmp_path / "var")}
    assert run_console(["init-db"], env, tmp_path).returncode == 0
    current = run_console(["db", "current"], env, tmp_path)
    assert current.returncode == 0 and "(head)" in current.stdout, current.stderr
    probe = ("import sys\nfrom helpdesk.cli import main\nsys.argv = ['helpdesk', *sys.argv[1:]]\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\nprint('alembic' in sys.modules, 'flask_migrate' in sys.modules)\n")
    env_all = {**{k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}, **env}
    for args, loaded in ((["poll", "--once"], "False False"), (["ticket", "list"], "False False"),
                         (["init-db"], "True True")):
        result = subprocess.run([sys.executable, "-c", probe, *args], env=env_all, cwd=tmp_path, capture_output=True,
                                text=True, timeout=60)
        assert result.stdout.strip().splitlines()[-1] == loaded, (args, result.stdout, result.stderr)


def test_the_mail_commands_start_without_the_web_part(tmp_path):
    """`poll`, `ingest` and `mail` build an app without the portal, the desk and the other command
    groups (create_app(web=False)): the queue, the stats and numpy are never imported, and the drop
    folder's mail still becomes a ticket with its acknowledgement rendered."""
    env = {"HELPDESK_ENVIRONMENT": "development", "HELPDESK_VAR_DIR": str(tmp_path / "var")}
    assert run_console(["init-db"], env, tmp_path).returncode == 0
    drop = tmp_path / "var" / "maildrop"
    drop.mkdir(parents=True, exist_ok=True)
    (drop / "one.eml").write_bytes(
        b"From: Prof <prof@ecole.example>\r\nTo: support@helpdesk.example\r\nSubject: Videoprojecteur\r\n"
        b"Message-ID: <web-less-1@ecole.example>\r\n\r\nIl ne s'allume plus.\r\n")
    probe = ("import sys\nfrom helpdesk.cli import main\nsys.argv = ['helpdesk', *sys.argv[1:]]\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(*[m in sys.modules for m in ('numpy', 'helpdesk.stats', 'helpdesk.queue', 'helpdesk.desk')])\n")
    env_all = {**{k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}, **env}
    for args, loaded in ((["poll", "--once"], "False False False False"),
                         (["mail", "quarantine"], "False False False False"),
                         (["ticket", "list"], "True True True True")):
        result = subprocess.run([sys.executable, "-c", probe, *args], env=env_all, cwd=tmp_path, capture_output=True,
                                text=True, timeout=60)
        lines = result.stdout.strip().splitlines()
        assert lines[-1] == loaded, (args, result.stdout, result.stderr)
        if args[0] == "poll":
            assert "1 ticket_created" in result.stdout, result.stdout
    listed = run_console(["outbox", "list"], env, tmp_path)
    assert listed.returncode == 0 and "acknowledgement" in listed.stdout, (listed.stdout, listed.stderr)
