"""deliveries indexed on (status, id): the claim reads the queue in order, whatever was sent before

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 11:50:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nothing else filters on (status, broadcast_id) first: the per-broadcast queries start
    # from uq_deliveries_broadcast_chat.
    op.drop_index('ix_deliveries_status_broadcast', table_name='deliveries')
    op.create_index('ix_deliveries_status_id', 'deliveries', ['status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_deliveries_status_id', table_name='deliveries')
    op.create_index(
        'ix_deliveries_status_broadcast', 'deliveries', ['status', 'broadcast_id'], unique=False
    )
