"""stats: one (dimension, created_epoch) index per split of the stats page, so each GROUP BY reads an index alone

Revision ID: 0011_stats_dimension_indexes
Revises: 0010_stats_rating_category
Create Date: 2026-12-02 19:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011_stats_dimension_indexes'
down_revision = '0010_stats_rating_category'
branch_labels = None
depends_on = None

# A copy, not an import of helpdesk.models: a migration must keep meaning what it meant when written.
DIMENSION_COLUMNS = ('category_id', 'location_id', 'asset_id', 'organisation_id', 'requester_id', 'assignee_id')


def upgrade():
    for column in DIMENSION_COLUMNS:
        op.create_index(f'ix_tickets_{column}_created', 'tickets', [column, 'created_epoch'], unique=False)


def downgrade():
    for column in DIMENSION_COLUMNS:
        op.drop_index(f'ix_tickets_{column}_created', table_name='tickets')
