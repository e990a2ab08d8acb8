"""Residents join their wijk by buttons, in their language, and own their data (issue 3).

Texts are looked up through the bot's own catalogs, so a test checks that the right
message arrived in the right language without freezing its wording.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable

import pytest
from sqlmodel import select

from bot.app import BotApplication
from bot.residents import NOTHING_STORED
from bot.services import services_of
from handlers.keyboards import language_name, quiet_label
from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from storage.engine import SessionFactory
from storage.models import MembershipEvent, User
from tests.journeys.resident import MakeResident, buttons, next_message

WELCOME = "Welkom bij Buurtbot, de buurtpreventie van {city}."
CALL_112 = "Is er nu gevaar? Bel altijd eerst 112."
CHOOSE_WIJK = "Kies je wijk:"
JOINED = "Gelukt! Je volgt nu {wijk}."
STALE = "Deze knop werkt niet meer. Tik op /start."


async def stored(sessions: SessionFactory, user_id: int) -> User | None:
    async with sessions() as session:
        return await session.get(User, user_id)


async def events(sessions: SessionFactory) -> list[tuple[str, str]]:
    async with sessions() as session:
        rows = await session.exec(select(MembershipEvent).order_by(MembershipEvent.id))  # type: ignore[arg-type]
        return [(event.wijk, event.kind) for event in rows]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Wait for a side effect the bot makes without answering (e.g. after a block)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def test_a_language_the_bot_lacks_is_asked_first_and_the_welcome_stays(
    resident: MakeResident,
) -> None:
    jonas = await resident("Jonas", "de")
    welcome = await jonas.say("/start")
    assert CALL_112 in welcome["text"]
    assert "Kies je taal:" in welcome["text"]
    english = await jonas.tap(welcome, "English")
    en = jonas.lang.translator.for_language("en")
    # The welcome, now in English, with its 112 line: not edited away into a bare question.
    assert en.gettext(CALL_112) in english["text"]
    assert en.gettext(CHOOSE_WIJK) in english["text"]
    assert "Helmond-West" in buttons(english)


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_a_new_resident_joins_by_buttons_in_their_language(
    resident: MakeResident, sessions: SessionFactory, code: str
) -> None:
    anna = await resident("Anna", code)
    welcome = await anna.say("/start")
    assert anna._(WELCOME).format(city="Helmond") in welcome["text"]
    assert anna._(CALL_112) in welcome["text"]
    # Already in her language: the wijk at once, another language one tap away.
    assert anna._(CHOOSE_WIJK) in welcome["text"]
    other = "🌐 " + anna._("Andere taal")
    assert len(buttons(welcome)) == 11 + 1
    assert {"Helmond-West", other} <= set(buttons(welcome))

    # Another language keeps the welcome and its 112 line, and comes back to the wijk.
    offered = await anna.tap(welcome, other)
    assert anna._(CALL_112) in offered["text"]
    assert {"Nederlands", "English", "Polski", "Türkçe", "العربية"} <= set(buttons(offered))
    polish = await anna.tap(offered, "Polski")
    pl = anna.lang.translator.for_language("pl")
    assert pl.gettext(CALL_112) in polish["text"]
    assert pl.gettext(CHOOSE_WIJK) in polish["text"]
    back = await anna.tap(polish, "🌐 " + pl.gettext("Andere taal"))
    wijken = await anna.tap(back, language_name(code))
    assert anna._(CALL_112) in wijken["text"]
    assert anna._(CHOOSE_WIJK) in wijken["text"]
    assert len(buttons(wijken)) == 12
    buurten = await anna.tap(wijken, "Helmond-West")
    assert anna._("Kies je buurt in {wijk}:").format(wijk="Helmond-West") in buurten["text"]
    assert anna._(CALL_112) in buurten["text"]  # the welcome is gone from screen, not the 112
    assert {"Houtsdonk", "Oud-West", anna._("De hele wijk")} <= set(buttons(buurten))
    done = await anna.tap(buurten, "Houtsdonk")

    assert anna._(JOINED).format(wijk="Houtsdonk, Helmond-West") in done["text"]
    assert anna._("Meestal is dat een paar keer per maand.") in done["text"]
    assert "/stop" in done["text"]
    user = await stored(sessions, anna.id)
    assert user is not None
    assert (user.language, user.wijk, user.buurt, user.subscribed) == (
        code,
        "helmond-west",
        "houtsdonk",
        True,
    )
    assert await events(sessions) == [("helmond-west", "joined")]
    if code == "en":
        assert anna._(CHOOSE_WIJK) != CHOOSE_WIJK  # really English, not the Dutch source


async def test_a_polish_resident_reads_the_welcome_in_polish(resident: MakeResident) -> None:
    ewa = await resident("Ewa", "pl-PL")
    welcome = await ewa.say("/start")
    assert ewa.lang.code == "pl"
    assert ewa._(CALL_112) in welcome["text"]
    assert ewa._(CALL_112) != CALL_112


async def test_the_whole_wijk_is_a_choice_too(
    resident: MakeResident, sessions: SessionFactory
) -> None:
    piet = await resident("Piet")
    wijken = await piet.say("/start")
    buurten = await piet.tap(wijken, "Binnenstad")
    done = await piet.tap(buurten, piet._("De hele wijk"))
    assert piet._(JOINED).format(wijk="Binnenstad") in done["text"]
    user = await stored(sessions, piet.id)
    assert user is not None
    assert (user.wijk, user.buurt) == ("binnenstad", None)


async def test_a_wijk_without_buurten_joins_in_one_tap(
    resident: MakeResident, sessions: SessionFactory
) -> None:
    kees = await resident("Kees", "en")
    wijken = await kees.say("/start")
    done = await kees.tap(wijken, "Stiphout")
    assert kees._(JOINED).format(wijk="Stiphout") in done["text"]
    assert (await stored(sessions, kees.id)).wijk == "stiphout"  # type: ignore[union-attr]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_a_deep_link_joins_in_one_tap_and_twice_changes_nothing(
    resident: MakeResident, sessions: SessionFactory, code: str
) -> None:
    fatima = await resident("Fatima", code)
    joined = await fatima.say("/start wijk-brandevoort")
    assert fatima._(JOINED).format(wijk="Brandevoort") in joined["text"]
    assert fatima._("Wil je ook je buurt kiezen? Dat hoeft niet.") in joined["text"]
    done = await fatima.tap(joined, "De Veste")
    assert fatima._(JOINED).format(wijk="De Veste, Brandevoort") in done["text"]

    again = await fatima.say("/start wijk-brandevoort")
    assert fatima._(JOINED).format(wijk="De Veste, Brandevoort") in again["text"]
    user = await stored(sessions, fatima.id)
    assert user is not None
    assert (user.wijk, user.buurt) == ("brandevoort", "de-veste")
    assert await events(sessions) == [("brandevoort", "joined")]


async def test_an_unknown_deep_link_falls_back_to_the_choice(resident: MakeResident) -> None:
    jan = await resident("Jan", "en")
    reply = await jan.say("/start wijk-atlantis")
    assert jan._("Die wijk ken ik niet.") in reply["text"]
    assert jan._(CHOOSE_WIJK) in reply["text"]
    assert "Mierlo-Hout" in buttons(reply)


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_wijk_moves_to_another_wijk(
    resident: MakeResident, sessions: SessionFactory, code: str
) -> None:
    mo = await resident("Mo", code)
    await mo.say("/start wijk-stiphout")
    choice = await mo.say("/wijk")
    assert mo._(CHOOSE_WIJK) in choice["text"]
    assert "✅ Stiphout" in buttons(choice)
    done = await mo.tap(choice, "Rijpelberg")
    assert mo._(JOINED).format(wijk="Rijpelberg") in done["text"]
    assert (await stored(sessions, mo.id)).wijk == "rijpelberg"  # type: ignore[union-attr]
    assert await events(sessions) == [
        ("stiphout", "joined"),
        ("stiphout", "moved_out"),  # a move, not a leave and a join
        ("rijpelberg", "moved_in"),
    ]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_instellingen_chooses_kinds_and_quiet_hours(
    resident: MakeResident, sessions: SessionFactory, code: str
) -> None:
    lisa = await resident("Lisa", code)
    await lisa.say("/start wijk-dierdonk")
    settings = await lisa.say("/instellingen")
    witte_voetjes = lisa._("Witte Voetjes")
    assert f"✅ {witte_voetjes}" in buttons(settings)
    assert f"✅ {lisa._('Geen stille uren')}" in buttons(settings)

    settings = await lisa.tap(settings, f"✅ {witte_voetjes}")
    assert f"⬜ {witte_voetjes}" in buttons(settings)
    night = quiet_label(lisa.lang, 1)
    settings = await lisa.tap(settings, night)
    assert f"✅ {night}" in buttons(settings)
    saved = await lisa.tap(settings, lisa._("Klaar"))
    assert lisa._("Opgeslagen. Aanpassen kan altijd met /instellingen.") in saved["text"]

    user = await stored(sessions, lisa.id)
    assert user is not None
    assert user.kinds == "buurttent,challenge,nieuws"
    assert (user.quiet_start, user.quiet_end) == (22 * 60, 7 * 60)
    assert night == "22:00–07:00"  # British English too: a 24-hour clock


async def test_a_rejoin_promises_only_the_kinds_switched_on(resident: MakeResident) -> None:
    lisa = await resident("Lisa")
    await lisa.say("/start wijk-dierdonk")
    settings = await lisa.say("/instellingen")
    await lisa.tap(settings, "✅ Nieuws")
    await lisa.say("/stop")
    back = await lisa.say("/start")
    joined = await lisa.tap(back, next(label for label in buttons(back) if "Dierdonk" in label))
    assert (
        "Je krijgt alleen berichten over: Witte Voetjes, BuurtTent, Buurtsaam Challenge."
        in joined["text"]
    )
    assert "en nieuws uit je wijk" not in joined["text"]


async def test_switching_every_kind_off_says_what_that_means(resident: MakeResident) -> None:
    lisa = await resident("Lisa")
    await lisa.say("/start wijk-dierdonk")
    # The old name of /instellingen still works.
    settings = await lisa.say("/meldingen")
    for kind in ("Witte Voetjes", "BuurtTent", "Buurtsaam Challenge", "Nieuws"):
        settings = await lisa.tap(settings, f"✅ {lisa._(kind)}")
    assert (
        lisa._("Je krijgt nu geen berichten. Zet er één aan, of stop met /stop.")
        in settings["text"]
    )


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_stop_leaves_and_start_rejoins_in_one_tap(
    resident: MakeResident, sessions: SessionFactory, code: str
) -> None:
    bas = await resident("Bas", code)
    joined = await bas.say("/start wijk-helmond-oost")
    await bas.tap(joined, "Straakven")
    stopped = await bas.say("/stop")
    assert (
        bas._("Je krijgt geen berichten meer over {wijk}.").format(wijk="Helmond-Oost")
        in (stopped["text"])
    )
    assert not (await stored(sessions, bas.id)).subscribed  # type: ignore[union-attr]
    again = await bas.say("/stop")
    assert bas._("Je krijgt al geen berichten. Met /start doe je weer mee.") in again["text"]

    back = await bas.say("/start")
    assert bas._("Welkom terug!") in back["text"]
    done = await bas.tap(back, bas._("Ja, {wijk}").format(wijk="Helmond-Oost"))
    assert bas._(JOINED).format(wijk="Straakven, Helmond-Oost") in done["text"]
    user = await stored(sessions, bas.id)
    assert user is not None
    assert (user.subscribed, user.buurt) == (True, "straakven")
    assert await events(sessions) == [
        ("helmond-oost", "joined"),
        ("helmond-oost", "left"),
        ("helmond-oost", "joined"),
    ]


async def test_a_subscriber_at_start_sees_their_wijk_and_the_menu(resident: MakeResident) -> None:
    tom = await resident("Tom", "en")
    await tom.say("/start wijk-warande")
    home = await tom.say("/start")
    assert tom._("Je volgt {wijk}.").format(wijk="Warande") in home["text"]
    assert tom._(CALL_112) in home["text"]
    help_screen = await tom.tap(home, tom._("Privacy"))
    assert tom._("Wat bewaren we over jou?") in help_screen["text"]


@pytest.mark.parametrize(("start", "choice"), [("nl", "en"), ("en", "nl")])
async def test_taal_changes_the_language_and_the_command_menu(
    resident: MakeResident, client: SandboxClient, sessions: SessionFactory, start: str, choice: str
) -> None:
    ali = await resident("Ali", start)
    await ali.say("/start wijk-brouwhuis")
    offer = await ali.say("/taal")
    assert ali._("Kies je taal:") in offer["text"]
    done = await ali.tap(offer, language_name(choice))
    chosen = ali.lang.translator.for_language(choice)
    assert (
        chosen.gettext("Je taal is nu {language}.").format(language=language_name(choice))
        in done["text"]
    )
    assert (await stored(sessions, ali.id)).language == choice  # type: ignore[union-attr]
    # The menu follows the choice in this chat, whatever the phone's language.
    menu = await client.commands(scope={"type": "chat", "chat_id": ali.id})
    descriptions = {command["command"]: command["description"] for command in menu}
    assert descriptions["wijk"] == chosen.gettext("Een andere wijk kiezen")
    # And every later answer is in the chosen language.
    help_text = await ali.say("/help")
    assert chosen.gettext("Wat kun je hier doen?") in help_text["text"]


async def test_commands_are_registered_per_language(
    bot: BotApplication, client: SandboxClient
) -> None:
    translator = services_of(bot).translator
    scope = {"type": "all_private_chats"}
    default = await client.commands(scope=scope)
    assert [command["command"] for command in default] == [
        "start", "wijk", "instellingen", "taal", "help", "privacy", "mijngegevens", "verwijder", "stop",
    ]  # fmt: skip
    for code in ("nl", "en", "pl", "tr", "ar"):
        menu = await client.commands(scope=scope, language_code=code)
        lang = translator.for_language(code)
        assert {c["command"]: c["description"] for c in menu}["stop"] == lang.gettext(
            "Stoppen met berichten"
        )
    english = await client.commands(scope=scope, language_code="en")
    assert english != default


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_help_lists_what_a_resident_can_do(resident: MakeResident, code: str) -> None:
    sara = await resident("Sara", code)
    reply = await sara.say("/help")
    for command in (
        "/start",
        "/wijk",
        "/instellingen",
        "/taal",
        "/stop",
        "/privacy",
        "/mijngegevens",
        "/verwijder",
    ):
        assert command in reply["text"]
    assert sara._("Een andere taal kiezen") in reply["text"]
    assert sara._(CALL_112) in reply["text"]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_privacy_says_what_why_and_how_long(resident: MakeResident, code: str) -> None:
    sara = await resident("Sara", code)
    reply = await sara.say("/privacy")
    assert sara._("Wat bewaren we over jou?") in reply["text"]
    assert (
        sara._("We bewaren geen naam, geen telefoonnummer en niets van wat je typt.")
        in (reply["text"])
    )
    assert "/mijngegevens" in reply["text"]
    assert "/verwijder" in reply["text"]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_mijngegevens_sends_everything_as_json(
    bot: BotApplication, resident: MakeResident, code: str
) -> None:
    noor = await resident("Noor", code)
    joined = await noor.say("/start wijk-helmond-west")
    await noor.tap(joined, "Oud-West")
    await noor.say("/taal")
    reply = await noor.say("/mijngegevens")
    assert reply["caption"] == noor._("Dit is alles wat Buurtbot over je bewaart.")
    assert reply["document"]["file_name"] == "buurtbot-mijn-gegevens.json"
    # Downloaded the way any client would: getFile, then the file URL.
    file = await bot.bot.get_file(reply["document"]["file_id"])
    document = json.loads(bytes(await file.download_as_bytearray()))
    # Keys in her language, values as the bot shows them elsewhere.
    _ = noor._
    data = document[_("Jij")]
    assert data[_("Telegram-ID")] == noor.id
    assert (data[_("Wijk")], data[_("Buurt")], data[_("Aangemeld")]) == (
        "Helmond-West",
        "Oud-West",
        _("ja"),
    )
    assert data[_("Berichten over")] == [
        _("Witte Voetjes"), _("BuurtTent"), _("Buurtsaam Challenge"), _("Nieuws")
    ]  # fmt: skip
    assert data[_("Stille uren")] == _("Geen stille uren")
    assert data[_("Taal")] == {"nl": "Nederlands", "en": "English"}[code]
    assert re.fullmatch(r"\d\d[-/]\d\d[-/]\d{4}, \d\d:\d\d", data[_("Aangemeld op")])
    if code == "en":
        assert "Wijk" not in data
        assert "subscribed" not in data
    assert document[_("Meldingen met je naam")] == []
    assert "Noor" not in json.dumps(document)  # no name was ever stored


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_verwijder_asks_first_then_erases_for_real(
    resident: MakeResident, client: SandboxClient, sessions: SessionFactory, code: str
) -> None:
    lena = await resident("Lena", code)
    await lena.say("/start wijk-mierlo-hout")
    await lena.say("/taal")

    ask = await lena.say("/verwijder")
    assert lena._("Weet je het zeker? We wissen alles over jou. Dat kan niet terug.") in ask["text"]
    kept = await lena.tap(ask, lena._("Nee"))
    assert lena._("Goed, er is niets gewist.") in kept["text"]
    assert await stored(sessions, lena.id) is not None

    switches = await lena.say("/instellingen")
    ask = await lena.say("/verwijder")
    gone = await lena.tap(ask, lena._("Ja, wis alles"))
    assert lena._("Alles is gewist. Met /start kun je opnieuw beginnen.") in gone["text"]
    assert await stored(sessions, lena.id) is None
    # Erased is erased: the settings neither show nor store anything, old switches included.
    nothing = await lena.say("/instellingen")
    assert nothing["text"] == lena._(NOTHING_STORED)
    assert buttons(nothing) == {}
    news = f"✅ {lena._('Nieuws')}"
    for label in (news, quiet_label(lena.lang, 1)):
        refused = await lena.press_data(switches, buttons(switches)[label])
        assert refused is not None
        assert refused["text"] == lena._("Deze knop werkt niet meer. Tik op /start.")
    assert await stored(sessions, lena.id) is None
    # The figures stay right without knowing who: joined and left, no user id anywhere.
    assert await events(sessions) == [("mierlo-hout", "joined"), ("mierlo-hout", "left")]
    assert await client.commands(scope={"type": "chat", "chat_id": lena.id}) == []
    # Back to the start: the language choice is gone too, Telegram's language is used.
    fresh = await lena.say("/start")
    assert lena._(CHOOSE_WIJK) in fresh["text"]
    assert "🌐 " + lena._("Andere taal") in buttons(fresh)


async def test_blocking_the_bot_marks_the_resident_inactive(
    resident: MakeResident, client: SandboxClient, sessions: SessionFactory
) -> None:
    rik = await resident("Rik")
    await rik.say("/start wijk-binnenstad")
    await client.block(rik.id)

    async def inactive() -> bool:
        user = await stored(sessions, rik.id)
        return user is not None and not user.active and user.blocked_at is not None

    await eventually(inactive)


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_private_commands_in_a_group_point_to_the_private_chat(
    resident: MakeResident, client: SandboxClient, sessions: SessionFactory, code: str
) -> None:
    gert = await resident("Gert", code)
    group = await client.create_group("Buurtapp Houtsdonk", creator_id=gert.id)
    await client.add_bot(group["id"], by=gert.id)
    await next_message(client, group["id"])  # the bot introduces itself (test_groups.py)
    for command in ("/start", "/verwijder", "/mijngegevens"):
        sent = await client.send(gert.id, command, chat_id=group["id"])
        reply = await next_message(client, group["id"], after=sent["message_id"])
        assert reply["text"] == gert._("Dit regel je in een privégesprek met mij.")
        assert buttons(reply) == {
            gert._("Open een privégesprek"): "https://t.me/buurtbot_sandbox_bot"
        }
    assert await stored(sessions, gert.id) is None  # nothing stored from a group
    assert len(await client.bot_messages(group["id"])) == 1 + 3  # and nothing else said


WAY_BACK = "Wat je typt, lees ik niet. Gebruik de knoppen of /help."


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_typing_photos_and_long_texts_get_the_way_back(
    resident: MakeResident, client: SandboxClient, code: str
) -> None:
    bo = await resident("Bo", code)
    reply = await bo.say("hallo, ik wil me aanmelden")
    assert reply["text"] == bo._(WAY_BACK)
    assert set(buttons(reply)) == {bo._("Aanmelden"), bo._("Help")}

    sent = await client.send_photo(bo.id, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert (await bo.next_reply(after=sent["message_id"]))["text"] == bo._(WAY_BACK)
    sent = await client.send_location(bo.id, 51.48, 5.66)
    assert (await bo.next_reply(after=sent["message_id"]))["text"] == bo._(WAY_BACK)
    long_reply = await bo.say("x" * 4096)
    assert long_reply["text"] == bo._(WAY_BACK)  # never echoed back

    # The way back works: "Aanmelden" opens the start.
    start = await bo.tap(reply, bo._("Aanmelden"))
    assert bo._(CHOOSE_WIJK) in start["text"]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_files_and_stickers_are_named_with_the_way_back(
    resident: MakeResident, client: SandboxClient, code: str
) -> None:
    bo = await resident("Bo", code)
    sent = await client.send_document(bo.id, b"%PDF-1.4", file_name="melding.pdf")
    refused = await bo.next_reply(after=sent["message_id"])
    assert refused["text"] == bo._(
        "Bestanden kan ik hier niet openen. Gebruik de knoppen of /help."
    )
    assert set(buttons(refused)) == {bo._("Aanmelden"), bo._("Help")}
    sent = await client.send_sticker(bo.id)
    refused = await bo.next_reply(after=sent["message_id"])
    assert refused["text"] == bo._("Een sticker kan ik niet lezen. Gebruik de knoppen of /help.")
    assert set(buttons(refused)) == {bo._("Aanmelden"), bo._("Help")}
    helped = await bo.tap(refused, bo._("Help"))
    assert bo._("Wat kun je hier doen?") in helped["text"]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_a_subscriber_gets_my_wijk_and_help_as_the_way_back(
    resident: MakeResident, code: str
) -> None:
    bo = await resident("Bo", code)
    await bo.say("/start wijk-stiphout")
    reply = await bo.say("wanneer is de buurttent?")
    assert set(buttons(reply)) == {bo._("Mijn wijk"), bo._("Help")}
    helped = await bo.tap(reply, bo._("Help"))
    assert bo._("Wat kun je hier doen?") in helped["text"]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_unknown_commands_and_edits_get_a_short_answer(
    resident: MakeResident, client: SandboxClient, code: str
) -> None:
    bo = await resident("Bo", code)
    reply = await bo.say("/inbraak")
    assert reply["text"] == bo._("Dat commando ken ik niet. Kijk bij /help wat wel kan.")
    sent = await client.send(bo.id, "hoi")
    await bo.next_reply(after=sent["message_id"])
    await client.edit(bo.id, bo.id, sent["message_id"], "hoi, nog een vraag")
    edited = await bo.next_reply()
    assert edited["text"] == bo._(
        "Een aangepast bericht lees ik niet. Stuur een nieuw bericht of gebruik /help."
    )


@pytest.mark.parametrize("code", ["nl", "en"])
@pytest.mark.parametrize(
    "data",
    [
        "r1:wijk:atlantis",  # a wijk that does not exist
        "r1:buurt:binnenstad:nergens",  # a buurt that does not exist
        "r1:lang:xx:wijk",  # a language the bot lacks
        "r1:lang:nl:elsewhere",  # a step that does not exist
        "r1:kind:vuurwerk",  # an announcement kind that does not exist
        "r1:quiet:99",  # a quiet-hours preset that does not exist
        "r1:erase:maybe",  # neither yes nor no
        "r1:menu:admin",  # a screen that does not exist
        "r0:wijk:binnenstad",  # a button from an older version of the bot
        "'; DROP TABLE users; --",  # rubbish
    ],
)
async def test_forged_or_stale_buttons_are_refused_kindly(
    resident: MakeResident, sessions: SessionFactory, code: str, data: str
) -> None:
    eve = await resident("Eve", code)
    offer = await eve.say("/start")
    answer = await eve.press_data(offer, data)
    assert answer is not None
    assert answer["text"] == eve._(STALE)
    assert answer["show_alert"] is True
    user = await stored(sessions, eve.id)
    assert user is not None
    assert not user.subscribed
    assert user.language == code  # Telegram's, from the first /start; nothing forged changed it


async def test_a_press_answered_too_late_still_joins_the_wijk(
    bot: BotApplication, resident: MakeResident, sandbox: SandboxServer
) -> None:
    # Telegram refuses an answer after about 15 s: a queue after a restart, or a
    # stampede, takes longer. Here every answer comes too late; the taps still count.
    sandbox.config.callback_query_timeout = 0.0
    anna = await resident("Anna")
    welcome = await anna.say("/start")
    pressed = await anna.client.press(
        anna.id, anna.id, welcome["message_id"], buttons(welcome)["Stiphout"]
    )
    chosen = await anna.client.wait_edited(anna.id, welcome["message_id"], edits=1)
    assert "Stiphout" in chosen["text"]
    assert await anna.client.callback_answer(pressed["callback_query_id"], timeout=0.5) is None
    inbox = services_of(bot).inbox
    assert inbox is not None
    assert (await inbox.counts()).dead == 0
