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
# Socket Mode: no inbound port. Set DATABASE_URL (Postgres for production) and the Slack tokens.
CMD ["abacus", "run"]
