"""The embedded store's tables (SQLite, WAL). One file holds inbox, events, state and outbox.

inbox     every accepted raw document, verbatim, before the 202; its `state`
          walks pending -> claimed (embedded mode: a normalizer holds it
          until `lease_until`; an expired lease is taken over) or queued
          (RabbitMQ mode: handed to the broker) ->
          done | quarantined (unparseable, kept with the reason) | dead
          (failed repeatedly); (digest, source) recognizes byte-identical
          redeliveries. A large body (over 256 KiB) is kept in
          inbox_bodies instead (the row's own body is empty): SQLite
          rewrites a whole row on each UPDATE, which for a row holding
          megabytes held the writer for tens of milliseconds per state change.
events    one row per event: the dedupe key and the history, clustered by
          shipment (carrier, tracking number, event_id): the normalizer reads
          and extends one shipment's history at a time, and a batch of events
          for unrelated shipments then touches one page per shipment instead
          of one per event id plus one per history index entry.
shipments the current state per (carrier, tracking number).
outbox    one row per published event, written in the same transaction as
          the event; its seq is the HTTP feed's cursor, `sent_at` is set when
          the broker confirmed it (RabbitMQ mode); a relay holds rows it is
          publishing until `lease_until`, so relays in several processes
          split the rows instead of publishing them twice.
trackings registered shipments: order and customer metadata for notifications,
          and the persisted poll schedule.
unmapped  carrier codes no mapping table knew, per table, with counts and the
          latest description: the worklist for growing the mapping tables.
escalations customer-service cases (one active per shipment and kind), with
          escalation_audit: who or what changed each, when; also the outbox of
          escalation changes (`cs-escalations`, the ticketing webhook), each
          destination following it with its own cursor in `meta`.
notifications one row per (event, template, channel, recipient): sent once,
          with its outcome (sent, failed, skipped with the reason, suppressed).
deliveries signed delivery ids (Standard Webhooks `webhook-id`) seen lately,
          so a replayed delivery is answered as a duplicate of its inbox row.
leases    named duties (a sweep, a publishing cursor) and the process holding
          each until `expires_at`: one holder among all processes.
budgets   token buckets shared by every process (a carrier API's poll rate).
subscriptions outbound webhooks: a receiver's URL, routing-key filter
          (JSON text), signing secrets, and its `cursor`: the outbox seq up to
          which every matching event was answered (the feed is the event log
          deliveries follow); the failing streak and why it was disabled.
webhook_attempts the delivery log: one row per POST to a subscriber (outcome,
          status, latency), read newest first per subscription and pruned
          by age past the newest rows of each.
webhook_redeliveries events an operator asked to send to a subscriber once
          more, outside its cursor: (subscription, outbox seq), queued once.
"""

# 3: events keyed by shipment (no separate history index); outbox without a unique event_id index
# 4: leases and budgets (duties and rate budgets shared by processes)
# 5: cross-route match: events.route and events.place, event_sources (further provenances of an event);
#    corrections: events.revision; events.basis (a derived event's latest real scan: a real scan after it
#    voids the derived event)
# 6: outbound webhooks: subscriptions, webhook_attempts, webhook_redeliveries
# 7: inbox_bodies (large documents' bodies apart from their rows)
VERSION = 7

INBOX_BODIES = """CREATE TABLE IF NOT EXISTS inbox_bodies (
    inbox_id     INTEGER PRIMARY KEY,  -- a large document's body, kept apart from its often-updated row
    body         BLOB NOT NULL
)"""


def events_table(name: str = "events") -> str:
    return f"""CREATE TABLE IF NOT EXISTS {name} (
    event_id        TEXT NOT NULL,
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    status          TEXT NOT NULL,
    exception_class TEXT,
    inbox_id        INTEGER,
    body            BLOB NOT NULL,
    route           TEXT,  -- the parser it arrived through first (cross-route match)
    place           TEXT,  -- its place as the cross-route match compares it (service.core.relay.place_key)
    revision        INTEGER NOT NULL DEFAULT 1,  -- 1 as first published, each correction adds one
    basis           TEXT,  -- derived events: the latest real scan they followed
    PRIMARY KEY (carrier, tracking_number, event_id)
) WITHOUT ROWID;"""


def outbox_table(name: str = "outbox") -> str:
    # event_id is unique through `events` (an outbox row is written only with a new event); an index
    # enforcing it again here would cost a random page write per event.
    return f"""CREATE TABLE IF NOT EXISTS {name} (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    body        BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    sent_at     TEXT,
    lease_until TEXT,
    traceparent TEXT,     -- W3C trace context of the normalize span, when tracing is on
    received_epoch REAL   -- when the event's document arrived (for the published-lag metric)
);"""


OUTBOX_INDEX = "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;"

# Columns added after version 1, added to older files when they are opened.
ADDED_COLUMNS = (("inbox", "received_epoch", "REAL"), ("trackings", "poll_failures", "INTEGER NOT NULL DEFAULT 0"),
                 ("inbox", "traceparent", "TEXT"), ("outbox", "traceparent", "TEXT"),
                 ("outbox", "received_epoch", "REAL"), ("events", "route", "TEXT"), ("events", "place", "TEXT"),
                 ("events", "revision", "INTEGER NOT NULL DEFAULT 1"), ("events", "basis", "TEXT"))

DDL_TEMPLATE = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS inbox (
    id           INTEGER PRIMARY KEY,
    source       TEXT NOT NULL,
    digest       BLOB NOT NULL,
    received_at  TEXT NOT NULL,
    channel      TEXT NOT NULL,
    content_type TEXT,
    headers      TEXT NOT NULL,
    body         BLOB NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    reason       TEXT,
    updated_at   TEXT,
    lease_until  TEXT,
    received_epoch REAL,  -- received_at to the microsecond, for lag metrics
    traceparent  TEXT,    -- W3C trace context of the intake span, when tracing is on
    UNIQUE (digest, source)
);
CREATE INDEX IF NOT EXISTS inbox_by_state ON inbox (state, id);
{inbox_bodies};

{events}
CREATE TABLE IF NOT EXISTS shipments (
    carrier            TEXT NOT NULL,
    tracking_number    TEXT NOT NULL,
    status             TEXT NOT NULL,
    exception_class    TEXT,
    last_event_id      TEXT,
    last_occurred_at   TEXT,
    estimated_delivery TEXT,
    signed_by          TEXT,
    anomalies          TEXT NOT NULL DEFAULT '[]',
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (carrier, tracking_number)
) WITHOUT ROWID;

{outbox}
CREATE TABLE IF NOT EXISTS deliveries (
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    inbox_id    INTEGER NOT NULL,
    seen_at     REAL NOT NULL,
    PRIMARY KEY (source, delivery_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_by_age ON deliveries (seen_at);

CREATE TABLE IF NOT EXISTS unmapped (
    mapping_table      TEXT NOT NULL,
    code               TEXT NOT NULL,
    count              INTEGER NOT NULL,
    sample_description TEXT NOT NULL,
    first_seen         TEXT NOT NULL,
    last_seen          TEXT NOT NULL,
    PRIMARY KEY (mapping_table, code)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS trackings (
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    order_id        TEXT,
    customer        TEXT NOT NULL DEFAULT '{}',
    locale          TEXT,
    merchant        TEXT,
    poll            INTEGER NOT NULL DEFAULT 1,
    registered_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    next_poll_at    TEXT,
    last_polled_at  TEXT,
    poll_state      TEXT NOT NULL DEFAULT 'scheduled',
    poll_failures   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (carrier, tracking_number)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trackings_due ON trackings (next_poll_at) WHERE next_poll_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS escalations (
    id              INTEGER PRIMARY KEY,
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    kind            TEXT NOT NULL,  -- the exception class, or the status when it has none
    rule            INTEGER NOT NULL,
    severity        TEXT NOT NULL,
    owner_role      TEXT NOT NULL,
    assignee        TEXT,
    state           TEXT NOT NULL,  -- waiting | open | acknowledged | resolved
    sla_hours       REAL NOT NULL,
    open_at         TEXT,           -- waiting: opens then unless resolved before
    sla_due_at      TEXT,
    breached        INTEGER NOT NULL DEFAULT 0,
    event_id        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    resolved_at     TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS escalations_one_active ON escalations (carrier, tracking_number, kind)
    WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS escalations_by_state ON escalations (state, sla_due_at);

CREATE TABLE IF NOT EXISTS escalation_audit (
    id            INTEGER PRIMARY KEY,
    escalation_id INTEGER NOT NULL,
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    detail        TEXT
);
CREATE INDEX IF NOT EXISTS escalation_audit_by_escalation ON escalation_audit (escalation_id, id);

CREATE TABLE IF NOT EXISTS notifications (
    key             TEXT PRIMARY KEY,  -- (event, template, channel, recipient): one send each, ever
    event_id        TEXT NOT NULL,
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    template        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    recipient       TEXT,
    locale          TEXT,
    state           TEXT NOT NULL,     -- pending | sent | failed | skipped | suppressed
    reason          TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    context         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notifications_by_shipment ON notifications (carrier, tracking_number, template);

"""
DDL = (DDL_TEMPLATE.replace("{events}", events_table()).replace("{outbox}", outbox_table())
       .replace("{inbox_bodies}", INBOX_BODIES) + OUTBOX_INDEX + "\n")

COORDINATION = """
CREATE TABLE IF NOT EXISTS leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at REAL NOT NULL  -- epoch seconds
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS budgets (
    name       TEXT PRIMARY KEY,
    tokens       REAL NOT NULL,
    updated_at   REAL NOT NULL,  -- epoch seconds of the last refill
    paused_until REAL NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""
# Further arrivals of a stored event through other routes (an aggregator relaying the carrier's scan): one
# row each, keyed by the arrival's own v1 event id, so its retries are duplicates.
SOURCES = """
CREATE TABLE IF NOT EXISTS event_sources (
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    alias_id        TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    route           TEXT NOT NULL,
    parser_version  TEXT NOT NULL,
    channel         TEXT NOT NULL,
    inbox_id        INTEGER,
    received_at     TEXT,
    occurred_at     TEXT NOT NULL,
    carrier_code    TEXT,
    description     TEXT,
    mapped_by       TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    PRIMARY KEY (carrier, tracking_number, alias_id)
) WITHOUT ROWID;
"""
# Outbound webhooks. The log's index serves "newest first per subscription" (the implicit rowid ends it, the
# tie-break of two rows with one (at, seq)) and finds the edge of the rows kept when pruning.
SUBSCRIPTIONS = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id                    TEXT PRIMARY KEY,
    url                   TEXT NOT NULL,
    filter                TEXT NOT NULL,  -- JSON array of routing-key patterns
    description           TEXT NOT NULL DEFAULT '',
    enabled               INTEGER NOT NULL,
    secret                TEXT NOT NULL,
    cursor                INTEGER NOT NULL DEFAULT 0,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    previous_secret       TEXT,
    previous_secret_until TEXT,
    disabled_reason       TEXT,
    disabled_at           TEXT,
    failing_since         TEXT,
    next_attempt_at       TEXT,
    last_error            TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS webhook_attempts (
    id              INTEGER PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,  -- the outbox seq, 0 for a test delivery
    event_id        TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    ok              INTEGER NOT NULL,
    status          INTEGER,
    latency_ms      REAL NOT NULL,
    error           TEXT,
    at              TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_newest ON webhook_attempts (subscription_id, at, seq);
CREATE TABLE IF NOT EXISTS webhook_redeliveries (
    subscription_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    queued_at       TEXT NOT NULL,
    PRIMARY KEY (subscription_id, seq)
) WITHOUT ROWID;
"""
LATEST = DDL + COORDINATION + SOURCES + SUBSCRIPTIONS
