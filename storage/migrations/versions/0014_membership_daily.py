"""membership_daily: joins, leaves and moves counted per local day, filled from the events

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 15:00:00
"""

import os
from collections import Counter
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    daily = op.create_table(
        'membership_daily',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('wijk', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'wijk', 'kind'),
    )
    # The counters start from every event there is, each under the city's local day. The
    # migration runs where the bot's settings are (python -m bot db upgrade, the bot's
    # start), so the city's zone is the one the bot counts in; Python converts, because
    # SQLite knows no time zones.
    tz = ZoneInfo(os.environ.get('BUURTBOT_TIMEZONE') or 'Europe/Amsterdam')
    events = sa.table(
        'membership_events', sa.column('at', storage.types.UTCDateTime()),
        sa.column('wijk', sa.String()), sa.column('kind', sa.String()),
    )
    counts: Counter[tuple[object, str, str]] = Counter()
    # Options for this statement only: on the connection they would stay and turn the
    # version row's UPDATE into a streamed one.
    result = op.get_bind().execute(
        sa.select(events.c.at, events.c.wijk, events.c.kind),
        execution_options={'yield_per': BATCH},
    )
    for at, wijk, kind in result:
        counts[(at.astimezone(tz).date(), wijk, kind)] += 1
    rows = [{'day': d, 'wijk': w, 'kind': k, 'count': n} for (d, w, k), n in sorted(counts.items())]
    for start in range(0, len(rows), BATCH):
        op.bulk_insert(daily, rows[start:start + BATCH])


def downgrade() -> None:
    op.drop_table('membership_daily')
