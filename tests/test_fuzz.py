"""A few hundred hostile updates through the sandbox against the real running bot (issue 12).

Seeded (tests/fuzzer.py plays the users): unicode with right-to-left and zero-width
characters, HTML and MarkdownV2 specials in texts and first names, texts of 4096 and
more characters, every command with random arguments, replayed buttons and buttons
forged from data other users got, stickers, documents, photos, locations outside the
city, edits, a group. bench/fuzz.py runs the same with more updates.
"""

from __future__ import annotations

from bot.app import BotApplication
from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from tests.fuzzer import Fuzzer

SEED = 12


async def test_hostile_users_crash_nothing_and_gain_nothing(
    bot: BotApplication, client: SandboxClient, sandbox: SandboxServer
) -> None:
    counts = await Fuzzer(bot, client, sandbox.state, seed=SEED, users=16, rounds=30).run()
    report = "\n".join(counts.lines())
    print(report)
    assert counts.updates >= 300, report
    assert not counts.errors, report  # the error handler was never hit, nothing else failed
    assert counts.entity_refusals == 0, report
    assert not counts.unanswered, report
    assert not counts.escalations, report
    assert not counts.posts_changed, report


async def test_the_fuzzer_sees_crashes_silence_and_refused_entities(
    bot: BotApplication, client: SandboxClient, sandbox: SandboxServer
) -> None:
    # A fuzz run that cannot fail proves nothing: make the sandbox refuse every answer once
    # the users are set up, as a bad entity would be, and check that all three are seen.
    fuzzer = Fuzzer(bot, client, sandbox.state, seed=SEED, users=2, rounds=4)
    set_up = fuzzer._fuzzers

    async def then_break() -> None:
        await set_up()
        for method in ("sendMessage", "answerCallbackQuery", "editMessageText"):
            await client.add_fault(
                method,
                times=1000,
                error_code=400,
                description="Bad Request: can't parse entities: unsupported start tag",
            )

    fuzzer._fuzzers = then_break  # type: ignore[method-assign]
    counts = await fuzzer.run()
    assert counts.errors
    assert counts.unanswered
    assert counts.entity_refusals > 0
