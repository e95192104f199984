"""stats: status_changes.ended_at, the ending a reopening undid (backfilled from the history)

Revision ID: 0007_stats_reopen_gaps
Revises: 0003_outbox
Create Date: 2026-12-01 20:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_stats_reopen_gaps'
down_revision = '0003_outbox'
branch_labels = None
depends_on = None

# A reopening is a move from an ended status to an open one; the ending it undid is the ticket's
# move just before it (workflow.transition() allows nothing else out of an ended status).
BACKFILL = """
UPDATE status_changes SET ended_at = (
    SELECT previous.created_at FROM status_changes AS previous
    WHERE previous.ticket_id = status_changes.ticket_id AND previous.id < status_changes.id
    ORDER BY previous.id DESC LIMIT 1
)
WHERE from_status IN ('closed', 'no_action') AND to_status IN ('new', 'taken', 'in_progress')
"""


def upgrade():
    with op.batch_alter_table('status_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_status_changes_ended_at'), ['ended_at'], unique=False)
    op.execute(sa.text(BACKFILL))


def downgrade():
    with op.batch_alter_table('status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_status_changes_ended_at'))
        batch_op.drop_column('ended_at')
