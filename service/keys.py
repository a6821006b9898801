"""Typed application keys: what the app factory puts in the app and handlers read back."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from aiohttp import web

from .actions.engine import ActionsEngine, Deliver
from .actions.policy import Policy
from .actions.templates import Templates
from .bus import Bus
from .carriers.base import CarrierClient
from .config import Settings
from .drain import Drain
from .group_commit import GroupCommitter
from .outbound.dispatcher import WebhookDispatcher
from .polling.poller import Poller
from .store.ports import Store
from .web.guard import Guards

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
COMMITTER = web.AppKey("committer", GroupCommitter)
STORED = web.AppKey("stored", asyncio.Event)  # set when intake committed something new
ESCALATED = web.AppKey("escalated", asyncio.Event)  # set when escalations changed (wakes their publisher)
BUS = web.AppKey("bus", Bus)  # embedded or RabbitMQ
GUARDS = web.AppKey("guards", Guards)
ACTIONS = web.AppKey[ActionsEngine | None]("actions")  # None when this process runs no actions stage
# (Policy, Templates), checked when the app is created; empty when the actions stage is off
WORKFLOWS = web.AppKey[tuple[Policy, Templates] | tuple[()]]("workflows")
DELIVER = web.AppKey[Deliver | None]("deliver")  # injected notification delivery (tests); None: the configured ones
POLLER = web.AppKey[Poller | None]("poller")  # None when polling is off
OUTBOUND = web.AppKey[WebhookDispatcher | None]("outbound")  # outbound webhooks; None when off in this process
# Injected carrier clients (tests); None: built from the environment.
CARRIER_CLIENTS = web.AppKey[Mapping[str, CarrierClient] | None]("carrier_clients")
DRAIN = web.AppKey("drain", Drain)  # set at SIGTERM: `/readyz` answers 503 while the node leaves rotation
# The worker's operations app (service.ops): its store, whether its broker is connected (None: no broker),
# and whether it is stopping.
BrokerState = Callable[[], bool | None]
OPS_STORE = web.AppKey("ops_store", Store)
OPS_BROKER = web.AppKey[BrokerState]("ops_broker")
OPS_STOPPING = web.AppKey[Callable[[], bool]]("ops_stopping")
