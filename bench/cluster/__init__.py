"""Many nodes on one machine: `serve` replicas and `worker`s on one PostgreSQL and one RabbitMQ, behind
HAProxy, loaded with signed webhooks, watched by an OMS consumer and a feed reader.

    python -m bench.cluster failover [--rate 1000] [--seconds 20] [--runs kill-serve,kill-serve-no-retries,kill-worker,rolling,twin]
    python -m bench.cluster duties   [--shipments 300] [--poll-rate 100]
    python -m bench.cluster throughput [--nodes 1,2,3] [--seconds 10]

Each serve node listens on its own loopback address (127.0.1.1, 127.0.1.2, ...: a host each, as far as
the balancer and the database can tell); HAProxy checks `/readyz` every half second. See `nodes.py`
for the processes, `sender.py` for the load, `observers.py` for the accounting.
"""
