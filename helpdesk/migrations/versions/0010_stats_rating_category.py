"""stats: ratings.category_id, the rated ticket's category (backfilled), so satisfaction reads no tickets

Revision ID: 0010_stats_rating_category
Revises: 0009_stats_epoch_columns
Create Date: 2026-12-02 00:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_stats_rating_category'
down_revision = '0009_stats_epoch_columns'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_ratings_category_id_categories'), 'categories',
                                    ['category_id'], ['id'])
    op.execute(sa.text('UPDATE ratings SET category_id = '
                       '(SELECT tickets.category_id FROM tickets WHERE tickets.id = ratings.ticket_id)'))


def downgrade():
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_ratings_category_id_categories'), type_='foreignkey')
        batch_op.drop_column('category_id')
