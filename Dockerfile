# carrier-events: `serve` in the embedded mode unless CARRIER_EVENTS_AMQP_URL is set (see compose.yaml).
# Two stages on the same pinned base: `build` installs requirements.lock (every package pinned, hashes
# checked) and the project into /opt/venv with .ci/install, the same script CI runs; the runtime stage
# copies only that virtualenv, so no build tools or sources beyond the installed package are shipped.
FROM python:3.11.14-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY .ci/install .ci/install
COPY taxonomy/ taxonomy/
COPY parsers/ parsers/
COPY service/ service/
RUN .ci/install /opt/venv

FROM python:3.11.14-slim-bookworm
COPY --from=build /opt/venv /opt/venv
RUN useradd --system --create-home --uid 10001 carrier \
    && mkdir -p /data && chown carrier /data
WORKDIR /home/carrier
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CARRIER_EVENTS_HOST=0.0.0.0 \
    CARRIER_EVENTS_PORT=8080 \
    CARRIER_EVENTS_DB=/data/carrier-events.db \
    CARRIER_EVENTS_NOTIFY_FILE=/data/notifications.jsonl \
    CARRIER_EVENTS_LOG_FORMAT=json
USER carrier
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
CMD ["carrier-events", "serve"]
