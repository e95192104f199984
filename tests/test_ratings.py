"""Rating links: signed, single use, only for their ticket and closing; results per referent, category, month."""
import re
from datetime import date

import pytest
from itsdangerous import TimestampSigner

from helpdesk.extensions import db
from helpdesk.models import Rating
from helpdesk.ratings import (
    RatingRefused, check_rating_link, make_rating_token, rating_links, record_rating, satisfaction,
)
from helpdesk.stats import Period
from tests.stats_dataset import Dataset

SECRET = "test-secret-not-for-production"  # config/testing.toml


@pytest.fixture
def data(app, monkeypatch):
    return Dataset(monkeypatch)


def link_path(change, score=4):
    url = rating_links("http://127.0.0.1:5000", SECRET, change)[score]
    return url.removeprefix("http://127.0.0.1:5000")


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def post_rating(client, path, score, comment=""):
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(path.split("?")[0], data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                 "score": str(score), "comment": comment})


def test_links_name_the_ticket_and_each_score(data):
    change = data.closing(data.t1)
    links = rating_links("https://support.example/", SECRET, change)
    assert sorted(links) == [1, 2, 3, 4, 5]
    assert links[3].startswith(f"https://support.example/rate/{data.t1.id}/") and links[3].endswith("?score=3")


def test_opening_the_link_records_nothing_and_preselects_the_score(data, client):
    response = client.get(link_path(data.closing(data.t1), 4))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "T1" in html
    assert re.search(r'<input checked id="score-3" name="score" required type="radio" value="4">', html)
    assert db.session.query(Rating).count() == 0


def test_rating_works_once(data, client):
    change = data.closing(data.t1)
    response = post_rating(client, link_path(change), 5, "  Très rapide, merci !  ")
    assert response.status_code == 200 and "5 sur 5" in response.get_data(as_text=True)
    rating = db.session.query(Rating).one()
    assert (rating.ticket_id, rating.status_change_id, rating.score, rating.comment) == (
        data.t1.id, change.id, 5, "Très rapide, merci !")
    assert rating.referent_id == data.f1.id and rating.closed_at == change.created_at
    again = client.get(link_path(change, 2))
    assert again.status_code == 409 and "déjà été noté" in again.get_data(as_text=True)
    # A second post with a valid CSRF token is refused too, and changes nothing.
    page_token = csrf_token(client.get(link_path(data.closing(data.t2))).get_data(as_text=True))
    replay = client.post(link_path(change).split("?")[0], data={"csrf_token": page_token, "score": "1"})
    assert replay.status_code == 409
    assert [r.score for r in db.session.query(Rating)] == [5]


def test_link_of_another_ticket_is_refused(data, client):
    path = link_path(data.closing(data.t1))
    token = path.split("/")[3].split("?")[0]
    response = client.get(f"/rate/{data.t2.id}/{token}?score=5")
    assert response.status_code == 400 and "pas valide" in response.get_data(as_text=True)
    with pytest.raises(RatingRefused) as exc:
        check_rating_link(SECRET, data.t2.id, token, 30)
    assert exc.value.reason == RatingRefused.INVALID


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
    lambda t: "x" + t,  # payload changed
    lambda t: "not-a-token",
    lambda t: "",
])
def test_forged_links_are_refused(data, client, mangle):
    path = link_path(data.closing(data.t1))
    token = mangle(path.split("/")[3].split("?")[0])
    response = client.get(f"/rate/{data.t1.id}/{token}?score=5")
    assert response.status_code in (400, 404)  # an empty token does not even match the route
    assert db.session.query(Rating).count() == 0


def test_token_signed_with_another_secret_or_for_a_non_closing_is_refused(data):
    change = data.closing(data.t1)
    with pytest.raises(RatingRefused):
        check_rating_link(SECRET, data.t1.id, make_rating_token("another-secret", change), 30)
    taken = data.t1.status_changes[1]
    with pytest.raises(RatingRefused) as exc:
        check_rating_link(SECRET, data.t1.id, make_rating_token(SECRET, taken), 30)
    assert exc.value.reason == RatingRefused.INVALID


def test_expired_link_is_refused(data, client, monkeypatch):
    change = data.closing(data.t1)
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 31 * 86400)
    path = link_path(change)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    response = client.get(path)
    assert response.status_code == 410 and "expiré" in response.get_data(as_text=True)


@pytest.mark.parametrize("score", ["0", "6", "abc", "-1", "4.5"])
def test_bad_scores_are_refused(data, client, score):
    path = link_path(data.closing(data.t1)).split("?")[0]
    assert client.get(f"{path}?score={score}").status_code == 400
    token = csrf_token(client.get(path).get_data(as_text=True))
    response = client.post(path, data={"csrf_token": token, "score": score})
    assert response.status_code == 400
    assert db.session.query(Rating).count() == 0
    with pytest.raises(RatingRefused):
        record_rating(data.closing(data.t1), score)


def test_post_without_csrf_token_is_refused(data, client):
    path = link_path(data.closing(data.t1)).split("?")[0]
    assert client.post(path, data={"score": "5"}).status_code == 400
    assert db.session.query(Rating).count() == 0


def test_long_comment_is_refused_by_the_form(data, client):
    response = post_rating(client, link_path(data.closing(data.t1)), 3, "x" * 2001)
    assert response.status_code == 400 and db.session.query(Rating).count() == 0


def test_each_closing_of_a_reopened_ticket_has_its_own_link(data, client):
    first, last = data.closing(data.t4, 0), data.closing(data.t4, -1)
    assert post_rating(client, link_path(first), 2).status_code == 200
    assert post_rating(client, link_path(last), 4).status_code == 200
    assert sorted((r.status_change_id, r.score) for r in db.session.query(Rating)) == [(first.id, 2), (last.id, 4)]


def test_satisfaction_per_referent_category_and_month(data):
    # Closings: T1 12 Jan (Romain), T2 2 Feb (Romain), T4 16 Feb and 1 Mar (Romain), T7 5 Jan (Rachel).
    for change, score, comment in [(data.closing(data.t1), 5, "Parfait"), (data.closing(data.t2), 4, ""),
                                   (data.closing(data.t4, 0), 1, "Revenu le lendemain"),
                                   (data.closing(data.t4), 4, ""), (data.closing(data.t7), 3, "")]:
        record_rating(change, score, comment)
    db.session.commit()
    sat = satisfaction(Period(date(2026, 1, 1), date(2026, 4, 30), "Europe/Paris"))
    assert sat.overall.count == 5 and sat.overall.mean == pytest.approx(17 / 5)
    assert sat.overall.distribution == {1: 1, 2: 0, 3: 1, 4: 2, 5: 1}
    assert [(name, s.count, s.mean) for _, name, s in sat.by_referent] == [("Romain", 4, 3.5), ("Rachel", 1, 3)]
    assert [(name, s.count, s.mean) for _, name, s in sat.by_category] == [("Matériel", 4, 3.5), ("Réseau", 1, 3)]
    assert [(label, s.count, s.mean) for label, s in sat.by_bucket] == [
        ("2026-01", 2, 4), ("2026-02", 2, 2.5), ("2026-03", 1, 4), ("2026-04", 0, None)]
    assert [(c[0], c[1], c[2], c[3]) for c in sat.comments] == [
        (data.t4.id, 1, "Revenu le lendemain", date(2026, 2, 16)), (data.t1.id, 5, "Parfait", date(2026, 1, 12))]
    only_o2 = satisfaction(Period(date(2026, 1, 1), date(2026, 4, 30), "Europe/Paris"), data.o2.id)
    assert only_o2.overall.count == 0 and only_o2.overall.mean is None


def test_ratings_follow_their_ticket_category_and_organisation(data):
    """A rating counts under its ticket's category now (copied on the rating, moved on recategorising)."""
    from helpdesk.models import Priority
    from helpdesk.triage import update_fields

    for change, score in [(data.closing(data.t1), 5), (data.closing(data.t4, 0), 1), (data.closing(data.t7), 3)]:
        record_rating(change, score)
    db.session.commit()
    period = Period(date(2026, 1, 1), date(2026, 4, 30), "Europe/Paris")
    assert [(name, s.count) for _, name, s in satisfaction(period).by_category] == [("Matériel", 2), ("Réseau", 1)]
    update_fields(data.t4, category_id=data.cat_b.id, priority=Priority.NORMAL, location_id=None, asset_id=None)
    db.session.commit()
    assert sorted((r.ticket_id, r.category_id) for r in db.session.query(Rating)) == sorted(
        [(data.t1.id, data.cat_a.id), (data.t4.id, data.cat_b.id), (data.t7.id, data.cat_b.id)])
    sat = satisfaction(period)
    assert [(name, s.count, s.mean) for _, name, s in sat.by_category] == [("Réseau", 2, 2), ("Matériel", 1, 5)]
    update_fields(data.t4, category_id=None, priority=Priority.NORMAL, location_id=None, asset_id=None)
    db.session.commit()
    assert [(key, s.count) for key, _, s in satisfaction(period).by_category] == [  # no name sorts first
        (None, 1), (data.cat_a.id, 1), (data.cat_b.id, 1)]
    # T1, T4 and T7 are all in O1; T3 and T5 (O2) have no rating.
    assert satisfaction(period, data.o1.id).overall.count == 3
    assert satisfaction(period, data.o2.id).overall.count == 0


def test_the_closing_mail_carries_working_links_for_the_requester_only(app, client):
    from email import policy
    from email.parser import BytesParser

    from helpdesk import workflow
    from helpdesk.models import OutboundMail, Status
    from tests.factories import make_referent, make_ticket, make_user

    requester, holder, closer = make_user(), make_referent(), make_referent()
    ticket = make_ticket(Status.IN_PROGRESS, requester=requester, referent=holder)
    change = workflow.transition(ticket, Status.CLOSED, actor=closer)
    db.session.commit()
    mails = {row.recipient: BytesParser(policy=policy.default).parsebytes(row.raw)
             for row in db.session.query(OutboundMail).filter_by(ticket_id=ticket.id, event="status_changed")
             if "fermé" in row.subject}
    assert set(mails) == {requester.email, holder.email}
    text = mails[requester.email].get_body(("plain",)).get_content()
    links = re.findall(r"^(\d)/5 : (http://127\.0\.0\.1:5000/rate/\S+)", text, re.M)
    assert [score for score, _ in links] == ["1", "2", "3", "4", "5"]
    assert all(f'href="{url}"' in mails[requester.email].get_body(("html",)).get_content() for _, url in links)
    assert "/rate/" not in mails[holder.email].get_body(("plain",)).get_content()
    response = post_rating(client, links[3][1].removeprefix("http://127.0.0.1:5000"), 4)
    assert response.status_code == 200
    rating = db.session.query(Rating).one()
    assert (rating.status_change_id, rating.score, rating.referent_id) == (change.id, 4, holder.id)
