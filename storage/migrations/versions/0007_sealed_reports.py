"""anonymous reports sealed: follow-ups and drafts under the key, report numbers never reused

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:30:00

The old follow-ups (XOR-padded chat ids) cannot be sealed here: that needs the key,
which Alembic does not hold. They move to report_followups_legacy, and the bot seals
them anew at its next start (bot.reports.settle_keys), then erases the key an older
version kept in bot_state.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.rename_table('report_followups', 'report_followups_legacy')
    if not sqlite:
        op.execute(
            "ALTER TABLE report_followups_legacy "
            "RENAME CONSTRAINT report_followups_pkey TO report_followups_legacy_pkey"
        )
    op.create_table('report_followups',
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=67), nullable=False),
    sa.Column('sealed', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('label'),
    sqlite_with_rowid=False,
    )
    op.create_table('report_drafts',
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('owner'),
    sqlite_with_rowid=False,
    )
    with op.batch_alter_table('report_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_drafts_updated_at'), ['updated_at'], unique=False)
    # Report drafts lived among the other conversations, under the plain user id.
    op.execute("DELETE FROM conversations WHERE flow = 'mv'")
    if sqlite:
        # AUTOINCREMENT: an erased report's number is never given to a new one.
        with op.batch_alter_table(
            'reports', recreate='always', table_kwargs={'sqlite_autoincrement': True}
        ) as batch_op:
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table('reports', recreate='always') as batch_op:
            pass
    with op.batch_alter_table('report_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_drafts_updated_at'))
    op.drop_table('report_drafts')
    # Sealed follow-ups cannot be turned back into the old form without the key.
    op.drop_table('report_followups')
    if op.get_bind().dialect.name != "sqlite":
        op.execute(
            "ALTER TABLE report_followups_legacy "
            "RENAME CONSTRAINT report_followups_legacy_pkey TO report_followups_pkey"
        )
    op.rename_table('report_followups_legacy', 'report_followups')
