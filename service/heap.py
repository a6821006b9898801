"""The collector's settings for a long-running service process (`serve`, `worker`).

CPython's cyclic collector, at its defaults, runs a young collection every
700 net allocations — hundreds of times a second under load — and every
full collection walks every object the process holds: the imported modules,
the mapping tables, the parsers' indexes. At 1,000 webhooks/s that was about
5 % of each process's CPU and single pauses of 70 ms, most of an end-to-end
latency budget of 100 ms. Once a process has loaded what it keeps for life,
`settle()` collects, freezes the survivors (`gc.freeze`: never scanned
again) and raises the young threshold, so a collection is paid for by more
allocations. Reference counting still frees almost everything at once; the
collector only has the rare cycle to find.

Not for library use or tests: many apps in one process would each freeze
the others' objects.
"""
from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # allocations between young collections (CPython's default: 700)


def warm() -> None:
    """Load now what would otherwise load with the first document (parser plugins, mapping tables)."""
    from parsers.registry import plugins
    from taxonomy.mapping import global_rules, load_table, table_names

    plugins()
    global_rules()
    for name in table_names():
        load_table(name)


def settle() -> None:
    warm()
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
