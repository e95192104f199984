"""`helpdesk ingest`, `helpdesk poll --once`, `helpdesk mail quarantine|replay`."""
import json
import mailbox

import pytest

from helpdesk.extensions import db
from helpdesk.models import Ticket
from tests.mailfixtures import MAIL_DIR, load_eml, make_eml


def count(model):
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def test_ingest_folder_with_report(cli_runner, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("plain.eml", "alternative.eml", "not_a_mail.eml", "list_mail.eml"):
        (folder / name).write_bytes(load_eml(name))
    (folder / "zz-again.eml").write_bytes(load_eml("plain.eml"))
    report = tmp_path / "report.json"
    result = cli_runner.invoke(args=["ingest", "--report", str(report), str(folder)])
    assert result.exit_code == 0, result.output
    assert "2 ticket_created" in result.output and "1 duplicate" in result.output
    assert "1 quarantined" in result.output and "1 auto_reply" in result.output
    entries = json.loads(report.read_text())
    assert [set(e) for e in entries] == [{"source", "outcome", "reason", "ticket_id"}] * 5
    by_name = {e["source"].rsplit("/", 1)[-1]: e for e in entries}
    assert by_name["plain.eml"]["outcome"] == "ticket_created" and by_name["plain.eml"]["ticket_id"]
    assert by_name["zz-again.eml"]["outcome"] == "duplicate"
    assert by_name["not_a_mail.eml"]["outcome"] == "quarantined" and by_name["not_a_mail.eml"]["ticket_id"] is None
    assert count(Ticket) == 2


def test_ingest_mbox(cli_runner, tmp_path):
    path = tmp_path / "archive.mbox"
    box = mailbox.mbox(str(path))
    for n in range(3):
        box.add(make_eml(message_id=f"<mbox-{n}@x>", subject=f"Panne {n}"))
    box.flush()
    box.close()
    result = cli_runner.invoke(args=["ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 ticket_created" in result.output
    assert count(Ticket) == 3


def test_ingest_bad_path_is_exit_2(cli_runner, tmp_path):
    result = cli_runner.invoke(args=["ingest", str(tmp_path / "missing.eml")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_quarantine_and_replay(cli_runner, app, tmp_path):
    app.config["HELPDESK"]["allowed_sender_domains"] = ["ecole.example"]
    (tmp_path / "x.eml").write_bytes(make_eml(sender="someone@other.example"))
    assert cli_runner.invoke(args=["ingest", str(tmp_path / "x.eml")]).exit_code == 0
    listed = cli_runner.invoke(args=["mail", "quarantine", "--json"])
    [item] = json.loads(listed.output)
    assert item["reason"].startswith("unknown sender") and item["from"] == "someone@other.example"
    text = cli_runner.invoke(args=["mail", "quarantine"])
    assert f"#{item['id']}" in text.output and "unknown sender" in text.output
    # Still refused with the same settings.
    again = cli_runner.invoke(args=["mail", "replay", str(item["id"])])
    assert again.exit_code == 0 and "quarantined" in again.output
    app.config["HELPDESK"]["allowed_sender_domains"] = []
    done = cli_runner.invoke(args=["mail", "replay", "--all"])
    assert done.exit_code == 0 and "1 ticket_created" in done.output
    assert count(Ticket) == 1
    assert cli_runner.invoke(args=["mail", "quarantine"]).output.strip() == "No quarantined mail."
    assert cli_runner.invoke(args=["mail", "replay", str(item["id"])]).exit_code == 1  # no longer quarantined


@pytest.mark.parametrize("args", [["mail", "replay"], ["mail", "replay", "1", "--all"], ["mail", "replay", "999"]])
def test_replay_bad_arguments(cli_runner, args):
    assert cli_runner.invoke(args=args).exit_code == 2


def test_poll_once_without_mailboxes_drains_the_drop_folder(cli_runner, app):
    from pathlib import Path

    drop = Path(app.config["HELPDESK"]["var_dir"]) / "maildrop"
    drop.mkdir(parents=True)
    (drop / "a.eml").write_bytes(load_eml("plain.eml"))
    (drop / "b.eml").write_bytes(load_eml("not_a_mail.eml"))
    (drop / ".partial.eml").write_bytes(b"half")
    result = cli_runner.invoke(args=["poll", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 ticket_created" in result.output and "1 quarantined" in result.output
    assert (drop / "processed" / "a.eml").exists() and (drop / "quarantine" / "b.eml").exists()
    assert (drop / ".partial.eml").exists() and not (drop / "a.eml").exists()


def test_poll_unknown_mailbox_is_exit_2(cli_runner):
    assert cli_runner.invoke(args=["poll", "--once", "--mailbox", "nope"]).exit_code == 2


def test_fixtures_are_ours():
    assert len(list(MAIL_DIR.glob("*.eml"))) >= 25
