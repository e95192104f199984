"""The stats page: staff only, filters, charts, a table under each chart, CSV of every table."""
import csv
import io
import pytest

from helpdesk.extensions import db
from helpdesk.models import Category, Role
from helpdesk.stats import default_period
from tests.factories import make_organisation, make_referent, make_user, sign_in
from tests.stats_dataset import Dataset, opened_at, utc

PERIOD = {"start": "2026-01-01", "end": "2026-04-30"}


@pytest.fixture
def staff_client(app, client):
    sign_in(client, make_referent())
    db.session.commit()
    return client


@pytest.fixture
def data(app, monkeypatch):
    return Dataset(monkeypatch)


def make_category(name):
    category = Category(name=name)
    db.session.add(category)
    db.session.flush()
    return category


def read_csv(response):
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.mark.parametrize("path", ["/desk/stats/", "/desk/stats/overview.csv"])
def test_requesters_and_anonymous_are_kept_out(app, client, path):
    app.login_manager.login_view = None  # no sign-in page in this test app: anonymous gets 401
    assert client.get(path).status_code == 401
    requester = make_user(Role.REQUESTER)
    manager = make_user(Role.REQUESTER)
    manager.organisation, manager.is_org_manager = make_organisation(), True
    db.session.commit()
    for user in (requester, manager):
        other = app.test_client()
        sign_in(other, user)
        response = other.get(path)
        assert response.status_code == 403 and b"Statistiques" not in response.data


def test_admin_sees_the_page(app, client):
    sign_in(client, make_user(Role.ADMIN))
    db.session.commit()
    assert client.get("/desk/stats/").status_code == 200


def test_page_shows_charts_and_tables(data, staff_client):
    response = staff_client.get("/desk/stats/", query_string=PERIOD)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count("<svg") >= 8 and "<script" not in html
    for key in ("overview", "activity", "delays", "by_category", "by_asset", "recurring", "satisfaction_by_referent",
                "response_times", "contract_hours"):
        assert f'id="{key}"' in html and f"/desk/stats/{key}.csv?start=2026-01-01&amp;end=2026-04-30" in html
    assert "2026-02" in html and "Matériel" in html and "Claire Martin" in html


def test_monthly_table_csv(data, staff_client):
    rows = read_csv(staff_client.get("/desk/stats/activity.csv", query_string=PERIOD))
    assert rows[0] == ["Mois", "Ouverts", "Fermés", "Sans suite", "Rouverts", "En cours à la fin"]
    assert rows[1:] == [["2026-01", "1", "2", "0", "0", "1"], ["2026-02", "3", "1", "1", "1", "2"],
                        ["2026-03", "0", "1", "0", "0", "1"], ["2026-04", "1", "0", "0", "0", "2"]]


def test_overview_csv_in_hours(data, staff_client):
    rows = dict(read_csv(staff_client.get("/desk/stats/overview.csv", query_string=PERIOD))[1:])
    assert rows["Tickets ouverts"] == "5"
    assert rows["Temps moyen de résolution, MTTR (h)"] == "156.0"
    assert rows["Délai de prise en charge médian (h)"] == "1.25"  # (1 h + 1 h 30) / 2
    assert rows["Taux de réouverture (%)"] == "20.0"
    assert rows["Satisfaction moyenne (1 à 5)"] == ""  # no rating yet: empty, not zero


def test_organisation_filter_and_breakdown_csv(data, staff_client):
    query = dict(PERIOD, organisation=data.o2.id)
    rows = read_csv(staff_client.get("/desk/stats/by_category.csv", query_string=query))
    assert rows == [["Catégorie", "Tickets ouverts", "Part (%)"], ["Réseau", "2", "100.0"]]


def test_recurring_table_names_the_tickets(data, staff_client, app):
    # Period ending 15 February (Paris): the window ends at 15 Feb 23:00 UTC. Asset X holds T1 (10 Jan 09:00),
    # T2 (31 Jan 23:30) and T4 (15 Feb 08:00); 36 days back reach 10 Jan 23:00 (T1 out), 37 days 9 Jan 23:00.
    query = {"start": "2026-01-01", "end": "2026-02-15"}
    app.config["HELPDESK"]["stats_recurring_days"] = 36
    rows = read_csv(staff_client.get("/desk/stats/recurring.csv", query_string=query))
    assert rows == [["Type", "Nom", "Tickets", "Numéros"]]
    app.config["HELPDESK"]["stats_recurring_days"] = 37
    rows = read_csv(staff_client.get("/desk/stats/recurring.csv", query_string=query))
    numbers = f"#{data.t1.id} #{data.t2.id} #{data.t4.id}"
    assert sorted(rows[1:]) == [["Catégorie", "Matériel", "3", numbers], ["Matériel", "2024-09-02", "3", numbers]]
    html = staff_client.get("/desk/stats/", query_string=query).get_data(as_text=True)
    assert f"#{data.t4.id}" in html and "T4" in html


def test_csv_defuses_formulas_from_names(app, staff_client):
    hostile = make_user(display_name='=HYPERLINK("http://evil.example","x")')
    opened_at(hostile, utc(2026, 1, 5, 9), "=1+1")
    db.session.commit()
    rows = read_csv(staff_client.get("/desk/stats/by_requester.csv", query_string=PERIOD))
    assert rows[1][0] == "'=HYPERLINK(\"http://evil.example\",\"x\")"


@pytest.mark.parametrize("query, message", [
    ({"start": "2026-13-01"}, "Du"),
    ({"start": "2026-05-01", "end": "2026-01-01"}, "avant son début"),
    ({"start": "1990-01-01", "end": "2026-01-01"}, "trop longue"),
    ({"organisation": "abc"}, "Organisation inconnue"),
    ({"organisation": "999999"}, "Organisation inconnue"),
])
def test_bad_filters_show_an_error_and_the_default_period(staff_client, query, message):
    response = staff_client.get("/desk/stats/", query_string=query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in html and 'role="alert"' in html
    assert staff_client.get("/desk/stats/overview.csv", query_string=query).status_code == 400


def test_unknown_table_is_404(staff_client):
    assert staff_client.get("/desk/stats/nope.csv").status_code == 404


def test_default_period_is_the_last_twelve_months(staff_client):
    period = default_period("Europe/Paris")
    html = staff_client.get("/desk/stats/").get_data(as_text=True)
    assert f"start={period.start.isoformat()}&amp;end={period.end.isoformat()}" in html


def test_reports_are_reused_for_a_short_while(app, staff_client):
    def opened():
        rows = dict(read_csv(staff_client.get("/desk/stats/overview.csv", query_string=PERIOD))[1:])
        return rows["Tickets ouverts"]

    assert opened() == "0"
    opened_at(make_user(), utc(2026, 1, 5, 9), "Nouveau")
    db.session.commit()
    assert opened() == "0"  # the same filters within stats_cache_seconds: the same report
    app.config["HELPDESK"]["stats_cache_seconds"] = 0
    assert opened() == "1"


def test_long_tables_are_cut_on_the_page_not_in_the_csv(app, staff_client):
    for n in range(53):
        opened_at(make_user(display_name=f"Demandeur {n:02d}"), utc(2026, 1, 5, 9), f"Ticket {n}")
    db.session.commit()
    html = staff_client.get("/desk/stats/", query_string=PERIOD).get_data(as_text=True)
    assert "50 lignes sur 53" in html and "Demandeur 49" in html and "Demandeur 52" not in html
    assert len(read_csv(staff_client.get("/desk/stats/by_requester.csv", query_string=PERIOD))) == 54


def test_english_speaking_referent_gets_english_tables(app, client):
    sign_in(client, make_referent(language="en"))
    db.session.commit()
    html = client.get("/desk/stats/", query_string=PERIOD).get_data(as_text=True)
    assert "Statistics" in html and "Mean time to repair, MTTR (h)" in html
    rows = read_csv(client.get("/desk/stats/activity.csv", query_string=PERIOD))
    assert rows[0] == ["Month", "Open", "Closed", "No action", "Reopened", "Open at the end"]


def test_a_flag_lists_its_most_recent_tickets_on_the_page(app, staff_client):
    category = make_category("Imprimantes")
    for day in range(1, 13):
        opened_at(make_user(), utc(2026, 1, day, 9), f"Bourrage {day:02d}", category_id=category.id)
    db.session.commit()
    html = staff_client.get("/desk/stats/", query_string={"start": "2026-01-01", "end": "2026-01-20"}
                            ).get_data(as_text=True)
    assert "(les 10 plus récents)" in html and "Bourrage 12" in html and "Bourrage 03" in html
    assert "Bourrage 02" not in html
    rows = read_csv(staff_client.get("/desk/stats/recurring.csv", query_string={"start": "2026-01-01",
                                                                                 "end": "2026-01-20"}))
    assert rows[1][:3] == ["Catégorie", "Imprimantes", "12"] and len(rows[1][3].split()) == 12


def test_page_says_when_durations_are_business_hours(data, app, staff_client):
    html = staff_client.get("/desk/stats/", query_string=PERIOD).get_data(as_text=True)
    assert "Délais en heures d&#39;horloge." in html and "heures ouvrées" not in html
    app.config["HELPDESK"].update(stats_business_hours=True, stats_holidays=["2026-01-01"])
    html = staff_client.get("/desk/stats/", query_string=PERIOD).get_data(as_text=True)
    assert "<strong>Délais en heures ouvrées.</strong>" in html and "08:00–18:00" in html
    rows = dict(read_csv(staff_client.get("/desk/stats/overview.csv", query_string=PERIOD))[1:])
    # tests/test_stats.py::test_durations_in_business_hours: MTTR (43 + 2 + 10 + 100) / 4 = 38.75 h,
    # median time to take (0 + 0) / 2 = 0 h, against 156 h and 1.25 h in clock hours.
    assert rows["Temps moyen de résolution, MTTR (h)"] == "38.75" and rows["Délai de prise en charge médian (h)"] == "0.0"
    english = app.test_client()
    sign_in(english, make_referent(language="en"))
    db.session.commit()
    html = english.get("/desk/stats/", query_string=PERIOD).get_data(as_text=True)
    assert "Durations in business hours." in html and "08:00–18:00" in html
