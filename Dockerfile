# carrier-events: `serve` in the embedded mode unless CARRIER_EVENTS_AMQP_URL is set (see compose.yaml).
# The install step is .ci/install, the same script CI runs.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY .ci/install .ci/install
COPY taxonomy/ taxonomy/
COPY parsers/ parsers/
COPY service/ service/
RUN .ci/install /opt/venv \
    && useradd --system --create-home --uid 10001 carrier \
    && mkdir -p /data && chown carrier /data
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CARRIER_EVENTS_HOST=0.0.0.0 \
    CARRIER_EVENTS_PORT=8080 \
    CARRIER_EVENTS_DB=/data/carrier-events.db \
    CARRIER_EVENTS_LOG_FORMAT=json
USER carrier
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
CMD ["carrier-events", "serve"]
