"""Configuration of the fake Telegram Bot API server."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Limits:
    """Flood limits, modelled as token buckets like Telegram's documented guidance.

    Rates are per second except ``group_per_minute``, which is a bucket of that many messages
    refilled over ``group_window`` seconds. ``scaled`` shrinks the time axis so tests can hit
    the limits (and recover from them) in milliseconds instead of minutes.
    """

    per_chat_rate: float = 1.0
    per_chat_burst: int = 3
    group_per_minute: int = 20
    global_rate: float = 30.0
    global_burst: int = 30
    enabled: bool = True
    # Not a Telegram knob: the length of the "minute" in group_per_minute, so that scaling the
    # limits keeps the burst (20 messages) while making the window shorter.
    group_window: float = 60.0

    def scaled(self, factor: float) -> Limits:
        """Return limits whose rates are ``factor`` times faster (bursts stay the same)."""
        if factor <= 0:
            raise ValueError("factor must be positive")
        return dataclasses.replace(
            self,
            per_chat_rate=self.per_chat_rate * factor,
            global_rate=self.global_rate * factor,
            group_window=self.group_window / factor,
        )

    @classmethod
    def off(cls) -> Limits:
        """Limits that never trigger (benchmarks, demos)."""
        return cls(enabled=False)


@dataclass(slots=True)
class SandboxConfig:
    """Everything that shapes the simulated Telegram world."""

    token: str
    bot_username: str = "buurtbot_sandbox_bot"
    bot_first_name: str = "Buurtbot"
    limits: Limits = field(default_factory=Limits)
    # In groups a bot with privacy mode only sees commands, replies to it, mentions and service
    # messages, unless it is an administrator (Telegram's rule).
    privacy_mode: bool = True
    long_poll_max: float = 50.0
    # Telegram lets a bot answer a callback query for about 15 seconds; tests shorten it.
    callback_query_timeout: float = 15.0
    # Telegram itself passes a bare "&" through literally in HTML mode. Rejecting it by default
    # catches unescaped user input (e.g. "Tom & Jerry" works, "a &lt b" breaks) before production.
    strict_html_ampersand: bool = True
    # The first user id handed out by create_user when none is given.
    first_user_id: int = 100001
    # The first update_id. Telegram never hands out an id twice; a sandbox started anew
    # (`python -m bot run`) starts from the clock so a bot keeping its database across
    # runs does not take new updates for replays of the last run's.
    first_update_id: int = 1

    @property
    def bot_id(self) -> int:
        """The bot's user id: Telegram tokens start with it (``123456:ABC...``)."""
        head, sep, _ = self.token.partition(":")
        if sep and head.isdigit():
            return int(head)
        return 7000000001
