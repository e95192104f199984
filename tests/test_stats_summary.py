"""The monthly summary mail: last month's figures to every active referent, once a month, through the outbox."""
from email import policy
from email.parser import BytesParser

import pytest

from helpdesk.extensions import db
from helpdesk.models import OutboundMail, OutboundStatus
from helpdesk.stats_summary import EVENT, queue_monthly_summary
from tests.factories import make_referent
from tests.stats_dataset import Dataset, utc
from workers.scheduler import build_jobs


@pytest.fixture
def data(app, monkeypatch):
    return Dataset(monkeypatch)


def summaries():
    return {row.recipient: row for row in db.session.query(OutboundMail).filter_by(event=EVENT)}


def text_of(row):
    return BytesParser(policy=policy.default).parsebytes(row.raw).get_body(("plain",)).get_content()


def test_last_month_goes_to_every_active_referent_once(app, data):
    english = make_referent(display_name="Robin", language="en")
    gone = make_referent(display_name="Parti")
    gone.active = False
    db.session.commit()
    settings = app.config["HELPDESK"]
    # 1 March 06:00 UTC = 07:00 in Paris: February's figures.
    assert queue_monthly_summary(settings, utc(2026, 3, 1, 6)) == 3
    db.session.commit()
    rows = summaries()
    assert set(rows) == {data.f1.email, data.f2.email, english.email}
    assert all(r.status == OutboundStatus.PENDING and r.ticket_id is None for r in rows.values())
    assert "Les chiffres de 2026-02" in rows[data.f1.email].subject
    text = text_of(rows[data.f1.email]).replace("\r\n", "\n")
    # February in Paris: T2, T3, T4 opened; T2 closed; T3 no action; T6 and T4 open at the end.
    for line in ("Tickets ouverts : 3", "Tickets fermés : 1", "Tickets sans suite : 1", "Tickets en cours à la fin : 2",
                 "- Matériel : 2", "/desk/stats/?start=2026-02-01&end=2026-02-28"):
        assert line in text
    assert "Figures for 2026-02" in rows[english.email].subject
    # The worker may run the job again the same month (restart, coalesced runs): nothing more is sent.
    assert queue_monthly_summary(settings, utc(2026, 3, 1, 9)) == 0


def test_the_job_follows_its_setting(app):
    settings = dict(app.config["HELPDESK"])
    [job] = [j for j in build_jobs(settings) if j.name == "stats_summary"]
    assert job.trigger == "cron" and job.trigger_args["day"] == 1
    assert job.enabled(settings) is False  # off by default
    assert job.enabled({**settings, "stats_monthly_summary": True}) is True


def test_business_hours_reach_the_summary(app, data):
    settings = {**app.config["HELPDESK"], "stats_business_hours": True}
    assert queue_monthly_summary(settings, utc(2026, 3, 1, 6)) == 2
    db.session.commit()
    text = text_of(summaries()[data.f1.email]).replace("\r\n", "\n")
    # February, Mon-Fri 08:00-18:00 Paris: T2 closed after 10 working hours (Sunday 1 February 00:30 to
    # Tuesday 00:30, tests/test_stats.py); it was 48 h of clock time.
    assert "Temps moyen de résolution, MTTR (h) : 10.0 (délais en heures ouvrées)" in text
