"""Satisfaction: one rating per closing of a ticket, given through the signed link of the closing mail."""
from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Integer, SmallInteger, Text, event, inspect, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow
from .tickets import Ticket

SCORE_MIN = 1
SCORE_MAX = 5


class Rating(db.Model):
    """A requester's 1-5 score (and optional comment) for one closing of a ticket.

    Keyed by the closing StatusChange, so a link is single use and a ticket reopened then closed
    again can be rated again for its new closing.
    """

    __tablename__ = "ratings"
    __table_args__ = (CheckConstraint(f"score BETWEEN {SCORE_MIN} AND {SCORE_MAX}", name="score_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    status_change_id: Mapped[int] = mapped_column(
        ForeignKey("status_changes.id", ondelete="CASCADE"), unique=True
    )
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")
    # Who closed the ticket (the assignee at that moment): results per referent do not move on handover.
    referent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # When the ticket was closed: results per month follow the work, not the requester's delay.
    closed_at = mapped_column(UTCDateTime, nullable=False, index=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # The ticket's category now (not at the closing), copied so the stats read no tickets; the events
    # below keep it in step with tickets.category_id.
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))

    ticket = relationship("Ticket")
    referent = relationship("User")


@event.listens_for(Rating, "before_insert")
def _copy_ticket_category(mapper, connection, rating: Rating) -> None:
    rating.category_id = connection.execute(
        select(Ticket.category_id).where(Ticket.id == rating.ticket_id)).scalar_one_or_none()


@event.listens_for(Ticket, "before_update")
def _move_ratings_with_category(mapper, connection, ticket: Ticket) -> None:
    if inspect(ticket).attrs.category_id.history.has_changes():
        connection.execute(update(Rating).where(Rating.ticket_id == ticket.id).values(category_id=ticket.category_id))
