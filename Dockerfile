# Buurtbot: the same install steps as the README (a venv, the locked dependencies, the
# project in editable mode so the catalogs in locales/ sit beside the code).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:$PATH \
    DATABASE_URL=sqlite+aiosqlite:////data/buurtbot.db \
    BUURTBOT_LISTEN_HOST=0.0.0.0 \
    BUURTBOT_LISTEN_PORT=8080

RUN groupadd --system --gid 10001 buurtbot \
    && useradd --system --uid 10001 --gid buurtbot --home-dir /app --shell /usr/sbin/nologin buurtbot \
    && mkdir -p /app /data \
    && chown buurtbot:buurtbot /app /data

WORKDIR /app
COPY --chown=buurtbot:buurtbot pyproject.toml constraints.txt README.md ./
COPY --chown=buurtbot:buurtbot bot ./bot
COPY --chown=buurtbot:buurtbot handlers ./handlers
COPY --chown=buurtbot:buurtbot scheduler ./scheduler
COPY --chown=buurtbot:buurtbot storage ./storage
COPY --chown=buurtbot:buurtbot sandbox ./sandbox
COPY --chown=buurtbot:buurtbot locales ./locales

USER 10001:10001
RUN python -m venv /app/.venv \
    && pip install --quiet -c constraints.txt -e .

# The database lives outside the image so an upgrade keeps residents and reports.
VOLUME ["/data"]

# The webhook, /healthz, /readyz and /metrics (bot.web). Ready means: the database
# answers, its migrations are current and Telegram answered within a minute. A plain
# urllib call, not the bot's imports: a probe every 30 s should cost next to nothing.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('BUURTBOT_LISTEN_PORT', '8080') + '/readyz', timeout=4)"]

# Migrations first, then the bot; without TELEGRAM_BOT_TOKEN it would start the
# sandbox, which only makes sense on a developer's machine.
CMD ["python", "-m", "bot", "run", "--migrate"]
