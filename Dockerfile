# cce-upgrade-bot: slim, non-root, health-checked. Config comes from the environment and an
# optional YAML file mounted at /config/cce-upgrade-bot.yaml; SQLite lives on the /data volume.
# Slack's HTTP mode is served on PORT; health, readiness and metrics on OPS_PORT only.
# Linted by hadolint in .ci/run; tests/test_container.py keeps it in step with the README and
# deploy/kubernetes.yaml.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    OPS_PORT=9090 \
    BOT_CONFIG=/config/cce-upgrade-bot.yaml \
    DATABASE_URL=sqlite+aiosqlite:////data/cce-upgrade-bot.db \
    LOG_FORMAT=json
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin bot \
    && mkdir -p /data /config && chown bot:bot /data
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000 9090
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('OPS_PORT', '9090') + '/healthz', timeout=2)"]
ENTRYPOINT ["cce-upgrade-bot"]
CMD ["run"]
