"""The functional core: every decision the store adapters need, as pure functions.

A store adapter (SQLite, PostgreSQL) loads the inputs inside its
transaction, calls one of these, and writes the effects it returns; no rule
is written twice, and each is tested without a database.

- `apply`: a batch of normalized documents -> new events, shipment state,
  outbox messages, inbox outcomes.
- `actions`: events -> escalations and customer notifications by the policy.
- `rules`: the small rules of escalation transitions, severity raises and
  tracking registration.
"""
