FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
WORKDIR /app
# the pinned dependencies first (a layer that survives code changes), then Abacus itself
COPY requirements.txt ./
RUN grep -v '^\.$' requirements.txt > /tmp/pins.txt && pip install --no-cache-dir -r /tmp/pins.txt
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY core ./core
COPY storage ./storage
COPY charts ./charts
RUN pip install --no-cache-dir --no-deps . && useradd --create-home abacus \
    && mkdir /data && chown abacus:abacus /data
USER abacus
WORKDIR /home/abacus
# The embedded SQLite database lives on a volume, so it survives a new container (docker-compose.yml
# mounts one). For production set DATABASE_URL to Postgres; /data then stays empty.
ENV DATABASE_URL=sqlite:////data/abacus.db
VOLUME ["/data"]
# Socket Mode needs no inbound port. Set the Slack tokens and vendor keys (see .env.example).
# With ABACUS_OTLP_PORT (and ABACUS_OTLP_TOKEN) set, the bot also receives Claude Code telemetry
# (OTLP/HTTP) on that port: publish it (-p 4318:4318); the health check then probes /healthz.
EXPOSE 4318
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD python -c "import os, sys, urllib.request; \
port = os.environ.get('ABACUS_OTLP_PORT'); \
sys.exit(0 if not port else 0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"
CMD ["abacus", "run"]
