"""Chaos runs: real faults on real processes under signed load, each ending with an accounting of every 202.

    python -m bench.chaos <run>      # one row of RELIABILITY.md
    python -m bench.chaos all        # every row, each in its own process: 5-8 minutes on 2 cores

Everything is on this machine and on loopback: PostgreSQL and RabbitMQ as they run (never stopped; a broker
outage is a TCP proxy of this package cut between the service and RabbitMQ), a fresh database and AMQP
prefix per run, HAProxy in front of the `serve` nodes (`bench.cluster`). Each run is bounded (20-40 s of
load plus the time to settle, at most 90 s) and prints one table row: accepted (202s), lost (a 202 whose
event never reached the feed, or the bus in RabbitMQ mode), duplicated (a scan published as two events, or
an event id the feed gave twice), dead (documents the store marked `dead`) and time to recover (from the
end of the last fault until every document accepted before it was visible to subscribers).
"""
