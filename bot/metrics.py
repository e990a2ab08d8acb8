"""What an operations team scrapes from `/metrics` (Prometheus' text format).

One `CollectorRegistry` per application, never prometheus-client's global one: a test
process runs many bots, and each must count only its own. Counters are moved where the
work happens (the inbox's end of an update, the delivery engine's result of a row, the
job runner's misfires); the gauges that describe the database (inbox backlog, outbox
depth) are read at scrape time by bot.web, so they are right whichever replica sends.
No label carries a user, a chat or a text: kinds, handler names and outcomes only.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Handlers answer in milliseconds; a chart or an export takes seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


# Every counter and gauge: (attribute, kind, name, help, labels). One table rather than
# a constructor call each, so a new series is one line and they all read alike.
SERIES: tuple[tuple[str, type[Counter] | type[Gauge], str, str, tuple[str, ...]], ...] = (
    ("updates", Counter, "buurtbot_updates",
     "Updates from Telegram that reached their end, by kind and outcome "
     "(done, retried, dead, dropped, left)", ("kind", "outcome")),
    ("webhook_requests", Counter, "buurtbot_webhook_requests",
     "Webhook requests by answer (stored, replay, refused, bad, unavailable)", ("answer",)),
    ("messages", Counter, "buurtbot_messages",
     "Outbox rows settled by this process's delivery engine, by result "
     "(sent, failed, blocked, gone)", ("result",)),
    ("flood_waits", Counter, "buurtbot_flood_waits",
     "429 answers (flood control) from Telegram, by sender (delivery, interactive)",
     ("sender",)),
    ("flood_wait_seconds", Counter, "buurtbot_flood_wait_seconds",
     "Seconds Telegram told the bot to wait after 429s, by sender", ("sender",)),
    ("jobs_planned", Gauge, "buurtbot_scheduler_jobs",
     "Jobs planned in this process's scheduler (0 on a standby)", ()),
    ("jobs_misfired", Counter, "buurtbot_scheduler_misfires",
     "Jobs that missed their time by more than the grace", ()),
    ("inbox_backlog", Gauge, "buurtbot_inbox_backlog",
     "Updates stored and not yet handled (the whole database)", ()),
    ("inbox_dead", Gauge, "buurtbot_inbox_dead_letters",
     "Updates set aside after their last try, kept 30 days", ()),
    ("outbox_depth", Gauge, "buurtbot_outbox_depth",
     "Outbox rows queued or being sent (the whole database)", ()),
    ("outbox_oldest", Gauge, "buurtbot_outbox_oldest_seconds",
     "Age of the broadcast of the oldest unsent outbox row (0 when empty)", ()),
    ("leader", Gauge, "buurtbot_leader",
     "1 while this process holds the sender lease (sends and schedules), else 0", ()),
)  # fmt: skip


class Metrics:
    """The application's metrics, on a registry of its own."""

    updates: Counter
    webhook_requests: Counter
    messages: Counter
    flood_waits: Counter
    flood_wait_seconds: Counter
    jobs_planned: Gauge
    jobs_misfired: Counter
    inbox_backlog: Gauge
    inbox_dead: Gauge
    outbox_depth: Gauge
    outbox_oldest: Gauge
    leader: Gauge

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for attribute, kind, name, help_text, labels in SERIES:
            setattr(self, attribute, kind(name, help_text, labels, registry=self.registry))
        # The one histogram: its buckets make it a shape of its own.
        self.handler_seconds = Histogram(
            "buurtbot_handler_seconds",
            "Time from an update's start to its end, by the handler that took it",
            ["handler"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def update_finished(self, kind: str, handler: str, outcome: str, seconds: float) -> None:
        self.updates.labels(kind, outcome).inc()
        self.handler_seconds.labels(handler).observe(seconds)

    def flood_wait(self, sender: str, seconds: float) -> None:
        self.flood_waits.labels(sender).inc()
        self.flood_wait_seconds.labels(sender).inc(max(seconds, 0.0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
