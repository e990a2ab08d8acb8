"""docker-compose.yml and deploy/prometheus.yml hold together, checked without Docker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import AliasChoices

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def load(path: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / path).read_text())
    assert isinstance(data, dict)
    return data


def known_variables() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        names.add(str(alias.choices[0]))
    return names


def test_compose_has_the_bot_postgres_with_a_volume_and_prometheus() -> None:
    compose = load("docker-compose.yml")
    services = compose["services"]
    assert {"bot", "postgres", "prometheus", "migrate"} <= set(services)
    postgres = services["postgres"]
    volume = next(v for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert volume.split(":")[0] in compose["volumes"]  # a named volume, not the container
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_the_bot_runs_in_webhook_mode_on_postgres_after_the_migrations() -> None:
    compose = load("docker-compose.yml")
    bot = compose["services"]["bot"]
    env = bot["environment"]
    # Every variable the bot is given is one it reads: a typo would be ignored silently.
    assert {name for name in env if name.startswith("BUURTBOT_")} <= known_variables()
    database = urlsplit(env["DATABASE_URL"])
    assert database.scheme == "postgresql"
    assert database.hostname == "postgres"
    assert env["BUURTBOT_WEBHOOK_URL"].startswith("${BUURTBOT_WEBHOOK_URL")
    assert env["BUURTBOT_LISTEN_HOST"] == "0.0.0.0"
    assert env["BUURTBOT_SECRET_FILE"] == "/run/secrets/buurtbot"
    assert "buurtbot" in bot["secrets"]
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["python", "-m", "bot", "db", "upgrade"]
    assert migrate["environment"]["DATABASE_URL"] == env["DATABASE_URL"]


def test_the_healthcheck_asks_readyz_on_the_listen_port() -> None:
    bot = load("docker-compose.yml")["services"]["bot"]
    port = bot["environment"]["BUURTBOT_LISTEN_PORT"]
    probe = " ".join(bot["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/readyz" in probe
    assert any(mapping.endswith(f":{port}") for mapping in bot["ports"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile
    assert "/readyz" in dockerfile
    assert f"EXPOSE {port}" in dockerfile
    assert f"BUURTBOT_LISTEN_PORT={port}" in dockerfile


def test_prometheus_scrapes_every_bot_replica_on_the_metrics_port() -> None:
    compose = load("docker-compose.yml")
    prometheus = compose["services"]["prometheus"]
    mounted = next(v for v in prometheus["volumes"] if v.startswith("./deploy/prometheus.yml:"))
    assert mounted.split(":")[1] == "/etc/prometheus/prometheus.yml"
    config = load("deploy/prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["bot"]  # the compose service: one record per replica
    port = compose["services"]["bot"]["environment"]["BUURTBOT_LISTEN_PORT"]
    assert discovery["port"] == int(port)


def test_the_example_environment_names_only_what_compose_asks_for() -> None:
    compose_text = (ROOT / "docker-compose.yml").read_text()
    asked = set(re.findall(r"\$\{([A-Z_]+)", compose_text))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / "deploy" / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert example == asked
