"""stats: tickets.created_epoch, taken_epoch and closed_epoch, the timestamps as whole epoch seconds (backfilled)

Revision ID: 0009_stats_epoch_columns
Revises: 0008_stats_created_closed
Create Date: 2026-12-01 23:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_stats_epoch_columns'
down_revision = '0008_stats_created_closed'
branch_labels = None
depends_on = None

COLUMNS = {'created_at': 'created_epoch', 'taken_at': 'taken_epoch', 'closed_at': 'closed_epoch'}


def _epoch_sql(dialect: str, column: str) -> str:
    """Whole seconds since 1970, floored, as helpdesk.models.base.epoch_seconds_of() gives them."""
    if dialect == 'sqlite':
        # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC: dropping the fraction as text is an exact floor
        # (julianday() arithmetic is not exact to the microsecond).
        return f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER)"
    return f"CAST(FLOOR(date_part('epoch', {column})) AS BIGINT)"


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for epoch in COLUMNS.values():
            batch_op.add_column(sa.Column(epoch, sa.BigInteger(), nullable=True))
    dialect = op.get_bind().dialect.name
    op.execute(sa.text('UPDATE tickets SET ' + ', '.join(
        f'{epoch} = {_epoch_sql(dialect, stamp)}' for stamp, epoch in COLUMNS.items())))


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for epoch in COLUMNS.values():
            batch_op.drop_column(epoch)
