"""Reading what coordinators type, and the templates residents read, per language."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.broadcasts import (
    FIELDS,
    Audience,
    BroadcastError,
    Composing,
    Step,
    check_field,
    check_length,
    parse_date,
    parse_moment,
    parse_time,
    render_text,
)
from bot.i18n import Translator

TZ = ZoneInfo("Europe/Amsterdam")
TODAY = date(2026, 11, 22)


@pytest.fixture
def translator() -> Translator:
    return Translator(default_language="nl", timezone=TZ)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("24-11", date(2026, 11, 24)),
        ("24/11/2026", date(2026, 11, 24)),
        ("24.11.26", date(2026, 11, 24)),
        ("3-1-2027", date(2027, 1, 3)),
        ("22-11", TODAY),
    ],
)
def test_dates_people_write(typed: str, expected: date) -> None:
    assert parse_date(typed, TODAY) == expected


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("morgen", "Die datum kan ik niet lezen. Schrijf hem zo: 24-11 of 24-11-2026."),
        ("31-02", "Die datum bestaat niet. Schrijf hem zo: 24-11 of 24-11-2026."),
        ("21-11-2026", "Die datum is al voorbij."),
    ],
)
def test_bad_dates_get_a_reason(typed: str, key: str) -> None:
    with pytest.raises(BroadcastError) as error:
        parse_date(typed, TODAY)
    assert error.value.key == key


@pytest.mark.parametrize(
    ("typed", "example"), [("21-11", "21-11-2027"), ("3-1", "3-1-2027"), ("03/01", "3-1-2027")]
)
def test_a_day_month_already_past_this_year_is_refused_with_an_example(
    typed: str, example: str
) -> None:
    """Not silently next year: the coordinator is asked whether they mean that."""
    with pytest.raises(BroadcastError) as error:
        parse_date(typed, TODAY)
    assert error.value.key == "{typed} is al geweest; bedoel je {example}?"
    assert error.value.values["example"] == example


@pytest.mark.parametrize(("typed", "hour", "minute"), [("19:30", 19, 30), ("7.05", 7, 5)])
def test_times(typed: str, hour: int, minute: int) -> None:
    assert (parse_time(typed).hour, parse_time(typed).minute) == (hour, minute)


@pytest.mark.parametrize("typed", ["25:00", "19u30", "half acht"])
def test_unreadable_times(typed: str) -> None:
    with pytest.raises(BroadcastError, match="Die tijd kan ik niet lezen"):
        parse_time(typed)


def test_a_moment_must_lie_ahead() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=TZ)
    assert parse_moment("22-11 12:30", now) == datetime(2026, 11, 22, 12, 30, tzinfo=TZ)
    with pytest.raises(BroadcastError, match="al voorbij"):
        parse_moment("22-11 11:59", now)
    with pytest.raises(BroadcastError, match="Schrijf dag en tijd zo"):
        parse_moment("morgenavond", now)


def test_fields_are_checked_as_they_come() -> None:
    witte = {spec.name: spec for spec in FIELDS["witte_voetjes"]}
    assert check_field(witte["date"], " 24-11 ", TODAY) == "2026-11-24"
    assert check_field(witte["time"], "19.30", TODAY) == "19:30"
    assert check_field(witte["team"], "-", TODAY) == ""  # optional, skipped
    with pytest.raises(BroadcastError) as error:
        check_field(witte["place"], "x" * 121, TODAY)
    assert error.value.values == {"n": 120}
    with pytest.raises(BroadcastError, match="niet leeg"):
        check_field(witte["place"], "   ", TODAY)


FIELDS_WV = {
    "date": "2026-11-24",
    "time": "19:30",
    "place": "de kerk <Kerkstraat> & co",
    "team": "De Uilen",
    "note": "",
}


def test_witte_voetjes_in_dutch_and_english(translator: Translator) -> None:
    dutch = render_text(translator.for_language("nl"), "witte_voetjes", FIELDS_WV)
    assert "dinsdag 24 november 2026 om 19:30" in dutch
    assert "de kerk &lt;Kerkstraat&gt; &amp; co" in dutch  # the coordinator's words, escaped
    assert "Bel altijd eerst 112" in dutch
    english = render_text(translator.for_language("en"), "witte_voetjes", FIELDS_WV)
    assert "Tuesday, 24 November 2026" in english
    assert "Bel altijd" not in english


def test_a_polish_resident_gets_the_fixed_parts_in_polish(translator: Translator) -> None:
    fields = {
        "date": "2026-11-24",
        "start": "10:00",
        "end": "16:00",
        "place": "Steenweg",
        "about": "Inbraakpreventie",
    }
    polish = render_text(translator.for_language("pl"), "buurttent", fields)
    assert "wtorek" in polish.lower()
    assert "Steenweg" in polish
    assert "Inbraakpreventie" in polish  # the coordinator's own text is not translated


def test_too_long_for_telegram_is_refused_with_the_reason(translator: Translator) -> None:
    news = {"title": "Nieuws", "text": "x" * 1000}
    check_length(translator.for_language("nl"), "nieuws", news, with_photo=False)
    with pytest.raises(BroadcastError) as error:
        check_length(translator.for_language("nl"), "nieuws", news, with_photo=True)
    assert error.value.values["limit"] == 1024
    assert error.value.values["over"] > 0


def test_audience_round_trip_and_emptiness() -> None:
    audience = Audience(wijken=["stiphout"], teams=[3])
    assert Audience.loads(audience.dumps()) == audience
    assert Audience().empty
    assert not Audience(everyone=True).empty
    assert Audience.loads(None).empty


@pytest.mark.parametrize(
    ("now", "start", "end", "until"),
    [
        ((23, 30), 22 * 60, 7 * 60, (1, 7, 0)),  # overnight, before midnight: tomorrow 07:00
        ((3, 0), 22 * 60, 7 * 60, (0, 7, 0)),  # overnight, after midnight: today 07:00
        ((12, 0), 22 * 60, 7 * 60, None),  # outside the quiet hours
        ((13, 0), 12 * 60, 14 * 60, (0, 14, 0)),  # a quiet afternoon
        ((13, 0), None, None, None),  # no quiet hours
    ],
)
def test_quiet_hours_hold_a_resident_back_until_they_end(
    now: tuple[int, int], start: int | None, end: int | None, until: tuple[int, int, int] | None
) -> None:
    from datetime import timedelta

    from bot.broadcasts import quiet_until

    moment = datetime(2026, 11, 22, *now, tzinfo=TZ)
    expected = (
        None
        if until is None
        else datetime(2026, 11, 22, until[1], until[2], tzinfo=TZ) + timedelta(days=until[0])
    )
    assert quiet_until(moment, start, end) == expected


def test_a_draft_in_the_conversation_row_reads_back_as_it_was_kept() -> None:
    kept = Composing(Step.PHOTO, kind="nieuws", index=1, fields={"title": "Kop"})
    kept.audience.wijken.append("stiphout")
    loaded = Composing.load(kept.step, kept.dump())
    assert loaded == kept
    assert loaded is not None
    assert loaded.spec is None  # no field is asked at the photo step
    assert Composing.load("field", {"kind": "nieuws", "index": 1}) == Composing(
        Step.FIELD, kind="nieuws", index=1
    )
    assert Composing.load("field", {"kind": "nieuws", "index": 1}).spec == FIELDS["nieuws"][1]  # type: ignore[union-attr]
    assert Composing.load("an old step", {}) is None
    assert Composing.load("when", {"broadcast": 3, "unknown": 1}) == Composing(
        Step.WHEN, broadcast=3
    )


def test_the_progress_line_names_the_copies_held_for_quiet_hours(translator: Translator) -> None:
    from bot.delivery import Counts
    from handlers.broadcast_progress import progress_line

    dutch, english = translator.for_language("nl"), translator.for_language("en")
    going = Counts(queued=3, sent=2)
    assert progress_line(dutch, going, 0) == "Bezig: 2 van 5 verzonden."
    assert progress_line(dutch, Counts(queued=1, sent=4), 1) == (
        "4 van 5 verzonden, 1 wacht op stille uren."
    )
    assert progress_line(dutch, going, 3) == "2 van 5 verzonden, 3 wachten op stille uren."
    assert progress_line(english, going, 3) == "2 of 5 sent, 3 wait for quiet hours."
    assert progress_line(dutch, Counts(sent=4, failed=1), 0).startswith("Klaar: 4 van 5 bezorgd.")
