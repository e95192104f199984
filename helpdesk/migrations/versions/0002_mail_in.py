"""mail in: per-mailbox poller state and lease

Revision ID: 0002_mail_in
Revises: 0006_stats
Create Date: 2026-11-23 20:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_mail_in'
down_revision = '0006_stats'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mailbox_states',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('lease_owner', sa.String(length=200), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_pass_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_mailbox_states'))
    )


def downgrade():
    op.drop_table('mailbox_states')
