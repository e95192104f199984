"""outbox: claim token of the worker pass that holds a mail

Revision ID: 0003_outbox
Revises: 0004_portal
Create Date: 2026-11-23 19:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_outbox'
down_revision = '0004_portal'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbound_mails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbound_mails_claim_token'), ['claim_token'], unique=False)


def downgrade():
    with op.batch_alter_table('outbound_mails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_mails_claim_token'))
        batch_op.drop_column('claim_token')
