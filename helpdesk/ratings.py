"""Satisfaction: signed single-use rating links for the closing mail, and the results.

The closing mail carries five links, one per score. A link names the ticket and its closing
(the StatusChange to closed) and is signed with the secret key; it expires after a number of days
from settings. A rating is keyed by that closing, so a link works once; a ticket reopened and
closed again gets a new closing and so a new link.

Opening a link never records anything by itself: mail link scanners (Safe Links and the like) open
every link of a mail, and would rate every closed ticket. The link opens a page with the chosen
score already selected and an optional comment; one button records it.
"""
from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from .database import plain_columns
from .extensions import db
from .models import SCORE_MAX, SCORE_MIN, Rating, Status, StatusChange, Ticket
from .sqltime import epoch_seconds

if TYPE_CHECKING:
    from .stats import Period

SALT = "helpdesk.rating"
COMMENT_MAX = 2000
SCORES = tuple(range(SCORE_MIN, SCORE_MAX + 1))


class RatingRefused(Exception):
    """A rating link or form that cannot be used; `reason` is one of the codes below."""

    INVALID = "invalid"  # forged, damaged, or not for this ticket
    EXPIRED = "expired"
    USED = "used"
    BAD_SCORE = "bad_score"

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        super().__init__(f"rating refused ({reason}){': ' + detail if detail else ''}")


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def make_rating_token(secret: str, change: StatusChange) -> str:
    """The signed token naming one closing of one ticket."""
    return _serializer(secret).dumps([change.ticket_id, change.id])


def rating_links(base_url: str, secret: str, change: StatusChange) -> dict[int, str]:
    """Score -> absolute URL of the rating page for that closing (for the closing mail)."""
    token = make_rating_token(secret, change)
    root = base_url.rstrip("/")
    return {score: f"{root}/rate/{change.ticket_id}/{token}?score={score}" for score in SCORES}


def parse_score(value) -> int:
    """An int score in 1..5, or RatingRefused(BAD_SCORE)."""
    try:
        score = int(str(value).strip())
    except (TypeError, ValueError):
        raise RatingRefused(RatingRefused.BAD_SCORE, f"not a number: {value!r}") from None
    if score not in SCORES:
        raise RatingRefused(RatingRefused.BAD_SCORE, f"out of range: {score}")
    return score


def check_rating_link(secret: str, ticket_id: int, token: str, max_age_days: int) -> StatusChange:
    """The closing a link is for, or RatingRefused: forged, for another ticket, expired, or already used."""
    try:
        payload = _serializer(secret).loads(token, max_age=max_age_days * 86400)
    except SignatureExpired:
        raise RatingRefused(RatingRefused.EXPIRED) from None
    except BadSignature:
        raise RatingRefused(RatingRefused.INVALID, "bad signature") from None
    if (not isinstance(payload, list) or len(payload) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in payload)):
        raise RatingRefused(RatingRefused.INVALID, "bad payload")
    signed_ticket, change_id = payload
    if signed_ticket != ticket_id:
        raise RatingRefused(RatingRefused.INVALID, "link is for another ticket")
    change = db.session.get(StatusChange, change_id)
    if change is None or change.ticket_id != ticket_id or change.to_status != Status.CLOSED:
        raise RatingRefused(RatingRefused.INVALID, "no such closing")
    if db.session.execute(select(Rating.id).where(Rating.status_change_id == change.id)).first():
        raise RatingRefused(RatingRefused.USED)
    return change


def record_rating(change: StatusChange, score: int, comment: str = "") -> Rating:
    """Store the rating of one closing (the caller checked the link); flushes, the boundary commits."""
    score = parse_score(score)
    if db.session.execute(select(Rating.id).where(Rating.status_change_id == change.id)).first():
        raise RatingRefused(RatingRefused.USED)
    rating = Rating(
        ticket_id=change.ticket_id, status_change_id=change.id, score=score,
        comment=(comment or "").strip()[:COMMENT_MAX],
        referent_id=change.ticket.assignee_id or change.actor_id, closed_at=change.created_at,
    )
    db.session.add(rating)
    db.session.flush()
    return rating


@dataclass
class ScoreSummary:
    """Count, mean and distribution (score -> count) of a set of ratings."""

    count: int
    mean: float | None
    distribution: dict[int, int]

    @classmethod
    def of(cls, scores: list[int]) -> "ScoreSummary":
        return cls(len(scores), statistics.fmean(scores) if scores else None,
                   {s: scores.count(s) for s in SCORES})


@dataclass
class Satisfaction:
    overall: ScoreSummary
    by_referent: list[tuple[int | None, str, ScoreSummary]]
    by_category: list[tuple[int | None, str, ScoreSummary]]
    by_bucket: list[tuple[str, ScoreSummary]]
    comments: list[tuple[int, int, str, date]]  # (ticket id, score, comment, closing day), newest first


def satisfaction(period: Period, organisation_id: int | None = None, comments_limit: int = 20) -> Satisfaction:
    """Ratings of the closings that happened in the period, overall and per referent, category and month."""
    # Here, not at the top: the closing mail's links need this module, and the mail poller would
    # import the stats (and numpy, ~0.1 s) for them.
    from .stats import name_key, names_for

    where = [Rating.closed_at >= period.start_utc, Rating.closed_at < period.end_utc]
    if organisation_id is not None:  # only then are the tickets read: ratings carry their category
        where.append(Rating.ticket_id.in_(select(Ticket.id).where(Ticket.organisation_id == organisation_id)))
    # One fetch of the period's ratings, grouped here: three GROUP BY queries cost several times more.
    # As columns (database.plain_columns): thousands of row tuples alive at once cost garbage collections.
    closings, referents, categories, scores = plain_columns(db.session.connection(), select(
        epoch_seconds(Rating.closed_at), Rating.referent_id, Rating.category_id, Rating.score,
    ).where(*where), 4)
    starts = period.bucket_bounds()
    by_bucket: dict = defaultdict(list)
    by_referent: dict = defaultdict(list)
    by_category: dict = defaultdict(list)
    for closed, referent, category, score in zip(closings, referents, categories, scores):
        by_bucket[bisect_right(starts, closed) - 1].append(score)
        by_referent[referent].append(score)
        by_category[category].append(score)

    def named(dimension, groups):
        names = names_for(dimension, groups)
        result = [(key, names.get(key, ""), ScoreSummary.of(scores)) for key, scores in groups.items()]
        return sorted(result, key=lambda r: (-r[2].count, name_key(r[1]), r[0] or 0))

    labels = [period.bucket_label(d) for d in period.bucket_starts()]
    comments = db.session.execute(
        select(Rating.ticket_id, Rating.score, Rating.comment, Rating.closed_at).where(*where, Rating.comment != "")
        .order_by(Rating.closed_at.desc(), Rating.id.desc()).limit(comments_limit)
    ).all()
    return Satisfaction(
        overall=ScoreSummary.of(scores),
        by_referent=named("referent", by_referent),
        by_category=named("category", by_category),
        by_bucket=[(label, ScoreSummary.of(by_bucket.get(i, []))) for i, label in enumerate(labels)],
        comments=[(t, score, text, closed_at.astimezone(period.zone).date())
                  for t, score, text, closed_at in comments],
    )
