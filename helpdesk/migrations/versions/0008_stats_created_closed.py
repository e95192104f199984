"""stats: index tickets (created_at, closed_at) for the backlog at a period's start and the recurring window

Revision ID: 0008_stats_created_closed
Revises: 0007_stats_reopen_gaps
Create Date: 2026-12-01 20:50:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008_stats_created_closed'
down_revision = '0007_stats_reopen_gaps'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_created_at_closed_at', ['created_at', 'closed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_created_at_closed_at')
