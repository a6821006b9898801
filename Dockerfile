# The service in embedded mode by default; set CARRIER_EVENTS_AMQP_URL for RabbitMQ mode.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY taxonomy/ taxonomy/
COPY parsers/ parsers/
COPY service/ service/
RUN pip install --no-cache-dir . && useradd --create-home carrier && mkdir -p /data && chown carrier /data
USER carrier
ENV CARRIER_EVENTS_HOST=0.0.0.0 CARRIER_EVENTS_PORT=8080 CARRIER_EVENTS_DB=/data/carrier-events.db
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
CMD ["carrier-events", "serve"]
