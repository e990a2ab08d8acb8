"""Meld een Vermoeden without Telegram: the anonymity scheme, answers, counts, quotas."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from bot import reports
from bot.areas import load_areas
from bot.categories import load_categories
from bot.i18n import Translator
from bot.keys import Keyring, SealError
from bot.ratelimit import SlidingWindow
from bot.reports import Draft, Recipient, ReportError
from bot.services import Services
from bot.settings import ConfigError, Settings, load_settings
from storage import reports as store
from storage.engine import SessionFactory
from storage.models import Report, utcnow
from storage.reports import DigestCount, FollowUpRow

KEY = Keyring.from_secret("k" * 32)
OTHER = Keyring.from_secret("x" * 32)


def services_for(settings: Settings, sessions: SessionFactory | None = None) -> Services:
    return Services(
        settings=settings,
        translator=Translator(default_language="nl", timezone=settings.tz),
        areas=load_areas(),
        categories=load_categories(),
        _sessions=sessions,
    )


def test_a_follow_up_row_names_nobody_without_the_key() -> None:
    row = reports.follow_up_row(KEY, "MV-2026-000001", "ab" * 16, 123456789)
    assert "123456789" not in repr(row)
    assert reports.chat_of(KEY, row) == 123456789
    # Another key cannot open it, nor can the sealed chat id be moved to another row.
    with pytest.raises(SealError):
        reports.chat_of(OTHER, row)
    moved = FollowUpRow(KEY.label("followup", "MV-2026-000002"), row.token_hash, row.sealed)
    with pytest.raises(SealError):
        reports.chat_of(KEY, moved)
    # Altered by one character: refused, not read as another chat.
    flipped = row.sealed[:20] + ("A" if row.sealed[20] != "A" else "B") + row.sealed[21:]
    with pytest.raises(SealError):
        reports.chat_of(KEY, FollowUpRow(row.label, row.token_hash, flipped))
    assert row.label == KEY.label("followup", "MV-2026-000001")
    assert row.label != OTHER.label("followup", "MV-2026-000001")
    assert reports.token_matches(KEY, "ab" * 16, row.token_hash)
    assert not reports.token_matches(KEY, "ac" * 16, row.token_hash)
    # Sealing twice gives two different ciphertexts: equal chats do not show as equal.
    again = reports.follow_up_row(KEY, "MV-2026-000001", "ab" * 16, 123456789)
    assert again.sealed != row.sealed


def test_a_draft_resumes_at_its_first_open_question() -> None:
    draft = Draft()
    steps = []
    for change in (
        {"category": "drugs"},
        {"area": "park:bzob"},
        {"occurred_at": utcnow().isoformat()},
        {"description": "Iemand deelt zakjes uit."},
        {"photos_done": True},
        {"anonymous": False},
    ):
        steps.append(draft.next_step)
        draft = Draft.load(draft.dump() | change | {"unknown": 1})
    steps.append(draft.next_step)
    assert steps == ["what", "where", "when", "describe", "photos", "anonymous", "summary"]
    assert Draft.load(draft.dump()) == draft


@pytest.mark.parametrize(
    ("text", "today_only", "key"),
    [
        ("31-02 10:00", False, "Dat moment kan ik niet lezen. Schrijf het zo: {example}."),
        ("24-11 10:00", True, "Die tijd kan ik niet lezen. Schrijf hem zo: {example}."),
        ("nu", True, "Die tijd kan ik niet lezen. Schrijf hem zo: {example}."),
    ],
)
def test_unreadable_moments_are_refused_with_a_key(text: str, today_only: bool, key: str) -> None:
    services = services_for(load_settings({}))
    with pytest.raises(ReportError) as refused:
        reports.parse_moment(services, Draft(), text, today_only=today_only)
    assert refused.value.key == key


@pytest.mark.parametrize(
    ("local", "clock", "moment"),
    [
        # 07:25: "14:30" would be refused as not past yet; an hour back, on the half hour.
        (datetime(2026, 12, 1, 7, 25), "06:00", "30-11 14:30"),
        (datetime(2026, 12, 1, 19, 45), "18:30", "30-11 14:30"),
        (datetime(2026, 12, 1, 0, 20), "00:00", "30-11 14:30"),  # never yesterday
        (datetime(2027, 1, 1, 9, 0), "08:00", "31-12 14:30"),
    ],
)
def test_the_examples_of_a_moment_are_already_past(
    local: datetime, clock: str, moment: str
) -> None:
    services = services_for(load_settings({}))
    now = local.replace(tzinfo=services.settings.tz)
    assert reports.moment_examples(services, now) == (clock, moment)


def test_a_moment_is_stored_in_utc() -> None:
    services = services_for(load_settings({}))
    draft = Draft()
    reports.parse_moment(services, draft, "00:00", today_only=True)
    assert draft.occurred_at is not None
    moment = datetime.fromisoformat(draft.occurred_at)
    assert moment.utcoffset() == timedelta(0)
    assert moment.astimezone(services.settings.tz).strftime("%H:%M") == "00:00"


def test_descriptions_streets_and_photos_have_limits() -> None:
    draft = Draft()
    for bad in ("", "   ", "?!", "a" * (reports.MAX_DESCRIPTION + 1)):
        with pytest.raises(ReportError):
            reports.set_description(draft, bad)
    reports.set_description(draft, "  Bus rijdt rondjes  ")
    assert draft.description == "Bus rijdt rondjes"
    with pytest.raises(ReportError):
        reports.set_street(draft, "   ")
    with pytest.raises(ReportError) as long_street:
        reports.set_street(draft, "x" * (reports.MAX_STREET + 1))
    assert long_street.value.values == {"n": reports.MAX_STREET}
    for number in range(reports.MAX_PHOTOS):
        reports.add_photo(draft, f"photo{number}")
    with pytest.raises(ReportError):
        reports.add_photo(draft, "one too many")


def test_a_location_outside_the_city_is_refused_and_a_park_is_found() -> None:
    services = services_for(load_settings({}))
    draft = Draft()
    with pytest.raises(ReportError) as outside:
        reports.locate(services, draft, 52.37, 4.89)  # Amsterdam
    assert outside.value.values == {"city": "Helmond"}
    reports.locate(services, draft, 51.45601234, 5.70004321)
    assert (draft.area, draft.wijk) == ("park:bzob", "brouwhuis")
    assert (draft.latitude, draft.longitude) == (51.456, 5.7)  # rounded: no more than needed
    with pytest.raises(ReportError):
        reports.choose_area(services, draft, "park:atlantis")
    reports.choose_area(services, draft, "wijk:stiphout")
    assert (draft.area, draft.wijk, draft.latitude) == ("wijk:stiphout", "stiphout", None)


def test_the_sliding_window_forgets_after_its_time() -> None:
    now = [1000.0]
    window = SlidingWindow(3600.0, clock=lambda: now[0])
    for _ in range(2):
        assert window.allows(7, 2)
        window.record(7)
    assert not window.allows(7, 2)
    assert window.allows(8, 2)  # per person
    now[0] += 3600.5
    assert window.allows(7, 2)


def test_the_secret_setting_is_checked() -> None:
    with pytest.raises(ConfigError, match="BUURTBOT_SECRET: too short"):
        load_settings({"BUURTBOT_SECRET": "kort"})
    assert load_settings({"BUURTBOT_SECRET": " "}).secret is None
    configured = load_settings({"BUURTBOT_SECRET": "s" * 40}).secret
    assert configured is not None
    assert configured.get_secret_value() == "s" * 40


async def test_digest_counts_compare_two_weeks_from_the_daily_counters(
    sessions: SessionFactory,
) -> None:
    today = date(2026, 11, 29)
    async with sessions() as session:
        for days_ago, area, wijk in (
            (1, "park:bzob", "brouwhuis"),
            (7, "park:bzob", "brouwhuis"),
            (8, "park:bzob", "brouwhuis"),
            (14, "wijk:stiphout", "stiphout"),
            (15, "wijk:stiphout", "stiphout"),  # too old
            (0, "wijk:stiphout", "stiphout"),  # today: tomorrow's digest
        ):
            moment = datetime(2026, 11, 29, 12, tzinfo=utcnow().tzinfo) - timedelta(days=days_ago)
            await store.add(
                session=session,
                report=Report(
                    ref="",
                    created_at=moment,
                    occurred_at=moment,
                    category="drugs",
                    area=area,
                    wijk=wijk,
                ),
                day=today - timedelta(days=days_ago),
            )
    async with sessions() as session:
        everything = await store.digest_counts(
            session=session,
            first=today - timedelta(days=14),
            split=today - timedelta(days=7),
            last=today - timedelta(days=1),
        )
        stiphout = await store.digest_counts(
            session=session,
            first=today - timedelta(days=14),
            split=today - timedelta(days=7),
            last=today - timedelta(days=1),
            wijk="stiphout",
        )
        since = datetime(2026, 11, 20, tzinfo=utcnow().tzinfo)
        recent = await store.recent_count(
            session=session, category="drugs", area="park:bzob", since=since, up_to_id=10**9
        )
    assert everything == [
        DigestCount("park:bzob", "drugs", 2, 1),
        DigestCount("wijk:stiphout", "drugs", 0, 1),
    ]
    assert stiphout == [DigestCount("wijk:stiphout", "drugs", 0, 1)]
    assert recent == 3


def test_small_counts_and_their_change_are_hidden_from_all_but_coordinators() -> None:
    services = services_for(load_settings({}))
    lang = services.translator.for_language("nl")
    rows = [DigestCount("park:bzob", "drugs", 2, 5), DigestCount("park:bzob", "overlast", 7, 3)]
    today = date(2026, 11, 29)
    coordinator = reports.render_digest(lang, services, rows, today, Recipient(1, None, None))
    boa = reports.render_digest(lang, services, rows, today, Recipient(2, "brouwhuis", 3))
    assert "Drugs: 2 (−3)" in coordinator
    assert "Overlast: 7 (+4)" in coordinator
    assert "• Drugs: &lt;3\n" in boa + "\n"  # no count, no change: nobody singled out
    assert "Overlast: 7 (+4)" in boa
    assert "Alleen je eigen wijk: Brouwhuis." in boa


async def test_a_long_description_with_quotes_and_newlines_fits_its_draft(
    sessions: SessionFactory,
) -> None:
    """PostgreSQL enforces column lengths: a draft grows in JSON, then in its seal."""
    services = services_for(load_settings({}), sessions)
    text = ('Hij zei: "kijk daar!"\n\\ \u200f' + "ق" * 3 + " 🚐 ") * 40
    text = text[: reports.MAX_DESCRIPTION]
    draft = Draft(category="voertuig", area="park:bzob", description=text, photos=["p" * 80] * 3)
    await reports.save_draft(services, 4242, draft)
    loaded = await reports.load_draft(services, 4242)
    assert loaded is not None
    assert loaded[0].description == text
    assert loaded[0].photos == draft.photos
