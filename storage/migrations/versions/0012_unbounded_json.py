"""answers and fields kept as JSON without a length limit (quotes and newlines grow in JSON)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 09:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.alter_column(
            'data', existing_type=sqlmodel.sql.sqltypes.AutoString(length=2000), type_=sa.Text()
        )
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.alter_column(
            'fields', existing_type=sqlmodel.sql.sqltypes.AutoString(length=4000), type_=sa.Text()
        )


def downgrade() -> None:
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.alter_column(
            'fields', existing_type=sa.Text(), type_=sqlmodel.sql.sqltypes.AutoString(length=4000)
        )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.alter_column(
            'data', existing_type=sa.Text(), type_=sqlmodel.sql.sqltypes.AutoString(length=2000)
        )
