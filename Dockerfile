FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY storage ./storage
COPY charts ./charts
RUN pip install --no-cache-dir . && useradd --create-home abacus
USER abacus
WORKDIR /home/abacus
# Socket Mode needs no inbound port. Set DATABASE_URL (Postgres for production) and the Slack tokens.
# With ABACUS_OTLP_PORT (and ABACUS_OTLP_TOKEN) set, the bot also receives Claude Code telemetry
# (OTLP/HTTP) on that port: publish it (-p 4318:4318); the health check then probes /healthz.
EXPOSE 4318
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD python -c "import os, sys, urllib.request; \
port = os.environ.get('ABACUS_OTLP_PORT'); \
sys.exit(0 if not port else 0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"
CMD ["abacus", "run"]
