"""Typed application keys: what the app factory puts in the app and handlers read back."""
from __future__ import annotations

import asyncio

from aiohttp import web

from .config import Settings
from .group_commit import GroupCommitter
from .store import Store
from .web.guard import Guards

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
COMMITTER = web.AppKey("committer", GroupCommitter)
STORED = web.AppKey("stored", asyncio.Event)  # set when intake committed something new
ESCALATED = web.AppKey("escalated", asyncio.Event)  # set when escalations changed (wakes their publisher)
BUS = web.AppKey("bus", object)  # service.bus.Bus (embedded or RabbitMQ)
GUARDS = web.AppKey("guards", Guards)
ACTIONS = web.AppKey("actions", object)  # service.actions.engine.ActionsEngine, or None when off
WORKFLOWS = web.AppKey("workflows", tuple)  # (Policy, Templates), checked when the app is created
DELIVER = web.AppKey("deliver", object)  # injected notification delivery (tests); None: the configured channels
POLLER = web.AppKey("poller", object)  # service.polling.poller.Poller, or None when polling is off
# Injected carrier clients (tests); None: built from the environment.
CARRIER_CLIENTS = web.AppKey("carrier_clients", object)  # per-source authentication and limits for intake
