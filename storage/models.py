"""SQLModel tables. Every column here is something a feature needs; /privacy says why."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class UserBase(SQLModel):
    language: str | None = Field(default=None, max_length=16)
    active: bool = Field(default=True)
    # The resident's subscription: which wijk (and optionally buurt) they follow in this chat.
    wijk: str | None = Field(default=None, max_length=40)
    buurt: str | None = Field(default=None, max_length=40)
    subscribed: bool = Field(default=False)
    # Announcement kinds the resident wants, comma-separated (see bot.residents.KINDS).
    kinds: str = Field(default="witte_voetjes,buurttent,challenge,nieuws", max_length=200)
    # Quiet hours as minutes after local midnight; None means no quiet hours.
    quiet_start: int | None = Field(default=None, ge=0, lt=1440)
    quiet_end: int | None = Field(default=None, ge=0, lt=1440)
    # Also follows the wijk channel: announcements come there, only personal messages here.
    follows_channel: bool = Field(default=False)


class User(UserBase, table=True):
    """A person who wrote to the bot in private. Keyed by Telegram user id, nothing else kept."""

    __tablename__ = "users"
    __table_args__ = (Index("ix_users_wijk_subscribed", "wijk", "subscribed"),)

    # Telegram user ids exceed 2**31, so the column must be 64-bit on PostgreSQL.
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    blocked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    joined_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class MembershipEvent(SQLModel, table=True):
    """That someone joined, left or moved in a wijk, and when; never who.

    This is what the figures count after a resident has erased their data, so it
    holds no user id by design.
    """

    __tablename__ = "membership_events"
    # Figures count events per wijk and kind in a period; the index answers that alone.
    __table_args__ = (Index("ix_membership_events_at_wijk_kind", "at", "wijk", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))
    wijk: str = Field(max_length=40, index=True)
    kind: str = Field(max_length=16)  # joined | left | moved_out | moved_in


class MembershipDaily(SQLModel, table=True):
    """Joins, leaves and moves per local day, wijk and kind: what /stats counts.

    Kept in the transaction of every MembershipEvent (storage.residents.record_membership),
    so a year's figures read a few thousand counter rows whatever the number of residents,
    as report_daily does for reports. The events stay the record it can be rebuilt from.
    """

    __tablename__ = "membership_daily"

    day: date = Field(primary_key=True)  # the city's local calendar day
    wijk: str = Field(primary_key=True, max_length=40)
    kind: str = Field(primary_key=True, max_length=16)  # as MembershipEvent.kind
    count: int = Field(default=0, ge=0)


class RoleGrant(SQLModel, table=True):
    """A role someone holds, with its scope ("team:12", "park:bzob", "wijk:binnenstad")."""

    __tablename__ = "role_grants"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    role: str = Field(max_length=20)
    scope: str | None = Field(default=None, max_length=60)
    # How the coordinator recognises the person; taken from Telegram when the role is
    # accepted, kept only while the role is.
    name: str = Field(default="", max_length=64)
    granted_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    granted_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    revoked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    revoked_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Invite(SQLModel, table=True):
    """A deep-link code that grants a role with its scope, a limited number of times."""

    __tablename__ = "invites"

    code: str = Field(primary_key=True, max_length=32)
    role: str = Field(max_length=20)
    scope: str | None = Field(default=None, max_length=60)
    max_uses: int = Field(default=1, ge=1)
    uses: int = Field(default=0, ge=0)
    expires_at: datetime = Field(sa_column=_timestamp())
    created_by: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    revoked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class AuditEntry(SQLModel, table=True):
    """Who did what to whom, and when: grants, revokes, approvals, report views."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    action: str = Field(max_length=40)
    subject: str = Field(max_length=80)
    detail: str | None = Field(default=None, max_length=500)


class TeamStatus(StrEnum):
    """Where a buurtpreventieteam stands; the coordinator decides a pending one."""

    PENDING = "pending"  # registered by its contact, waiting for the coordinator
    APPROVED = "approved"  # active: gets broadcasts, counts in the figures
    PAUSED = "paused"  # its contact paused it; can be resumed
    REJECTED = "rejected"  # the coordinator said no
    DISSOLVED = "dissolved"  # ended by its contact


class GroupStatus(StrEnum):
    """Where a neighbourhood chat group stands."""

    NEW = "new"  # the bot was added, nobody registered the group yet
    PENDING = "pending"  # registered, waiting for the coordinator
    APPROVED = "approved"
    REJECTED = "rejected"
    PAUSED = "paused"
    INACTIVE = "inactive"  # the bot was removed


class ChannelStatus(StrEnum):
    """Where a wijk channel stands."""

    NEW = "new"  # the bot was made admin, not linked to a wijk yet
    ACTIVE = "active"
    INACTIVE = "inactive"  # the bot was removed or lost its right to post


class DeliveryStatus(StrEnum):
    """Where one recipient's copy stands in the outbox; only the delivery engine moves it."""

    QUEUED = "queued"  # waiting to be claimed
    SENDING = "sending"  # claimed by an engine until claim_expires_at
    SENT = "sent"
    FAILED = "failed"  # Telegram refused it, or rendering failed
    BLOCKED = "blocked"  # the resident blocked the bot
    GONE = "gone"  # the chat no longer exists (or migrated and is queued under its new id)


class Team(SQLModel, table=True):
    """A buurtpreventieteam: volunteers who walk rounds in their buurt."""

    __tablename__ = "teams"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80)
    wijk: str = Field(max_length=40, index=True)
    area: str = Field(default="", max_length=300)
    contact_user_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, index=True)
    )
    contact_info: str = Field(default="", max_length=200)
    status: str = Field(default=TeamStatus.PENDING, max_length=12, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    decided_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    decided_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_activity_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class Group(SQLModel, table=True):
    """A neighbourhood chat group the bot is a member of."""

    __tablename__ = "groups"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    title: str = Field(max_length=128)
    wijk: str | None = Field(default=None, max_length=40, index=True)
    team_id: int | None = Field(default=None, foreign_key="teams.id")
    status: str = Field(default=GroupStatus.NEW, max_length=12, index=True)
    registered_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    decided_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    decided_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_activity_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class Channel(SQLModel, table=True):
    """A wijk channel: the bot posts, followers read; the city never learns who follows."""

    __tablename__ = "channels"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    title: str = Field(max_length=128)
    wijk: str | None = Field(default=None, max_length=40, index=True)
    url: str | None = Field(default=None, max_length=200)
    status: str = Field(default=ChannelStatus.NEW, max_length=12)
    linked_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    linked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class Conversation(SQLModel, table=True):
    """Where a person is in a guided conversation that needs typed text (a team's name).

    Kept in the database so a restart in the middle loses nothing.
    """

    __tablename__ = "conversations"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    flow: str = Field(max_length=20)
    step: str = Field(max_length=20)
    # JSON of the answers so far: quotes, newlines and non-Latin text grow in JSON, so a
    # 2,000-character announcement would not fit a 2,000-character column (PostgreSQL
    # enforces it; SQLite never did), hence no limit. Each field is checked on its own.
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class BroadcastStatus(StrEnum):
    """Where a broadcast stands; bot.broadcasts moves it on, never backwards."""

    DRAFT = "draft"  # composed, not yet sent or planned
    SCHEDULED = "scheduled"  # planned for send_at (a job waits for it)
    SENDING = "sending"  # handed to the delivery engine
    SENT = "sent"  # every recipient done
    CANCELLED = "cancelled"  # dropped before it went out


class Broadcast(SQLModel, table=True):
    """An announcement: its kind, the coordinator's fields, the audience, when to send."""

    __tablename__ = "broadcasts"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # witte_voetjes | buurttent | challenge | nieuws | update
    # draft | scheduled | sending | sent | cancelled
    status: str = Field(default=BroadcastStatus.DRAFT, max_length=12, index=True)
    author_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # The coordinator's own fields (date, place, note, ...) as JSON; rendered per language.
    # As JSON, which escapes quotes and newlines: no limit (each field has its own).
    fields: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    photo_file_id: str | None = Field(default=None, max_length=200)
    # {"all": true} or {"wijken": [...], "teams": [...], "groups": [...], "parks": [...]}
    audience: str = Field(default="{}", max_length=2000)
    send_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True, index=True))
    repeat_weekly: bool = Field(default=False)
    # Indexed: the figures of a period start from the broadcasts sent in it.
    started_at: datetime | None = Field(
        default=None, sa_column=_timestamp(nullable=True, index=True)
    )
    finished_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # Where the coordinator watches progress ("3.120 van 10.200 verzonden").
    progress_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    progress_message_id: int | None = Field(default=None)
    # An update (cancelled, moved) points at the announcement it is about.
    update_of: int | None = Field(default=None, foreign_key="broadcasts.id")
    # Bumped on every edit, so two coordinators editing at once cannot overwrite each other.
    version: int = Field(default=1)
    # A sent BuurtTent called off: final. No reminder, its buttons answer "gaat niet door".
    called_off_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class Delivery(SQLModel, table=True):
    """One recipient of one broadcast: the durable outbox the delivery engine works from."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "chat_id", name="uq_deliveries_broadcast_chat"),
        # The claim: queued rows in id order, read off the index from the first queued one.
        # (status, broadcast_id) made SQLite walk every row ever sent by rowid and
        # PostgreSQL sort the whole queue: linear in the outbox (bench/growth.py).
        Index("ix_deliveries_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcasts.id")
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    recipient: str = Field(max_length=8)  # user | group | channel
    language: str | None = Field(default=None, max_length=16)
    status: str = Field(default=DeliveryStatus.QUEUED, max_length=8)
    attempts: int = Field(default=0)
    message_id: int | None = Field(default=None)
    error: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # Held back until then: the end of the resident's quiet hours.
    not_before: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # Which delivery engine claimed the row ("sending") and until when the claim holds: only
    # a claim that expired, or one of an engine known to be gone, is taken back by another.
    claimed_by: str | None = Field(default=None, max_length=64)
    claim_expires_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # A notice (bot.notices) is rendered per recipient when it is queued: this row carries
    # its own message (JSON) until it is settled, then the text is erased.
    content: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Reply(SQLModel, table=True):
    """A tap under an announcement ("ik doe mee"): one per person and choice, changeable."""

    __tablename__ = "replies"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "user_id", "choice", name="uq_replies_once"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcasts.id", index=True)
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    choice: str = Field(max_length=12)  # join | come | remind | team
    at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class ActionResult(SQLModel, table=True):
    """What a Witte Voetjes evening found: homes that got footprints, told by the team."""

    __tablename__ = "action_results"
    __table_args__ = (UniqueConstraint("broadcast_id", "team_id", name="uq_action_results_once"),)

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcasts.id", index=True)
    team_id: int = Field(foreign_key="teams.id")
    homes: int = Field(ge=0)
    recorded_by: int = Field(sa_column=Column(BigInteger, nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class ReportStatus(StrEnum):
    """Where a Meld een Vermoeden report stands; the reporter is told each change."""

    RECEIVED = "received"
    IN_PROGRESS = "in_behandeling"
    PASSED_ON = "doorgezet"  # to the police or a partner
    CLOSED = "afgehandeld"


class Report(SQLModel, table=True):
    """A Meld een Vermoeden report: a signal from an entrepreneur, never an emergency call.

    An anonymous report keeps `reporter_id` empty: nothing in this row, the coordinator's
    view or an export can lead back to who sent it. Rows are erased by the retention job
    a set time after they are closed; `report_daily` keeps the counts.
    """

    __tablename__ = "reports"
    __table_args__ = (
        # The hotspot check: reports of one category in one area within a window.
        Index("ix_reports_category_area_created", "category", "area", "created_at"),
        # Never give an erased report's number to a new one: SQLite would reuse the
        # highest rowid otherwise (PostgreSQL's sequence never does).
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    # Shown to the reporter and the coordinator: "MV-2026-000123".
    ref: str = Field(max_length=20, unique=True)
    # When it was filed, to the hour: the figures and the hotspot window need no more,
    # and a finer time would let a role grant or any other timestamp pin a person to it.
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))
    # When it happened, as well as the reporter could say.
    occurred_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    category: str = Field(max_length=24)
    # What the counts are per: "park:<slug>" or "wijk:<slug>".
    area: str = Field(max_length=48)
    # The wijk it lies in (a park may lie between wijken): a wijkboa's figures.
    wijk: str | None = Field(default=None, max_length=40, index=True)
    street: str | None = Field(default=None, max_length=120)
    latitude: float | None = Field(default=None)
    longitude: float | None = Field(default=None)
    description: str = Field(default="", max_length=1000)
    anonymous: bool = Field(default=False)
    # Empty for an anonymous report, by design.
    reporter_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, index=True)
    )
    # received | in_behandeling | doorgezet | afgehandeld
    status: str = Field(default=ReportStatus.RECEIVED, max_length=16, index=True)
    status_note: str | None = Field(default=None, max_length=300)
    status_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    closed_at: datetime | None = Field(
        default=None, sa_column=_timestamp(nullable=True, index=True)
    )
    # Telegram file ids of the reporter's photos, space-separated; erased with the row.
    photos: str = Field(default="", max_length=400)


class ReportDaily(SQLModel, table=True):
    """Reports per local day, area and category: kept when the reports themselves are erased.

    Maintained on every new report (one upsert), so digests and figures read a few
    thousand counter rows instead of scanning a million reports.
    """

    __tablename__ = "report_daily"

    day: date = Field(primary_key=True)  # the city's local calendar day
    area: str = Field(primary_key=True, max_length=48)
    category: str = Field(primary_key=True, max_length=24)
    wijk: str | None = Field(default=None, max_length=40, index=True)
    count: int = Field(default=0, ge=0)


class ReportFollowUp(SQLModel, table=True):
    """How to tell an anonymous reporter about their report, readable only with the key.

    Keyed by a label (HMAC of the report's reference under the key, bot.keys), the chat
    id sealed with AES-GCM bound to that label, the status token only as its hash.
    Without the key a row names nobody and cannot be matched to its report: the key is
    random, and the table has no rowid (SQLite) and is re-clustered on it after each
    insert (PostgreSQL), so neither storage order nor any column follows the reports.
    Erased with the report by the retention job.
    """

    __tablename__ = "report_followups"
    __table_args__ = {"sqlite_with_rowid": False}

    label: str = Field(primary_key=True, max_length=64)
    # sha256 of the token, or "v1:" + the HMAC of a follow-up from before sealing.
    token_hash: str = Field(max_length=67)
    sealed: str = Field(max_length=64)


class LegacyFollowUp(SQLModel, table=True):
    """Follow-ups made before they were sealed (XOR-padded chat ids).

    Emptied once at start by bot.reports.settle_keys, which seals each row anew and
    erases the key the old scheme kept in bot_state. Kept as a table only so a database
    from before that change can be upgraded; a later release drops it.
    """

    __tablename__ = "report_followups_legacy"

    ref_hash: str = Field(primary_key=True, max_length=64)
    token_hash: str = Field(max_length=64)
    chat_cipher: str = Field(max_length=32)


class ReportDraft(SQLModel, table=True):
    """A report being written, under a pseudonym of its writer and sealed.

    The owner is a label of the user id under the key, so neither this row nor its old
    versions (SQLite's WAL, PostgreSQL's dead tuples) say who was writing a report,
    and the content (category, place, description) is ciphertext. Dropped when the
    report is filed, stopped, or left for a day.
    """

    __tablename__ = "report_drafts"
    __table_args__ = {"sqlite_with_rowid": False}

    owner: str = Field(primary_key=True, max_length=64)
    # JSON of the draft and its step, sealed; a long description with quotes and
    # newlines grows in JSON and again in base64, hence no length limit.
    sealed: str = Field(sa_column=Column(Text, nullable=False))
    # To the hour: enough to drop stale drafts, too coarse to pin anyone to a report.
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))


class BotState(SQLModel, table=True):
    """Small switches and values the bot keeps for itself (key -> text).

    "reports.residents": whether residents may report too (the coordinator's button).
    Keys never live here: an old "secret" row is moved out and erased at start.
    """

    __tablename__ = "bot_state"

    key: str = Field(primary_key=True, max_length=40)
    value: str = Field(default="", max_length=200)


class BroadcastFigures(SQLModel, table=True):
    """A finished broadcast's outcome per wijk, counted once from its deliveries.

    A year's figures then read a few thousand of these rows instead of every delivery;
    a broadcast still being sent (or waiting out quiet hours) is counted live instead.
    """

    __tablename__ = "broadcast_figures"

    broadcast_id: int = Field(foreign_key="broadcasts.id", primary_key=True)
    # The recipient's wijk when it was counted; "" for recipients without one.
    wijk: str = Field(primary_key=True, max_length=40)
    delivered: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)


class DigestRun(SQLModel, table=True):
    """That the weekly digest of a week went out: a restart neither doubles nor loses it."""

    __tablename__ = "digest_runs"

    period: str = Field(primary_key=True, max_length=16)  # "2026-W48"
    at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class StateSnapshot(SQLModel, table=True):
    """Teams and groups per wijk and state as they stood at the start of a local day.

    Their status columns only say how things stand now; these daily rows let the figures
    of a past period show how they stood then, and the change against the period before.
    """

    __tablename__ = "state_snapshots"

    day: date = Field(primary_key=True)
    wijk: str = Field(primary_key=True, max_length=40)
    state: str = Field(primary_key=True, max_length=20)  # "teams_active", "groups_dormant", ...
    count: int = Field(default=0, ge=0)


class InboxStatus(StrEnum):
    PENDING = "pending"  # stored, its handler has not finished yet
    DONE = "done"  # handled; only the update_id is left, to recognise a replay
    DEAD = "dead"  # its handler kept failing; only the error's name is left


class InboxUpdate(SQLModel, table=True):
    """An update from Telegram, stored before Telegram is told it arrived (bot.inbox).

    The payload (the update's JSON, with whatever the resident typed) lives only while
    the update waits or is being handled; done and dead rows keep no text at all.
    """

    __tablename__ = "inbox"
    # Recovery at start reads the pending rows in order; pruning reads finished ones by age.
    __table_args__ = (Index("ix_inbox_status_update_id", "status", "update_id"),)

    # Telegram's update_id: unique per bot, so a second copy of an update is recognised.
    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    status: str = Field(default=InboxStatus.PENDING, max_length=8)
    payload: str | None = Field(default=None)
    attempts: int = Field(default=0, ge=0)
    # The exception's class name (or a KeyedError's key) of the last failure; never its text.
    error: str | None = Field(default=None, max_length=120)
    received_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    finished_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
