"""Ids in buttons and links are whatever the client sent (issue 12, found by fuzzing).

On PostgreSQL an id beyond 32 bits reached the database as a parameter and failed there
("value out of int32 range"), so a forged press or link crashed its handler; and "²" is
a digit to str.isdigit that int() refuses. Both must read as "no such thing".
"""

from __future__ import annotations

import pytest

from bot.callbacks import MAX_ROW_ID, row_id
from tests.journeys.resident import MakePerson
from tests.journeys.test_broadcasts import ADMIN_ID

STALE = "Deze knop werkt niet meer. Tik op /start."
HUGE = "99999999999999999999"


def test_row_ids_are_ascii_digits_within_32_bits() -> None:
    assert row_id("12") == 12
    assert row_id(str(MAX_ROW_ID)) == MAX_ROW_ID
    for text in (str(MAX_ROW_ID + 1), HUGE, "0", "", "-1", "²", "٣", "1e3", " 1", "x"):
        assert row_id(text) is None, text


@pytest.mark.parametrize("payload", ["rem-99999999999999", "rem-2147483648", "rem-²", "rem-0"])
async def test_a_reminder_link_with_an_impossible_id_is_unknown(
    person: MakePerson, payload: str
) -> None:
    anna = await person("Anna", wijk="stiphout")
    answer = await anna.say(f"/start {payload}")
    assert answer["text"] == "Deze herinnering ken ik niet."


@pytest.mark.parametrize(
    "data",
    [
        f"r1:rep:{HUGE}:going",  # anyone: a reply to an announcement
        f"r1:alive:t:{HUGE}:y",  # anyone: "still active?"
        f"r1:tdec:ok:{HUGE}",  # the coordinator's own buttons, forged
        f"r1:gdec:ok:{HUGE}",
        f"r1:rev:{HUGE}",
        f"r1:snd:{HUGE}",
        f"r1:chn:{HUGE}:stiphout",
        f"r1:bc:send:{HUGE}",
        f"r1:bc:cancel:{2**31}",
    ],
)
async def test_a_press_with_an_impossible_id_is_stale(person: MakePerson, data: str) -> None:
    coordinator = await person("Carla", user_id=ADMIN_ID)
    shown = await coordinator.say("/help")
    answer = await coordinator.press_data(shown, data)
    assert answer is not None
    assert answer["text"] in (
        STALE,
        # /bericht's buttons check the author first: an id that is no broadcast is not theirs.
        "Dat mag je niet. Kijk bij /help wat je wel kunt.",
    )
